"""Done-when of issue 11: models trained by the training stage on simulator data are registered
(compiled to ONNX, parity-checked), served, and answer with scikit-learn's probabilities."""

from __future__ import annotations

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest

from lakehouse_ml.registry import ModelRegistry
from lakehouse_ml.registry.model_registry import Remote
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.process import LocalServer
from lakehouse_ml.training.models import FAMILIES
from tests.support.model_builders import write_feature_repo, write_simulated_gold, write_trained_models
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
SCORED = 200


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple:
    home = tmp_path_factory.mktemp("simulated")
    gold = write_simulated_gold(home, customers=800, days=300, seed=11)
    return home, write_trained_models(home, gold, list(FAMILIES))


def test_trained_families_are_served_with_scikit_learn_probabilities(trained):
    home, folders = trained
    registry = ModelRegistry(home / "registry", Remote(str(home / "dvc-remote")))
    versions = {
        family: registry.register(folder, {"kfp_run_id": family}) for family, folder in folders.items()
    }
    for family, version in versions.items():
        serving = registry.serving(version)
        assert serving["runtime"] == "onnxruntime", (family, serving)
        evaluation_rows = len(pd.read_parquet(folders[family] / "evaluation_set.parquet"))
        assert serving["parity"]["rows"] == evaluation_rows
        assert serving["parity"]["max_abs_diff"] <= 1e-6 and serving["parity"]["label_mismatches"] == 0

    latest = pd.read_parquet(folders[FAMILIES[0]] / "evaluation_set.parquet").drop_duplicates(
        "customer_id", keep="last"
    )
    latest = latest.head(SCORED).reset_index(drop=True)
    repo = write_feature_repo(home / "feast", frame=latest)
    stable, canary = (versions[f] for f in FAMILIES)
    checkouts = {v: registry.checkout(v) for v in (stable, canary)}
    server = LocalServer(home / "serving", free_port(), str(repo))
    server.apply(
        Deployment().with_changes(
            stable=stable,
            canary=canary,
            canary_traffic_percent=50,
            models={v: str(p) for v, p in checkouts.items()},
        )
    )
    server.start()
    try:
        with httpx.Client(base_url=server.endpoint, timeout=60) as client:
            metadata = client.get("/v2/models/churn-predictor").json()
            assert metadata["versions"] == [stable, canary] and metadata["platform"] == "onnxruntime_onnx"
            for version, folder in checkouts.items():
                answer = server.predict(latest["customer_id"].tolist(), version=version)
                served = np.array([p["churn_probability"] for p in answer["predictions"]], dtype=float)
                pipeline = joblib.load(folder / "model.joblib")
                names = list(pipeline.feature_names_in_)
                expected = pipeline.predict_proba(latest[names])[:, 1]
                assert np.max(np.abs(served - expected)) <= 1e-6, version
                assert [p["churn"] for p in answer["predictions"]] == (expected >= 0.5).astype(int).tolist()
    finally:
        server.stop()
