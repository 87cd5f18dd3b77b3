"""git through its CLI (the registry needs a handful of plumbing calls, not a library)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(RuntimeError):
    pass


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise GitError(
            f"git {' '.join(args)} failed in {root}: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout.strip()


# What git prints when a push is refused because the remote moved on (another writer was first), or
# lost the race with a push landing at the same moment (the remote's ref lock or transaction).
REJECTED = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "already exists",
    "stale info",
    "atomic push failed",
    "cannot lock ref",
    "atomic transaction failed",
)


def push_refs(root: Path, *refspecs: str) -> bool:
    """Push ``refspecs`` to ``origin`` atomically (all or none); False when the remote moved on."""
    try:
        git(root, "push", "--atomic", "-q", "origin", *refspecs)
    except GitError as err:
        if any(marker in str(err) for marker in REJECTED):
            return False
        raise
    return True


def revision(root: Path) -> dict[str, object]:
    """The commit a working tree is at and whether it has uncommitted changes."""
    commit = git(root, "rev-parse", "HEAD", check=False)
    if not commit:
        return {"commit": None, "dirty": None}
    return {
        "commit": commit,
        "dirty": bool(git(root, "status", "--porcelain", "--untracked-files=no", check=False)),
    }
