"""Rebuild a registered model version from the registry alone and compare bytes (``lakehouse-ml reproduce``).

Inputs come from the registry only: the version's tag and lineage (the code revision, the sha256 of every
registered file), and its DVC data (the model folder with the exact training and evaluation sets). The
code revision is exported with ``git archive`` into the scratch folder and ``lakehouse_ml.registry.rebuild``
from that revision retrains in a fresh process. Every file the version registered (``artifact_sha256`` in
its lineage, so files added at registration are listed too) is then compared with the rebuilt one.
Whatever a version lacks to be rebuilt (old lineage, uncommitted code, a revision not in git history,
data failing its DVC hash) is reported as missing instead.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse_ml.model_artifact import MODEL_FILE
from lakehouse_ml.registry.lineage import file_sha256
from lakehouse_ml.registry.model_registry import ModelRegistry, RegistryError, version_tag

REBUILD_MODULE = "lakehouse_ml.registry.rebuild"


@dataclass(frozen=True)
class FileCheck:
    name: str
    lineage_sha256: str
    registered_sha256: str
    rebuilt_sha256: str | None

    @property
    def status(self) -> str:
        if self.registered_sha256 != self.lineage_sha256:
            return "TAMPERED (registered copy differs from its lineage hash)"
        if self.rebuilt_sha256 is None:
            return "not rebuilt (made after training)"
        return "match" if self.rebuilt_sha256 == self.registered_sha256 else "DIFFERS"


@dataclass
class Reproduction:
    version: str
    code: str
    missing: list[str] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        by_name = {check.name: check.status for check in self.files}
        compared = [status for status in by_name.values() if not status.startswith("not rebuilt")]
        return not self.missing and by_name.get(MODEL_FILE) == "match" and set(compared) == {"match"}

    @property
    def exit_code(self) -> int:
        return 2 if self.missing else (0 if self.reproduced else 1)

    def describe(self) -> str:
        if self.missing:
            lines = [f"churn-model {self.version}: cannot be rebuilt; missing:"]
            return "\n".join(lines + [f"  - {item}" for item in self.missing])
        verdict = "reproduced byte for byte" if self.reproduced else "NOT reproduced"
        lines = [f"churn-model {self.version}: {verdict} (code: {self.code})"]
        width = max(len(check.name) for check in self.files)
        for check in self.files:
            lines.append(f"  {check.name:<{width}}  {check.registered_sha256[:16]}  {check.status}")
        return "\n".join(lines)


def export_revision(project: Path, revision: dict | None, dest: Path) -> str | None:
    """Write the ``lakehouse_ml`` package at the lineage's code revision to ``dest``; the problem, if any."""
    commit = (revision or {}).get("commit")
    if not commit:
        return "the lineage names no code revision (project_revision.commit)"
    if revision.get("dirty"):
        return (
            f"code revision {commit} had uncommitted changes when this version was trained, so no revision "
            "holds its exact code (--code installed rebuilds with the installed code instead)"
        )
    if not _has_commit(project, commit):
        return f"code revision {commit} is not in the git history of {project} (fetch it first)"
    extract_revision(project, commit, "lakehouse_ml", dest)
    if not (dest / Path(*REBUILD_MODULE.split("."))).with_suffix(".py").is_file():
        return f"code revision {commit} predates `lakehouse-ml reproduce` (it has no {REBUILD_MODULE})"
    return None


def extract_revision(project: Path, commit: str, path: str, dest: Path) -> None:
    """``path`` (a folder of the project) as it is at ``commit``, written under ``dest``."""
    archive = subprocess.run(
        ["git", "-C", str(project), "archive", commit, path], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def _has_commit(project: Path, commit: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(project), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
        ).returncode
        == 0
    )


def _rebuild(code_dir: Path | None, registered: Path, out: Path, cwd: Path) -> str | None:
    env = dict(os.environ)
    if code_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_dir), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", REBUILD_MODULE, str(registered), str(out)],
        cwd=code_dir or cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return f"the rebuild failed: {last[0]}"
    return None


def reproduce(
    registry: ModelRegistry, version: str, scratch: Path, project: Path, installed_code: bool = False
) -> Reproduction:
    """Rebuild ``version`` in ``scratch`` (emptied first) and compare it with what the registry holds."""
    lineage = registry.lineage(version)
    tag = version_tag(version)
    revision = lineage.get("project_revision") or {}
    code = "installed" if installed_code else f"revision {revision.get('commit')}"
    result = Reproduction(tag.split("@", 1)[1], code)
    expected = lineage.get("artifact_sha256")
    if not expected:
        result.missing.append(
            "the lineage has no artifact_sha256 (registered before versions could be rebuilt)"
        )
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    code_dir = None if installed_code else scratch / "code"
    if code_dir is not None:
        problem = export_revision(project, revision, code_dir)
        if problem:
            result.missing.append(problem)
    try:
        registered = registry.checkout(version)
    except RegistryError as err:
        result.missing.append(f"the registered model folder: {err}")
    if result.missing:
        return result
    rebuilt = scratch / "rebuilt"
    problem = _rebuild(code_dir, registered, rebuilt, scratch)
    if problem:
        result.missing.append(problem)
        return result
    for name, sha256 in sorted(expected.items()):
        again = rebuilt / name
        result.files.append(
            FileCheck(
                name,
                sha256,
                file_sha256(registered / name),
                file_sha256(again) if again.is_file() else None,
            )
        )
    return result
