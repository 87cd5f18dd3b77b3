"""Concurrent runs: each deployment reads its own version's gate, registrations never share a number,
and the stages that must not overlap run in their own Dagster concurrency pools."""

from __future__ import annotations

import multiprocessing
import subprocess
from concurrent.futures import ProcessPoolExecutor

import pytest

from lakehouse_ml.assets.serving import gate_refusal
from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote
from tests.support.model_builders import write_model


def test_a_deployment_reads_the_gate_of_its_own_version_not_the_latest(tmp_path):
    registry = ModelRegistry(tmp_path / "registry", Remote(str(tmp_path / "dvc-remote")))
    model = write_model(tmp_path / "trained")
    for _ in range(3):
        registry.register(model, {"kfp_run_id": "run"})
    registry.record_gate("v1", passed=True, reason="gate")
    registry.record_gate("v2", passed=False, reason="below the floor")  # a concurrent run, later
    assert gate_refusal(registry, "v1") is None
    assert gate_refusal(registry, "v2") == "v2 failed model_beats_champion: below the floor"
    assert "no recorded evaluation for v3" in gate_refusal(registry, "v3")
    registry.record_gate("v1", passed=False, reason="re-evaluated")  # the newest verdict wins
    assert "v1 failed" in gate_refusal(registry, "v1")


def _register(args: tuple[str, str, int]) -> str:
    root, remote, seed = args
    from pathlib import Path

    model = write_model(Path(root).parent / f"trained-{seed}", seed=seed)
    return ModelRegistry(Path(root), Remote(remote)).register(model, {"kfp_run_id": f"run-{seed}"})


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_versions_and_every_tag_is_pullable(tmp_path):
    root, remote = tmp_path / "registry", tmp_path / "dvc-remote"
    # an executor, not a Pool: a worker that dies fails the test (BrokenProcessPool) where Pool.map hangs
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        versions = list(pool.map(_register, [(str(root), str(remote), seed) for seed in (1, 2, 3)]))
    assert sorted(versions) == ["v1", "v2", "v3"]
    registry = ModelRegistry(root, Remote(str(remote)))
    assert registry.versions() == ["v1", "v2", "v3"]
    tags = subprocess.run(["git", "-C", str(root), "tag", "-l"], capture_output=True, text=True).stdout
    assert sorted(tags.split()) == [f"churn-model@v{n}{twin}" for n in (1, 2, 3) for twin in ("", ".0.0")]
    hashes = set()
    for version in versions:  # each tag's model restores from the DVC remote alone
        folder = registry.checkout(version)
        hashes.add(registry.model_sha256(version))
        assert (folder / "model.joblib").is_file()
    assert len(hashes) == 3


def test_stages_that_must_not_overlap_are_in_pools():
    from lakehouse_ml.definitions import defs
    from lakehouse_ml.orchestration.pools import DEPLOYMENT_POOL, REGISTRY_POOL, WAREHOUSE_POOL

    graph = defs.resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.get_all_asset_keys()}
    assert pools["model_version"] == {REGISTRY_POOL}
    assert pools["churn_predictor_deployment"] == {DEPLOYMENT_POOL}
    assert pools["fct_customer_features"] == {WAREHOUSE_POOL}
    assert pools["raw_orders"] == {WAREHOUSE_POOL}
