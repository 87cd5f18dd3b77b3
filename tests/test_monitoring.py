"""Monitoring logic on hand-made data: label rule for actuals, performance SQL, policy, results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.actuals import backfill_actuals
from lakehouse_ml.monitoring.policy import (
    TriggerPolicy,
    concept_drift_verdict,
    data_drift_verdict,
    performance_verdict,
)
from lakehouse_ml.monitoring.results import new_breaches, read_results, write_result
from lakehouse_ml.resources.query_engine import DuckDBQueryEngine
from tests.monitoring_fixtures import (
    make_catalog,
    order_frame,
    prediction_frame,
    random_predictions,
    write_predictions,
    write_warehouse,
)

DAY = date(2025, 1, 10)


def _engine(home) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(
        warehouse_path=str(home / "warehouse.duckdb"),
        iceberg_catalog_uri=f"sqlite:///{home / 'iceberg' / 'catalog.db'}",
        iceberg_warehouse=f"file://{home / 'iceberg' / 'warehouse'}",
    )


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)


def _prediction(pid: str, customer: str, when: datetime, **extra) -> dict:
    return {
        "prediction_id": pid,
        "customer_id": customer,
        "prediction": 1,
        "confidence": 0.7,
        "model_version": "v1",
        "prediction_timestamp": when,
        **extra,
    }


@pytest.fixture
def actuals_setup(lakehouse_home):
    orders = order_frame(
        [
            ("o1", "c1", _at(DAY + timedelta(days=1), 9)),  # inside the window: not churned
            ("o2", "c2", _at(DAY, 23)),  # same day as the prediction: does not count
            ("o3", "c2", _at(DAY + timedelta(days=91), 1)),  # after the window: does not count
            ("o4", "c3", _at(DAY + timedelta(days=90), 22)),  # last day of the window: counts
        ]
    )
    write_warehouse(lakehouse_home, orders)
    predictions = prediction_frame(
        [
            _prediction("p1", "c1", _at(DAY, 14)),  # live prediction, wall-clock time
            _prediction("p2", "c2", _at(DAY)),
            _prediction("p3", "c3", _at(DAY)),
            _prediction("p4", "c1", _at(DAY + timedelta(days=1))),  # horizon not passed yet
            _prediction("p5", "c2", _at(DAY), actual=0, actual_timestamp=_at(DAY + timedelta(days=5))),
        ]
    )
    write_predictions(lakehouse_home, predictions)
    return lakehouse_home


def _log(home) -> pd.DataFrame:
    table = make_catalog(home).load_table("ml.churn_predictions")
    return table.scan().to_pandas().set_index("prediction_id").sort_index()


def test_actuals_follow_the_label_rule_and_wait_for_the_horizon(actuals_setup):
    home = actuals_setup
    as_of = DAY + timedelta(days=90)
    due = _engine(home).query(sql.due_actuals_sql(as_of, 90))
    assert sorted(due["subject_id"]) == ["p1", "p2", "p3"]
    labelled = due.rename(columns={"subject_id": "prediction_id"})
    table = make_catalog(home).load_table("ml.churn_predictions")
    assert backfill_actuals(table, labelled, 90) == 3

    log = _log(home)
    assert log.loc["p1", "actual"] == 0
    assert log.loc["p2", "actual"] == 1
    assert log.loc["p3", "actual"] == 0
    assert pd.isna(log.loc["p4", "actual"])
    assert log.loc["p5", "actual"] == 0
    assert log.loc["p5", "actual_timestamp"] == pd.Timestamp(_at(DAY + timedelta(days=5)))
    assert log.loc["p1", "actual_timestamp"] == pd.Timestamp(_at(DAY + timedelta(days=91)))
    assert len(log) == 5


def test_actuals_backfill_is_idempotent(actuals_setup):
    home = actuals_setup
    as_of = DAY + timedelta(days=100)
    catalog = make_catalog(home)

    def run() -> int:
        due = (
            _engine(home)
            .query(sql.due_actuals_sql(as_of, 90))
            .rename(columns={"subject_id": "prediction_id"})
        )
        return backfill_actuals(catalog.load_table("ml.churn_predictions"), due, 90)

    assert run() == 4
    snapshot = catalog.load_table("ml.churn_predictions").current_snapshot().snapshot_id
    first = _log(home)
    assert run() == 0
    assert catalog.load_table("ml.churn_predictions").current_snapshot().snapshot_id == snapshot
    pd.testing.assert_frame_equal(_log(home), first)


def test_backfill_rejects_bad_labels(actuals_setup):
    table = make_catalog(actuals_setup).load_table("ml.churn_predictions")
    bad = pd.DataFrame({"prediction_id": ["p1"], "day": [DAY], "churned": [2]})
    with pytest.raises(ValueError, match="churned must be 0 or 1"):
        backfill_actuals(table, bad, 90)
    with pytest.raises(ValueError, match="lack columns"):
        backfill_actuals(table, bad.drop(columns="day"), 90)


def test_daily_performance_sql_matches_scikit_learn(lakehouse_home):
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    frames = [
        random_predictions(300, DAY, "v1", seed=1, quality=0.6),
        random_predictions(200, DAY, "v2", seed=2, quality=0.2),
        random_predictions(250, DAY + timedelta(days=1), "v1", seed=3, quality=0.4),
    ]
    unlabelled = random_predictions(40, DAY, "v1", seed=4, quality=0.4).assign(
        prediction_id=lambda f: "u" + f["prediction_id"], actual=pd.NA, actual_timestamp=pd.NaT
    )
    unlabelled["actual"] = unlabelled["actual"].astype("Int32")
    write_predictions(lakehouse_home, pd.concat([*frames, unlabelled], ignore_index=True))
    write_warehouse(lakehouse_home, order_frame([]))

    daily = _engine(lakehouse_home).query(sql.daily_performance_sql(DAY, DAY + timedelta(days=6)))
    assert len(daily) == 3
    for frame in frames:
        row = daily[
            (daily["day"] == pd.Timestamp(frame["prediction_timestamp"].dt.date.iloc[0]))
            & (daily["model_version"] == frame["model_version"].iloc[0])
        ].iloc[0]
        y, p, s = frame["actual"].astype(int), frame["prediction"], frame["confidence"]
        assert row["labelled_count"] == len(frame)
        assert row["accuracy"] == pytest.approx(accuracy_score(y, p))
        assert row["precision"] == pytest.approx(precision_score(y, p))
        assert row["recall"] == pytest.approx(recall_score(y, p))
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    first_v1 = daily[(daily["model_version"] == "v1") & (daily["day"] == pd.Timestamp(DAY))].iloc[0]
    assert first_v1["prediction_count"] == 340


def test_monitoring_sql_is_valid_trino_and_duckdb():
    import sqlglot

    statements = [
        sql.due_actuals_sql(DAY, 90),
        sql.snapshot_outcomes_sql(DAY, 28, 14),
        sql.daily_performance_sql(DAY, DAY + timedelta(days=6)),
        sql.latest_labelled_day_sql(),
        sql.snapshot_days_sql(),
    ]
    for statement in statements:
        text = statement.format(
            predictions="iceberg.ml.p", orders="iceberg.silver.o", features="iceberg.gold.f"
        )
        for dialect in ("trino", "duckdb"):
            sqlglot.parse_one(text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)


def test_sql_parameters_are_typed():
    with pytest.raises(TypeError):
        sql.due_actuals_sql("2025-01-01'; DROP TABLE x; --", 90)
    with pytest.raises(ValueError, match="horizon_days"):
        sql.due_actuals_sql(DAY, 0)


def test_query_engine_names_missing_inputs(lakehouse_home):
    with pytest.raises(ValueError, match="does not exist"):
        _engine(lakehouse_home).query(sql.latest_labelled_day_sql())
    with pytest.raises(ValueError, match="unknown tables"):
        _engine(lakehouse_home).query("SELECT * FROM {customers}")


def test_construct_drift_features_never_trigger_alone():
    policy = TriggerPolicy()
    calm = {
        "order_count_30d": 0.01,
        "order_count_90d": 0.02,
        "avg_order_value": 0.03,
        "days_since_last_order": 0.02,
        "customer_segment": 0.01,
    }
    assert not data_drift_verdict({**calm, "tenure_days": 0.9, "lifetime_value": 0.7}, policy).breach
    strong = data_drift_verdict({**calm, "avg_order_value": policy.feature_score_threshold + 0.01}, policy)
    assert strong.breach and "avg_order_value" in strong.reasons[0]
    broad = {name: policy.column_drift_threshold for name in list(calm)[:3]} | dict(list(calm.items())[3:])
    assert data_drift_verdict(broad, policy).breach


def test_concept_and_performance_verdicts_respect_thresholds():
    policy = TriggerPolicy(
        max_auc_drop=0.05, min_labelled_rows=100, accuracy_floor=0.8, concept_z_threshold=3
    )
    assert concept_drift_verdict(0.80, 0.70, 500, policy).breach
    assert not concept_drift_verdict(0.80, 0.78, 500, policy).breach
    assert not concept_drift_verdict(0.80, 0.50, 50, policy).breach
    assert not concept_drift_verdict(None, 0.5, 500, policy).breach
    assert concept_drift_verdict(0.80, 0.79, 500, policy, [0.5, -3.2, 1.0]).breach
    assert not concept_drift_verdict(0.80, 0.79, 500, policy, [0.5, -2.9, 1.0]).breach
    assert performance_verdict(0.7, 500, policy).breach
    assert not performance_verdict(0.85, 500, policy).breach
    with pytest.raises(ValueError, match="accuracy_floor"):
        TriggerPolicy(accuracy_floor=1.5)


def test_results_round_trip_and_breach_bookkeeping(tmp_path):
    from lakehouse_ml.monitoring.policy import Verdict

    first = write_result(tmp_path, Verdict("data_drift", True, ["x"]), model_version="v1", summary={"a": 1.0})
    write_result(tmp_path, Verdict("performance", False), model_version="v1", summary={})
    results = read_results(tmp_path)
    assert set(results) == {"data_drift", "performance"}
    assert [r["result_id"] for r in new_breaches(results, {})] == [first["result_id"]]
    assert new_breaches(results, {"data_drift": first["result_id"]}) == []
    (tmp_path / "signals" / "performance.json").write_text("{broken")
    with pytest.raises(ValueError, match="performance.json"):
        read_results(tmp_path)


def test_drift_report_flags_shifted_columns_and_sampling_agrees(tmp_path):
    from lakehouse_ml.monitoring.drift import drift_report

    rng = np.random.default_rng(0)
    n = 20_000
    reference = pd.DataFrame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.gamma(2, 10, n),
            "segment": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    current = pd.DataFrame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.gamma(2, 14, n),
            "segment": rng.choice(["a", "b", "c"], n, p=[0.2, 0.3, 0.5]),
        }
    )
    args = dict(numerical=["steady", "moved"], categorical=["segment"], column_threshold=0.1, seed=42)
    full = drift_report(reference, current, sample_size=n, html_path=tmp_path / "r.html", **args)
    sampled = drift_report(reference, current, sample_size=2_000, **args)
    assert full.drifted_columns == ["moved", "segment"]
    assert sampled.drifted_columns == full.drifted_columns
    assert sampled.reference_rows == 2_000 and sampled.reference_sampled_from == n
    assert full.column_scores["steady"] < 0.1 <= full.column_scores["moved"]
    assert (tmp_path / "r.html").stat().st_size > 10_000
    with pytest.raises(ValueError, match="lacks drift columns"):
        drift_report(reference.drop(columns="moved"), current, sample_size=n, **args)


def test_band_shift_sees_a_flipped_relation_in_one_band_only():
    from lakehouse_ml.monitoring.concept import band_shift

    rng = np.random.default_rng(3)
    n = 5_000
    score = rng.random(n)
    reference = pd.DataFrame({"score": score, "outcome": (rng.random(n) < score).astype(int)})
    steady = pd.DataFrame({"score": score, "outcome": (rng.random(n) < score).astype(int)})
    moved = steady.assign(outcome=np.where(score < 0.2, (rng.random(n) < 0.6).astype(int), steady["outcome"]))
    assert max(abs(b["z"]) for b in band_shift(reference, steady, 5)) < 3
    bands = band_shift(reference, moved, 5)
    assert len(bands) == 5
    assert bands[0]["z"] > 3 and all(abs(b["z"]) < 3 for b in bands[1:])
    assert bands[0]["current_rate"] > bands[0]["reference_rate"]


def test_late_window_label_rule(lakehouse_home):
    orders = order_frame(
        [("o1", "c1", _at(DAY + timedelta(days=3))), ("o2", "c2", _at(DAY + timedelta(days=20)))]
    )
    features = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "event_timestamp": pd.Timestamp(DAY),
            "order_count_90d": [1, 1, 1],
        }
    )
    write_warehouse(lakehouse_home, orders, features)
    engine = _engine(lakehouse_home)
    full = engine.query(sql.snapshot_outcomes_sql(DAY, 28)).set_index("customer_id")["churned"]
    late = engine.query(sql.snapshot_outcomes_sql(DAY, 28, 14)).set_index("customer_id")["churned"]
    assert full.to_dict() == {"c1": 0, "c2": 0, "c3": 1}
    assert late.to_dict() == {"c1": 1, "c2": 0, "c3": 1}
    with pytest.raises(ValueError, match="offset_days"):
        sql.snapshot_outcomes_sql(DAY, 28, 28)


def test_trino_engine_runs_the_same_sql_against_catalog_tables(monkeypatch):
    import trino.dbapi

    from lakehouse_ml.resources.query_engine import TrinoQueryEngine

    seen = {}

    class Cursor:
        description = [("day",), ("n",)]

        def execute(self, statement):
            seen["sql"] = statement

        def fetchall(self):
            return [(DAY, 3)]

    class Connection:
        def cursor(self):
            return Cursor()

        def close(self):
            seen["closed"] = True

    def connect(**kwargs):
        seen["kwargs"] = kwargs
        return Connection()

    monkeypatch.setattr(trino.dbapi, "connect", connect)
    engine = TrinoQueryEngine(host="trino.internal", catalog="lake")
    frame = engine.query(sql.due_actuals_sql(DAY, 90))
    assert frame.to_dict("records") == [{"day": DAY, "n": 3}]
    assert "lake.ml.churn_predictions" in seen["sql"] and "lake.silver.fct_orders" in seen["sql"]
    assert "{" not in seen["sql"]
    assert seen["kwargs"]["timezone"] == "UTC" and seen["closed"]
