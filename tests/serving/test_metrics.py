"""The server's Prometheus metrics carry the model version and role, so canary and stable compare."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from lakehouse_ml.serving.model import ChurnPredictor, Routing
from lakehouse_ml.serving.names import MODEL_NAME
from lakehouse_ml.serving.servable import load_servable
from lakehouse_ml.serving.traffic import TrafficSplit
from tests.support.model_builders import sample_features, write_model


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, {"model_name": MODEL_NAME, **labels}) or 0.0


def test_requests_are_counted_and_timed_per_version_and_role(tmp_path):
    stable = load_servable("v7", write_model(tmp_path / "v7", seed=1))
    canary = load_servable("v8", write_model(tmp_path / "v8", seed=2))
    model = ChurnPredictor(None, Routing(stable, canary, TrafficSplit(50)), spool=None)
    rows = sample_features(3).to_dict("records")
    body = {"instances": [{"customer_id": r["customer_id"], "features": r} for r in rows]}
    before = {
        v: _value("churn_predictor_predictions_total", model_version=v, role=r, outcome="scored")
        for v, r in (("v7", "stable"), ("v8", "canary"))
    }
    served = [asyncio.run(model.predict(body))["model_version"] for _ in range(4)]

    assert sorted(served) == ["v7", "v7", "v8", "v8"]
    for version, role in (("v7", "stable"), ("v8", "canary")):
        scored = _value(
            "churn_predictor_predictions_total", model_version=version, role=role, outcome="scored"
        )
        assert scored - before[version] == 2 * len(rows)
        assert _value("churn_predictor_score_seconds_count", model_version=version, role=role) >= 2
        runtime = {"v7": stable.runtime, "v8": canary.runtime}[version]
        assert _value("churn_predictor_served", model_version=version, role=role, runtime=runtime) == 1
    assert REGISTRY.get_sample_value("churn_predictor_canary_traffic_percent") == 50


def test_a_promotion_replaces_the_served_versions(tmp_path):
    old = load_servable("v1", write_model(tmp_path / "v1", seed=1))
    new = load_servable("v2", write_model(tmp_path / "v2", seed=2))
    model = ChurnPredictor(None, Routing(old, new, TrafficSplit(10)), spool=None)
    model.routing = Routing(new, None, TrafficSplit(0))

    assert _value("churn_predictor_served", model_version="v2", role="stable", runtime=new.runtime) == 1
    assert _value("churn_predictor_served", model_version="v2", role="canary", runtime=new.runtime) == 0
    assert _value("churn_predictor_served", model_version="v1", role="stable", runtime=old.runtime) == 0
    assert REGISTRY.get_sample_value("churn_predictor_canary_traffic_percent") == 0
