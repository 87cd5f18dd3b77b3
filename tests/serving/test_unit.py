"""Serving building blocks without a server: traffic split, model loading and its runtime, state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lakehouse_ml.model_artifact import ModelLoadError
from lakehouse_ml.serving.deployment import Deployment, read_deployment, write_deployment
from lakehouse_ml.serving.servable import load_servable
from lakehouse_ml.serving.traffic import TrafficSplit
from tests.support.model_builders import sample_features, write_model


@pytest.mark.parametrize("percent", [0, 1, 10, 33, 50, 90, 100])
def test_traffic_split_sends_exactly_the_percentage_of_every_100_requests(percent):
    split = TrafficSplit(percent)
    decisions = [split.to_canary() for _ in range(10_000)]
    assert sum(decisions) == percent * 100
    assert {sum(decisions[start : start + 100]) for start in range(0, 10_000, 100)} == {percent}


def test_traffic_split_rejects_bad_percentages():
    with pytest.raises(ValueError):
        TrafficSplit(101)


def test_compiled_folder_is_scored_by_onnxruntime_like_the_pipeline(tmp_path):
    import joblib

    folder = write_model(tmp_path / "m")
    model = load_servable("v1", folder)
    assert model.runtime == "onnxruntime"
    pipeline = joblib.load(folder / "model.joblib")
    frame = sample_features(300, seed=7)[list(model.feature_names)]
    frame.loc[:5, "customer_segment"] = "never_seen"
    got = model.predict_rows(frame.astype(object).values.tolist())
    np.testing.assert_allclose(got, pipeline.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)


def test_uncompiled_folder_is_served_by_scikit_learn_and_says_so(tmp_path, caplog):
    folder = write_model(tmp_path / "m")
    compiled = load_servable("v1", folder)
    (folder / "compiled.json").unlink()
    with caplog.at_level("WARNING", logger="lakehouse_ml.serving.servable"):
        fallback = load_servable("v1", folder)
    assert fallback.runtime == "scikit-learn"
    assert "v1 is served by scikit-learn: no compiled.json" in caplog.text
    row = sample_features(1, seed=3)[list(fallback.feature_names)].astype(object).values.tolist()
    assert fallback.predict_rows(row)[0] == pytest.approx(compiled.predict_rows(row)[0], abs=1e-12)


def test_onnx_model_not_matching_its_recorded_hash_is_refused(tmp_path):
    folder = write_model(tmp_path / "m")
    other = write_model(tmp_path / "other", seed=9)
    (folder / "model.onnx").write_bytes((other / "model.onnx").read_bytes())
    with pytest.raises(ModelLoadError, match="model.onnx: sha256 does not match compiled.json"):
        load_servable("v1", folder)


def test_feature_order_comes_from_metadata(tmp_path):
    folder = write_model(tmp_path / "m")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["feature_names"] = list(reversed(metadata["feature_names"]))
    (folder / "metadata.json").write_text(json.dumps(metadata))
    model = load_servable("v1", folder)
    frame = sample_features(20, seed=5)
    expected = load_servable("v0", write_model(tmp_path / "same")).predict_rows(
        frame[list(reversed(model.feature_names))].astype(object).values.tolist()
    )
    got = model.predict_rows(frame[list(model.feature_names)].astype(object).values.tolist())
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("damage", ["pickle", "onnx", "metadata", "threshold"])
def test_broken_model_folders_fail_to_load_with_a_reason(tmp_path, damage):
    folder = write_model(tmp_path / "m")
    if damage == "pickle":
        (folder / "compiled.json").unlink()
        (folder / "model.joblib").write_bytes(b"not a pickle")
    elif damage == "onnx":
        (folder / "model.onnx").unlink()
    elif damage == "metadata":
        (folder / "metadata.json").write_text(json.dumps({"feature_names": []}))
    else:
        (folder / "metadata.json").write_text(json.dumps({"feature_names": ["a"], "threshold": 7}))
    with pytest.raises(ModelLoadError, match="model.joblib|model.onnx|metadata.json"):
        load_servable("v1", folder)


def test_deployment_state_round_trips_and_drops_unused_models(tmp_path):
    first = Deployment().with_changes(stable="v1", models={"v1": "/m/v1"})
    canary = first.with_changes(
        canary="v2", canary_traffic_percent=10, models={**first.models, "v2": "/m/v2"}
    )
    promoted = canary.with_changes(stable="v2", canary=None)
    assert (first.generation, canary.generation, promoted.generation) == (1, 2, 3)
    assert promoted.models == {"v2": "/m/v2"} and promoted.canary_traffic_percent == 0
    write_deployment(tmp_path, canary)
    assert read_deployment(tmp_path) == canary


def test_serve_command_without_a_deployment(lakehouse_home, capsys):
    import argparse

    from lakehouse_ml.cli import serve as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args(["status"])) == 3
    assert json.loads(capsys.readouterr().out)["pid"] is None
    assert command.run(parser.parse_args(["stop"])) == 0
    assert "not running" in capsys.readouterr().out
    assert command.run(parser.parse_args(["start"])) == 1
    assert "nothing to serve" in capsys.readouterr().out
    assert command.run(parser.parse_args(["promote"])) == 1
    assert "no canary" in capsys.readouterr().out


def test_a_stale_pid_file_never_names_another_process(tmp_path):
    """The server died and its pid went to another process (pids wrap around within one CI run): status
    must not report it as the server, and ``stop`` must not signal it."""
    import subprocess
    import sys

    from lakehouse_ml.serving.deployment import PID_FILE
    from lakehouse_ml.serving.process import LocalServer

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server = LocalServer(tmp_path / "serving", port=1)
        server.serving_dir.mkdir()
        (server.serving_dir / PID_FILE).write_text(str(bystander.pid))
        assert server.pid() is None
        assert server.stop(timeout=1) is False
        assert bystander.poll() is None, "stop() signalled a process that is not the server"
        assert not (server.serving_dir / PID_FILE).exists()
    finally:
        bystander.kill()
        bystander.wait()
