"""The churn model registry: git for metadata and tags, DVC for the model folder.

Layout of a version commit: ``churn-model/`` (the model folder, tracked by ``churn-model.dvc``),
``metrics.json``, ``params.json`` and ``lineage.json``. Versions are annotated tags
``churn-model@vN``; stage assignments are GTO-style tags ``churn-model#<stage>#<event>`` on the
version's commit, the highest event number per stage winning (so a rollback is a new promotion).

GTO (``gto show``, ``gto history``) reads only SemVer version tags, so each version also carries a twin
``churn-model@vN.0.0`` on the same commit, pushed in the same atomic push; every write adds the twins that
versions registered before lack. ``vN`` stays the version's name everywhere else (the registry's
contract, its clones and pods); code that lists tags matches ``VERSION_TAG``, which a twin does not.

With a git remote (``git_url``, prod), the local repository is a disposable clone: it is brought up to
the remote before reads, and every writer fetches, commits, and pushes its branch and tag in one atomic
push; when another writer was first (non-fast-forward, or the tag name taken) it starts again from the
remote's state with the next number. The model data is pushed to the DVC remote before the commit
exists, so a tag on the remote always has its data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, METADATA_FILE, MODEL_FILE, TRAINING_SET_FILE
from lakehouse_ml.registry import dvc_project
from lakehouse_ml.registry.gitcmd import git, push_refs
from lakehouse_ml.registry.lineage import artifact_sha256, file_md5, file_sha256

ARTIFACT = "churn-model"
MODEL_DIR = ARTIFACT
MODEL_FILES = (MODEL_FILE, METADATA_FILE, TRAINING_SET_FILE)
REMOTE_NAME = "storage"
STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
VERSION_TAG = re.compile(rf"^{ARTIFACT}@v(\d+)$")
STAGE_TAG = re.compile(rf"^{ARTIFACT}#([a-z][a-z0-9_-]*)#(\d+)$")
BRANCH = "main"
GATE_NOTES = "refs/notes/gate"  # the deployment gate's verdict on each version, as git notes
PUSH_ATTEMPTS = 20


class RegistryError(RuntimeError):
    pass


class RegistryHook(Protocol):
    """Told after a registration or stage change has reached the git remote (e.g. the catalog tables of
    ``registry/catalog_tables.py``); the registry stays the source of truth, so a hook must not raise."""

    def changed(self, registry: ModelRegistry) -> None: ...


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Remote:
    """Where ``dvc push`` sends data: a folder or ``s3://bucket/prefix`` (with an optional endpoint)."""

    url: str
    endpoint_url: str | None = None

    def dvc_config(self) -> dict[str, str]:
        config = {"url": self.url}
        if self.endpoint_url:
            config["endpointurl"] = self.endpoint_url
        return config


def version_number(version: int | str) -> int:
    """Accepts 3, "3", "v3", "churn-model@v3" or GTO's "churn-model@v3.0.0"."""
    text = str(version).removeprefix(f"{ARTIFACT}@")
    match = re.fullmatch(r"v?(\d+)(?:\.0\.0)?", text)
    if not match:
        raise RegistryError(f"not a model version: {version!r} (expected vN)")
    return int(match.group(1))


def version_tag(version: int | str) -> str:
    return f"{ARTIFACT}@v{version_number(version)}"


def semver_tag(version: int | str) -> str:
    """The version's SemVer twin, the tag GTO reads."""
    return f"{ARTIFACT}@v{version_number(version)}.0.0"


def _compile(staged: Path, source: Path) -> dict:
    """Compile ``model.joblib`` to ONNX, checked on the whole evaluation set (the training set when the
    folder has none); a version whose compiled model disagrees is not registered."""
    from lakehouse_ml.model_artifact.onnx_compile import ParityError, compile_model_folder

    parity_set = EVALUATION_SET_FILE if (staged / EVALUATION_SET_FILE).is_file() else TRAINING_SET_FILE
    try:
        return compile_model_folder(staged, parity_set)
    except ParityError as err:
        raise RegistryError(f"refusing to register {source}: {err}") from err


class ModelRegistry:
    def __init__(
        self,
        root: Path,
        remote: Remote,
        checkout_root: Path | None = None,
        git_url: str | None = None,
        hooks: tuple[RegistryHook, ...] = (),
    ):
        self.root = Path(root).resolve()
        self.remote = remote
        self.checkout_root = Path(checkout_root) if checkout_root else self.root.parent / "models"
        self.git_url = git_url or None
        self.hooks = hooks

    def _changed(self) -> None:
        for hook in self.hooks:
            hook.changed(self)

    def sync(self) -> None:
        """Bring the local clone up to the git remote (no-op without one): branch, tags, stages."""
        if self.git_url:
            with self._lock():
                self._sync()

    def _sync(self) -> None:
        if not (self.root / ".git").is_dir():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            git(self.root.parent, "clone", "-q", self.git_url, str(self.root))
        git(self.root, "remote", "set-url", "origin", self.git_url)
        git(
            self.root,
            "fetch",
            "-q",
            "--prune",
            "--force",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
            "+refs/notes/*:refs/notes/*",
        )
        if git(self.root, "rev-parse", "--verify", "-q", f"refs/remotes/origin/{BRANCH}", check=False):
            git(self.root, "checkout", "-q", "-B", BRANCH, f"refs/remotes/origin/{BRANCH}")
            git(self.root, "reset", "-q", "--hard", f"refs/remotes/origin/{BRANCH}")

    def _publish(self, *tags: str, refs: tuple[str, ...] = ()) -> bool:
        """Push the branch, ``tags`` and ``refs`` (all or none); False when another writer was first.
        Without a git remote there is nothing to race with."""
        if not self.git_url:
            return True
        return push_refs(self.root, f"HEAD:refs/heads/{BRANCH}", *(f"refs/tags/{tag}" for tag in tags), *refs)

    def _writes(self) -> Iterator[int]:
        """Attempts of a write, each starting from the remote's state; fails after PUSH_ATTEMPTS."""
        for attempt in range(PUSH_ATTEMPTS):
            if self.git_url:
                self._sync()
            yield attempt
        raise RegistryError(f"{self.git_url}: still behind after {PUSH_ATTEMPTS} attempts to push")

    # -- set-up -----------------------------------------------------------------------------
    def _initialized(self) -> bool:
        return (self.root / ".git").is_dir() and (self.root / ".dvc").is_dir()

    def init(self) -> None:
        """Create the git + DVC repository and point its default remote at ``self.remote``."""
        from dvc.repo import Repo

        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").is_dir():
            git(self.root, "init", "-q", "-b", "main")
        for key, value in (
            ("user.name", "lakehouse-ml registry"),
            ("user.email", "registry@lakehouse-ml.local"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
        ):
            git(self.root, "config", key, value)
        if not (self.root / ".dvc").is_dir():
            dvc_logger = logging.getLogger("dvc")
            level = dvc_logger.level
            dvc_logger.setLevel(logging.WARNING)  # its "now commit the changes" hints: we commit below
            try:
                Repo.init(str(self.root)).close()
            finally:
                dvc_logger.setLevel(level)
        self._configure_remote()
        if not git(self.root, "rev-parse", "--verify", "-q", "HEAD", check=False):
            (self.root / "README.md").write_text(
                f"# Model registry\n\n`{MODEL_DIR}/` is tracked by DVC; versions are tags `{ARTIFACT}@vN`, "
                f"stages are tags `{ARTIFACT}#<stage>#<n>`.\n"
                f"Restore a version: `git checkout {ARTIFACT}@vN && dvc pull`; `dvc repro` then reports it "
                "up to date; `dvc metrics show -a`, `dvc params diff`, `dvc plots diff` compare versions.\n"
            )
            git(self.root, "add", "-A")
            git(self.root, "commit", "-q", "-m", "Initialize model registry")
            if not self._publish():
                self._sync()  # another writer initialized the remote first: take its history

    def _configure_remote(self) -> None:
        from dvc.repo import Repo

        if self.remote.url.startswith("s3://") or "://" in self.remote.url:
            url = self.remote.url
        else:
            Path(self.remote.url).mkdir(parents=True, exist_ok=True)
            url = str(Path(self.remote.url).resolve())
        with Repo(str(self.root)) as repo, repo.config.edit("repo") as config:
            config["core"]["remote"] = REMOTE_NAME
            config["core"]["analytics"] = False
            config["core"]["autostage"] = True
            config["remote"][REMOTE_NAME] = Remote(url, self.remote.endpoint_url).dvc_config()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.parent / f".{self.root.name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- queries ----------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self._initialized():
            return []
        numbers = [
            int(m.group(1))
            for t in git(self.root, "tag", "-l", f"{ARTIFACT}@v*").split()
            if (m := VERSION_TAG.match(t))
        ]
        return [f"v{n}" for n in sorted(numbers)]

    def latest_version(self) -> str | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def _stage_tags(self) -> list[tuple[str, int, str]]:
        if not self._initialized():
            return []
        tags = git(self.root, "tag", "-l", f"{ARTIFACT}#*").split()
        return [(m.group(1), int(m.group(2)), t) for t in tags if (m := STAGE_TAG.match(t))]

    def stage_version(self, stage: str) -> str | None:
        assigned = [(event, tag) for s, event, tag in self._stage_tags() if s == stage]
        if not assigned:
            return None
        commit = git(self.root, "rev-list", "-n", "1", max(assigned)[1])
        on_commit = [t for t in git(self.root, "tag", "--points-at", commit).split() if VERSION_TAG.match(t)]
        if not on_commit:
            raise RegistryError(f"stage tag {max(assigned)[1]} points at a commit without a version tag")
        return f"v{version_number(on_commit[0])}"

    def production_version(self) -> str | None:
        return self.stage_version("production")

    def _show(self, version: int | str, path: str) -> str:
        tag = version_tag(version)
        if tag not in {version_tag(v) for v in self.versions()}:
            raise RegistryError(f"unknown model version {version!r}; registered: {self.versions() or 'none'}")
        return git(self.root, "show", f"{tag}:{path}")

    def metrics(self, version: int | str) -> dict:
        return json.loads(self._show(version, "metrics.json"))

    def params(self, version: int | str) -> dict:
        return json.loads(self._show(version, "params.json"))

    def lineage(self, version: int | str) -> dict:
        return json.loads(self._show(version, "lineage.json"))

    def model_sha256(self, version: int | str) -> str:
        """sha256 of the version's ``model.joblib`` as registered (what the model server verifies)."""
        return self.lineage(version)["model_sha256"]

    # -- changes ----------------------------------------------------------------------------
    def register(self, model_dir: Path, lineage: dict) -> str:
        """Compile the model for serving (refusing one whose compiled form disagrees), add the model
        folder with DVC, push it, commit metrics/params/lineage and tag the version."""
        model_dir = Path(model_dir)
        missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
        if missing:
            raise RegistryError(f"model folder {model_dir} lacks {missing}")
        with tempfile.TemporaryDirectory(prefix="register-") as staging:
            staged = Path(staging) / MODEL_DIR
            shutil.copytree(model_dir, staged)
            compiled = _compile(staged, model_dir)
            return self._register(staged, lineage, compiled)

    def _register(self, model_dir: Path, lineage: dict, compiled: dict) -> str:

        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        with self._lock():
            for _ in self._writes():
                self.init()
                number = self._commit_version(model_dir, metadata, lineage, compiled)
                twins = self._add_semver_twins()
                if self._publish(version_tag(number), *twins):
                    break
                git(self.root, "tag", "-d", version_tag(number), *twins)
        self._changed()
        return f"v{number}"

    def _commit_version(self, model_dir: Path, metadata: dict, lineage: dict, compiled: dict) -> int:
        """Commit and tag the next version locally, its data pushed to the DVC remote first."""
        from dvc.repo import Repo

        latest = self.latest_version()
        number = version_number(latest) + 1 if latest else 1
        tracked = self.root / MODEL_DIR
        try:
            shutil.rmtree(tracked, ignore_errors=True)
            shutil.copytree(model_dir, tracked)
            self._write_json("metrics.json", metadata["metrics"])
            self._write_json("params.json", {k: metadata[k] for k in ("model_family", "params", "threshold")})
            with_stage = dvc_project.write_project(self.root, tracked)
            with Repo(str(self.root)) as repo:
                repo.add(str(tracked))
                if with_stage:
                    dvc_project.commit_stage(repo, self.root)
                repo.push(remote=REMOTE_NAME)
            self._write_json(
                "lineage.json",
                {
                    **lineage,
                    "version": f"v{number}",
                    "feature_service": metadata.get("feature_service") or lineage.get("feature_service"),
                    "training_set_md5": file_md5(tracked / TRAINING_SET_FILE),
                    "model_md5": file_md5(tracked / MODEL_FILE),
                    "model_sha256": file_sha256(tracked / MODEL_FILE),
                    "artifact_sha256": artifact_sha256(tracked),
                    "train_window": metadata["train_window"],
                    "eval_window": metadata["eval_window"],
                    "training_rows": metadata["training_rows"],
                    "serving": compiled,
                },
            )
            git(self.root, "add", "-A")
            auc = metadata["metrics"]["roc_auc"]
            git(self.root, "commit", "-q", "-m", f"Train churn model v{number} - AUC {auc:.2f}")
            git(
                self.root,
                "tag",
                "-a",
                f"{ARTIFACT}@v{number}",
                "-m",
                f"Register {ARTIFACT} v{number} (ROC AUC {auc:.4f})",
            )
        except Exception:
            git(self.root, "reset", "-q", "--hard", "HEAD", check=False)
            raise
        return number

    def serving(self, version: int | str) -> dict:
        """How the version is served: ``runtime``, and for ONNX the model's sha256 and parity figures."""
        return self.lineage(version)["serving"]

    def _write_json(self, name: str, payload: dict) -> None:
        (self.root / name).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def record_gate(self, version: int | str, passed: bool, reason: str) -> None:
        """Record the deployment gate's verdict on ``version``: a git note on its commit under
        ``refs/notes/gate``, pushed with the branch, so every clone (every pod) reads the same verdict. A
        newer verdict on the same version replaces the older one."""
        tag = version_tag(version)
        note = json.dumps({"passed": bool(passed), "reason": reason}, sort_keys=True)
        with self._lock():
            for _ in self._writes():
                if tag not in {version_tag(v) for v in self.versions()}:
                    raise RegistryError(
                        f"unknown model version {version!r}; registered: {self.versions() or 'none'}"
                    )
                git(self.root, "notes", f"--ref={GATE_NOTES}", "add", "-f", "-m", note, f"{tag}^{{}}")
                if self._publish(refs=(f"{GATE_NOTES}:{GATE_NOTES}",)):
                    return

    def gate_verdict(self, version: int | str) -> dict | None:
        """The gate's recorded verdict on ``version`` (``passed``, ``reason``), or None if never gated."""
        tag = f"{version_tag(version)}^{{}}"
        note = git(self.root, "notes", f"--ref={GATE_NOTES}", "show", tag, check=False)
        return json.loads(note) if note else None

    def promote(
        self, version: int | str, stage: str = "production", reason: str = "", trigger: str = ""
    ) -> str:
        """Assign ``stage`` to ``version`` (GTO-style tag; its message records ``reason`` and ``trigger``,
        what started the change); a no-op when it already holds it."""
        if not STAGE_PATTERN.match(stage):
            raise RegistryError(f"invalid stage name {stage!r}")
        tag = version_tag(version)
        message = f"Promote {tag} to {stage}\n\nReason: {_one_line(reason)}\nTrigger: {_one_line(trigger)}"
        with self._lock():
            for _ in self._writes():
                if tag not in {version_tag(v) for v in self.versions()}:
                    raise RegistryError(
                        f"unknown model version {version!r}; registered: {self.versions() or 'none'}"
                    )
                if self.stage_version(stage) == f"v{version_number(version)}":
                    return f"v{version_number(version)}"
                event = max((e for _, e, _ in self._stage_tags()), default=0) + 1
                stage_tag = f"{ARTIFACT}#{stage}#{event}"
                git(self.root, "tag", "-a", stage_tag, f"{tag}^{{}}", "-m", message)
                twins = self._add_semver_twins()
                if self._publish(stage_tag, *twins):
                    break
                git(self.root, "tag", "-d", stage_tag, *twins)
        self._changed()
        return f"v{version_number(version)}"

    def _add_semver_twins(self) -> list[str]:
        """Tag every version that lacks one with its SemVer twin (locally); the new tags' names."""
        existing = set(git(self.root, "tag", "-l", f"{ARTIFACT}@v*.0.0").split())
        added = []
        for version in self.versions():
            twin = semver_tag(version)
            if twin not in existing:
                git(self.root, "tag", "-a", twin, f"{version_tag(version)}^{{}}", "-m", f"{version} for GTO")
                added.append(twin)
        return added

    # -- data -------------------------------------------------------------------------------
    def checkout(self, version: int | str) -> Path:
        """The version's model folder under ``checkout_root/vN``, every file checked against its DVC hash."""
        import yaml

        number = version_number(version)
        outs = yaml.safe_load(self._show(number, f"{MODEL_DIR}.dvc"))["outs"][0]
        with self._lock():
            return self._checkout(number, outs["md5"])

    def _checkout(self, number: int, dir_md5: str) -> Path:
        from dvc.repo import Repo

        dest = self.checkout_root / f"v{number}"
        with Repo(str(self.root)) as repo:
            odb = repo.cache.local

            def fetch() -> None:
                repo.fetch(targets=[MODEL_DIR], revs=[version_tag(number)], remote=REMOTE_NAME)

            manifest = Path(odb.oid_to_path(dir_md5))
            if not manifest.exists():
                fetch()
            entries = json.loads(manifest.read_text())
            if dest.is_dir() and all(
                (dest / e["relpath"]).is_file() and file_md5(dest / e["relpath"]) == e["md5"] for e in entries
            ):
                return dest
            if not all(Path(odb.oid_to_path(e["md5"])).exists() for e in entries):
                fetch()
            self.checkout_root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".v{number}-", dir=self.checkout_root))
            for entry in entries:
                target = staging / entry["relpath"]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(odb.oid_to_path(entry["md5"]), target)
                if file_md5(target) != entry["md5"]:
                    shutil.rmtree(staging)
                    raise RegistryError(
                        f"{MODEL_DIR}/{entry['relpath']} of v{number} does not match its DVC hash"
                    )
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
        return dest
