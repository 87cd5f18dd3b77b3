"""Batch scoring in process (issue 23): the same scores as the model server on the same rows, the server's
canary split, and the predictions in the prediction log with its columns."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from lakehouse_ml.predictions.batch import append_new_scores, canary_mask, score_batches, score_customers
from lakehouse_ml.predictions.catalog import ensure_predictions_table, local_catalog
from lakehouse_ml.predictions.table import COLUMNS, SCORING_DAY, id_bytes, scored_arrow
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.process import LocalServer
from lakehouse_ml.serving.servable import load_servable
from lakehouse_ml.serving.traffic import TrafficSplit
from tests.support.model_builders import sample_features, write_feature_repo, write_model
from tests.support.ports import free_port

CUSTOMERS = 300


@pytest.mark.slow
def test_in_process_scores_equal_the_servers_on_the_same_rows(tmp_path):
    frame = sample_features(CUSTOMERS, seed=3)
    folders = {v: write_model(tmp_path / "models" / v, seed=seed) for v, seed in (("v1", 1), ("v2", 2))}
    repo = write_feature_repo(tmp_path / "feast", frame=frame)
    server = LocalServer(tmp_path / "serving", free_port(), str(repo))
    server.apply(
        Deployment().with_changes(
            stable="v1",
            canary="v2",
            canary_traffic_percent=30,
            models={v: str(p) for v, p in folders.items()},
        )
    )
    server.start()
    try:
        ids = frame["customer_id"].tolist()
        for version, folder in folders.items():
            model = load_servable(version, folder)
            assert model.runtime == "onnxruntime"
            answer = server.predict(ids, version=version)["predictions"]
            served = np.array([p["churn_probability"] for p in answer])
            in_process = score_batches(model, frame, batch_size=64)
            np.testing.assert_array_equal(in_process, served)
            assert (in_process >= model.threshold).astype(int).tolist() == [p["churn"] for p in answer]
    finally:
        server.stop()


def test_canary_share_follows_the_servers_traffic_split():
    for percent in (0, 10, 33, 100):
        split = TrafficSplit(percent)
        assert canary_mask(250, percent).tolist() == [split.to_canary() for _ in range(250)]
    with pytest.raises(ValueError, match="canary_traffic_percent"):
        canary_mask(5, 101)


def test_batch_predictions_land_in_the_log_with_its_columns(tmp_path):
    frame = sample_features(CUSTOMERS, seed=4)
    stable = load_servable("v1", write_model(tmp_path / "v1", seed=1))
    canary = load_servable("v2", write_model(tmp_path / "v2", seed=2))
    scored_at = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    columns, summary = score_customers(frame, stable, canary, 10, scored_at, scored_at.date(), batch_size=50)
    assert summary.versions == {"v1": 270, "v2": 30} and summary.scored == CUSTOMERS
    assert summary.batches == 6 + 1

    table = ensure_predictions_table(local_catalog(tmp_path / "iceberg"))
    table.append(scored_arrow(columns, table.schema().as_arrow()))
    stored = table.refresh().scan().to_arrow()
    assert stored.column_names == [*COLUMNS, SCORING_DAY]
    assert len(set(id_bytes(stored.column("prediction_id")))) == CUSTOMERS
    by_customer = stored.to_pandas().set_index("customer_id").loc[frame["customer_id"]]
    mask = canary_mask(CUSTOMERS, 10)
    expected = np.where(mask, score_batches(canary, frame), score_batches(stable, frame))
    np.testing.assert_allclose(by_customer["confidence"], expected, rtol=6e-8)
    assert by_customer["prediction"].tolist() == (expected >= 0.5).tolist()
    assert by_customer["model_version"].tolist() == np.where(mask, "v2", "v1").tolist()
    assert set(by_customer["prediction_timestamp"]) == {scored_at}
    assert set(by_customer["scoring_day"]) == {scored_at.date()}
    assert by_customer["actual"].isna().all()


def test_scoring_a_day_again_appends_only_the_customers_not_yet_scored_that_day(tmp_path):
    frame = sample_features(CUSTOMERS, seed=5)
    model = load_servable("v1", write_model(tmp_path / "v1", seed=1))
    table = ensure_predictions_table(local_catalog(tmp_path / "iceberg"))
    day = date(2026, 3, 2)

    def score(rows, at_hour: int, scoring_day=day):
        scored_at = datetime(2026, 3, 2, at_hour, tzinfo=UTC)
        columns, _ = score_customers(rows, model, None, 0, scored_at, scoring_day)
        return append_new_scores(table, scored_arrow(columns, table.schema().as_arrow()), scoring_day)

    assert score(frame.head(100), 8) == 100  # a killed run's append had committed these
    assert score(frame, 9) == CUSTOMERS - 100  # its re-execution adds the rest
    assert score(frame, 10) == 0
    assert score(frame.head(10), 11, date(2026, 3, 3)) == 10  # the next day is new
    stored = table.refresh().scan().to_pandas()
    assert len(stored) == CUSTOMERS + 10
    assert not stored.duplicated(["customer_id", "scoring_day"]).any()
    assert len(set(id_bytes(table.scan().to_arrow().column("prediction_id")))) == CUSTOMERS + 10


def test_rows_with_missing_features_are_refused_before_anything_is_scored(tmp_path):
    model = load_servable("v1", write_model(tmp_path / "v1", seed=1))
    frame = sample_features(5)
    with pytest.raises(ValueError, match=r"lack \['tenure_days'\]"):
        score_batches(model, frame.drop(columns="tenure_days"))
    frame.loc[2, "lifetime_value"] = None
    with pytest.raises(ValueError, match="null feature values {'lifetime_value': 1}"):
        score_batches(model, frame)
    with pytest.raises(ValueError, match="timezone-aware"):
        score_customers(sample_features(5), model, None, 0, datetime(2026, 1, 1), date(2026, 1, 1))
