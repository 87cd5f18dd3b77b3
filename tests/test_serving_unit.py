"""Serving building blocks without a server: traffic split, model loading and its fast path, state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lakehouse_ml.serving.artifact import ModelLoadError, load_servable
from lakehouse_ml.serving.deployment import Deployment, read_deployment, write_deployment
from lakehouse_ml.serving.fastpath import compile_rows
from lakehouse_ml.serving.sample import sample_features, write_model
from lakehouse_ml.serving.traffic import TrafficSplit


@pytest.mark.parametrize("percent", [0, 1, 10, 33, 50, 90, 100])
def test_traffic_split_sends_exactly_the_percentage_of_every_100_requests(percent):
    split = TrafficSplit(percent)
    decisions = [split.to_canary() for _ in range(10_000)]
    assert sum(decisions) == percent * 100
    assert {sum(decisions[start : start + 100]) for start in range(0, 10_000, 100)} == {percent}


def test_traffic_split_rejects_bad_percentages():
    with pytest.raises(ValueError):
        TrafficSplit(101)


def test_fast_path_agrees_with_the_pipeline_including_unseen_categories(tmp_path):
    import joblib

    folder = write_model(tmp_path / "m")
    metadata = json.loads((folder / "metadata.json").read_text())
    names = metadata["feature_names"]
    pipeline = joblib.load(folder / "model.joblib")
    frame = sample_features(300, seed=7)[names]
    frame.loc[:5, "customer_segment"] = "never_seen"
    rows = frame.astype(object).values.tolist()
    fast = compile_rows(pipeline, names)
    assert fast is not None
    np.testing.assert_allclose(fast(rows), pipeline.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)


def test_unknown_steps_fall_back_to_the_pipeline(tmp_path):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = sample_features(100)[["lifetime_value", "tenure_days"]]
    pipeline = Pipeline([("f", FunctionTransformer(np.log1p)), ("m", RandomForestClassifier(n_estimators=3))])
    pipeline.fit(frame, (frame["tenure_days"] > 400).astype(int))
    assert compile_rows(pipeline, list(frame.columns)) is None


def test_load_servable_uses_the_fast_path_only_when_verified(tmp_path):
    folder = write_model(tmp_path / "m")
    model = load_servable("v1", folder)
    assert model.fast_path and model.feature_names[0] == "lifetime_value"
    (folder / "training_set.parquet").unlink()  # nothing to verify against: use the pipeline itself
    slow = load_servable("v1", folder)
    assert not slow.fast_path
    row = sample_features(1, seed=3)[list(slow.feature_names)].astype(object).values.tolist()
    assert slow.predict_rows(row)[0] == pytest.approx(model.predict_rows(row)[0], abs=1e-12)


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


@pytest.mark.parametrize("damage", ["model", "metadata", "threshold"])
def test_broken_model_folders_fail_to_load_with_a_reason(tmp_path, damage):
    folder = write_model(tmp_path / "m")
    if damage == "model":
        (folder / "model.joblib").write_bytes(b"not a pickle")
    elif damage == "metadata":
        (folder / "metadata.json").write_text(json.dumps({"feature_names": []}))
    else:
        (folder / "metadata.json").write_text(json.dumps({"feature_names": ["a"], "threshold": 7}))
    with pytest.raises(ModelLoadError, match="model.joblib|metadata.json"):
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

    from lakehouse_ml.serving import command

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


@pytest.mark.parametrize("family", ["logistic_regression", "hist_gradient_boosting"])
def test_fast_path_covers_the_training_stage_models(family):
    from lakehouse_ml.training.models import build_model

    names = list(sample_features(1).columns.drop("customer_id"))
    frame = sample_features(400, seed=11)
    pipeline = build_model(family, {}, names, ["customer_segment"], seed=0)
    pipeline.fit(frame[names], (frame["days_since_last_order"] > 90).astype(int))
    test = sample_features(200, seed=12)[names]
    test.loc[:3, "customer_segment"] = "never_seen"
    fast = compile_rows(pipeline, names)
    assert fast is not None
    np.testing.assert_allclose(
        fast(test.astype(object).values.tolist()), pipeline.predict_proba(test)[:, 1], rtol=0, atol=1e-9
    )
