"""The registry with a git remote (prod): every pod has its own clone of a bare repository and the
same DVC remote. Writers fetch, commit and push atomically, retrying when another writer was first;
no version number is handed out twice, no tag is lost, no pushed tag lacks its data."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.gitcmd import GitError
from lakehouse_ml.registry.model_registry import Remote
from tests.support.registry_builders import git, make_model


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def shared(tmp_path: Path) -> dict:
    """A bare git remote and a DVC remote folder, shared by every 'pod'."""
    bare = tmp_path / "registry.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare", "-b", "main")
    return {"git_url": str(bare), "dvc": str(tmp_path / "dvc-remote"), "root": tmp_path}


def pod(shared: dict, name: str) -> ModelRegistry:
    """A registry as a pod opens it: an empty scratch directory, synced with the remote."""
    registry = ModelRegistry(
        shared["root"] / name / "registry", Remote(shared["dvc"]), git_url=shared["git_url"]
    )
    registry.sync()
    return registry


def remote_tags(shared: dict) -> list[str]:
    return sorted(git(Path(shared["git_url"]), "tag", "-l").split())


def test_a_version_registered_in_one_pod_is_seen_and_checked_out_in_another(shared, model):
    assert pod(shared, "train").register(model, {"run": "r1"}) == "v1"
    serving = pod(shared, "serve")
    assert serving.versions() == ["v1"]
    assert (
        serving.checkout("v1").joinpath("model.joblib").read_bytes() == (model / "model.joblib").read_bytes()
    )
    serving.promote("v1", "production")
    assert pod(shared, "monitor").production_version() == "v1"
    assert remote_tags(shared) == ["churn-model#production#1", "churn-model@v1", "churn-model@v1.0.0"]


def test_a_stale_writer_is_rejected_and_retries_with_the_next_number(shared, model, monkeypatch):
    first, second = pod(shared, "a"), pod(shared, "b")
    assert first.register(model, {"run": "a"}) == "v1"
    syncs = []
    real_sync = second._sync
    # b's first attempt starts from its stale clone (v1 unknown to it), as if a's push landed meanwhile
    monkeypatch.setattr(second, "_sync", lambda: syncs.append(1) if len(syncs) == 0 else real_sync())
    assert second.register(model, {"run": "b"}) == "v2"
    assert len(syncs) == 1  # it did start stale, and went round again
    assert remote_tags(shared) == [f"churn-model@v{n}{twin}" for n in (1, 2) for twin in ("", ".0.0")]
    assert pod(shared, "c").lineage("v2")["run"] == "b"


def test_concurrent_registrations_get_distinct_versions_and_keep_every_tag(shared, model):
    results, errors = {}, []

    def writer(name: str) -> None:
        try:
            registry = pod(shared, name)
            results[name] = [registry.register(model, {"run": f"{name}-{i}"}) for i in range(2)]
        except Exception as err:  # reported below with the thread's name
            errors.append((name, err))

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, [f"{name}: {err}" for name, err in errors]
    registered = sorted(v for versions in results.values() for v in versions)
    assert registered == ["v1", "v2", "v3", "v4"]
    assert remote_tags(shared) == [f"churn-model@v{n}{twin}" for n in range(1, 5) for twin in ("", ".0.0")]
    reader = pod(shared, "reader")
    runs = {reader.lineage(v)["run"] for v in registered}
    assert runs == {"a-0", "a-1", "b-0", "b-1"}
    assert all(reader.lineage(v)["version"] == v for v in registered)


def test_a_failed_data_push_leaves_no_tag_on_the_remote(shared, model, monkeypatch):
    from dvc.repo import Repo

    registry = pod(shared, "train")

    def no_storage(self, *args, **kwargs):
        raise OSError("DVC remote unreachable")

    monkeypatch.setattr(Repo, "push", no_storage)
    with pytest.raises(OSError, match="unreachable"):
        registry.register(model, {"run": "r1"})
    assert [t for t in remote_tags(shared) if "@" in t] == []
    monkeypatch.undo()
    assert registry.register(model, {"run": "r2"}) == "v1"


def test_an_unreachable_git_remote_is_an_error_naming_it(tmp_path, model):
    registry = ModelRegistry(
        tmp_path / "registry", Remote(str(tmp_path / "dvc")), git_url=str(tmp_path / "nope")
    )
    with pytest.raises(GitError, match="nope"):
        registry.register(model, {"run": "r1"})


def test_a_gate_verdict_recorded_in_one_pod_is_read_in_another(shared, model):
    gate = pod(shared, "gate")
    gate.register(model, {"kfp_run_id": "run-1"})
    gate.record_gate("v1", passed=False, reason="below the floor")
    deploy = pod(shared, "deploy")
    assert deploy.gate_verdict("v1") == {"passed": False, "reason": "below the floor"}
    gate.record_gate("v1", passed=True, reason="re-evaluated")  # the remote's notes moved on
    deploy.record_gate("v1", passed=True, reason="again")  # a stale clone's write retries, not fails
    assert pod(shared, "reader").gate_verdict("v1") == {"passed": True, "reason": "again"}
