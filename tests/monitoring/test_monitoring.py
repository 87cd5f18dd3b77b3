"""Monitoring logic on hand-made data: label rule for actuals, performance SQL and pooling, drift
comparisons, concept days, policy, results."""

from __future__ import annotations

import json
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
    prediction_drift_verdict,
)
from lakehouse_ml.monitoring.results import check_record, new_breaches, verdict_record
from lakehouse_ml.predictions.table import prediction_uuid
from lakehouse_ml.registry.catalog_tables import MODELS_SQL
from tests.support.monitoring_fixtures import (
    _engine,
    make_catalog,
    order_frame,
    prediction_frame,
    random_predictions,
    write_predictions,
    write_warehouse,
)

DAY = date(2025, 1, 10)


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


def _pid(text: str):
    return prediction_uuid(text)


def test_actuals_follow_the_label_rule_and_wait_for_the_horizon(actuals_setup):
    home = actuals_setup
    as_of = DAY + timedelta(days=90)
    due = _engine(home).query(sql.due_actuals_sql(as_of, 90))
    assert sorted(due["subject_id"]) == sorted(_pid(p) for p in ["p1", "p2", "p3"])
    labelled = due.rename(columns={"subject_id": "prediction_id"})
    table = make_catalog(home).load_table("ml.churn_predictions")
    assert backfill_actuals(table, labelled, 90) == 3

    log = _log(home)
    assert log.loc[_pid("p1"), "actual"] == 0
    assert log.loc[_pid("p2"), "actual"] == 1
    assert log.loc[_pid("p3"), "actual"] == 0
    assert pd.isna(log.loc[_pid("p4"), "actual"])
    assert log.loc[_pid("p5"), "actual"] == 0
    assert log.loc[_pid("p5"), "actual_timestamp"] == pd.Timestamp(_at(DAY + timedelta(days=5)))
    assert log.loc[_pid("p1"), "actual_timestamp"] == pd.Timestamp(_at(DAY + timedelta(days=91)))
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


def test_pooled_performance_weights_daily_auc_by_labelled_rows():
    from lakehouse_ml.monitoring.performance import pooled_by_version

    daily = pd.DataFrame(
        {
            "model_version": ["3", "3", "3", "2"],
            "prediction_count": [120, 300, 60, 10],
            "labelled_count": [100, 300, 50, 0],
            "correct": [90, 240, 40, 0],
            "tp": [20, 60, 10, 0],
            "fp": [5, 20, 0, 0],
            "fn": [5, 20, 10, 0],
            "roc_auc": [0.9, 0.6, None, None],
        }
    )
    two, three = pooled_by_version(daily)  # in version order
    assert (three["prediction_count"], three["labelled_count"]) == (480, 450)
    # A day without an AUC (one class only) weighs nothing, not its 50 labelled rows.
    assert three["roc_auc"] == pytest.approx((0.9 * 100 + 0.6 * 300) / 400)
    assert three["accuracy"] == pytest.approx(370 / 450)
    assert three["precision"] == pytest.approx(90 / 115)
    assert three["recall"] == pytest.approx(90 / 125)
    assert two["labelled_count"] == 0
    assert all(two[name] is None for name in ("accuracy", "precision", "recall", "roc_auc"))


def test_monitoring_sql_is_valid_trino_and_duckdb():
    import sqlglot

    statements = [
        sql.due_actuals_sql(DAY, 90),
        sql.snapshot_outcomes_sql(DAY, 28, 14),
        sql.daily_performance_sql(DAY, DAY + timedelta(days=6)),
        sql.latest_labelled_day_sql(DAY + timedelta(days=6)),
        sql.snapshot_days_sql(),
        sql.live_vs_registered_sql(DAY, DAY + timedelta(days=6)),
        MODELS_SQL,
    ]
    for statement in statements:
        text = statement.format(
            predictions="iceberg.ml.p",
            orders="iceberg.silver.o",
            features="iceberg.gold.f",
            model_versions="iceberg.models.v",
            model_stage_history="iceberg.models.h",
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
        _engine(lakehouse_home).query(sql.latest_labelled_day_sql(DAY))
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
    # severity: how far past the threshold (the retraining cool-down retrains early only when it grows)
    assert performance_verdict(0.7, 500, policy).severity == pytest.approx(1.5)
    assert performance_verdict(0.85, 500, policy).severity == 0.0
    assert concept_drift_verdict(0.80, 0.70, 500, policy).severity == pytest.approx(2.0)
    assert prediction_drift_verdict(0.5, TriggerPolicy()).severity == pytest.approx(2.5)
    with pytest.raises(ValueError, match="accuracy_floor"):
        TriggerPolicy(accuracy_floor=1.5)


def test_verdict_records_and_breach_bookkeeping():
    import numpy as np

    from lakehouse_ml.monitoring.policy import Verdict

    first = verdict_record(
        Verdict("data_drift", True, ["x"]), model_version="v1", summary={"a": np.float64(1.5)}
    )
    results = {
        "data_drift": first,
        "performance": verdict_record(Verdict("performance", False), model_version="v1", summary={}),
    }
    assert first["summary"] == {"a": 1.5} and json.loads(json.dumps(first)) == first
    assert [r["result_id"] for r in new_breaches(results, {})] == [first["result_id"]]
    assert new_breaches(results, {"data_drift": first["result_id"]}) == []
    assert check_record(first, "feature_drift_report") is first
    with pytest.raises(ValueError, match="feature_drift_report"):
        check_record({"signal": "data_drift"}, "feature_drift_report")


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


def _customers(rng, n: int, spend: float = 1.0) -> pd.DataFrame:
    """A month's newcomers, shaped like the simulator's: small counts, skewed spend."""
    return pd.DataFrame(
        {
            "order_count_30d": rng.poisson(1.2, n),
            "order_count_90d": rng.poisson(1.5, n),
            "avg_order_value": rng.lognormal(3.5, 0.6, n) * spend,
            "days_since_last_order": rng.integers(0, 30, n),
            "customer_segment": rng.choice(["new", "regular", "vip"], n, p=[0.7, 0.25, 0.05]),
        }
    )


def _small_sample_verdict(reference, current, policy, noise):
    from lakehouse_ml.monitoring.drift import drift_report

    numerical = ["order_count_30d", "order_count_90d", "avg_order_value", "days_since_last_order"]
    result = drift_report(
        reference,
        current,
        numerical,
        ["customer_segment"],
        column_threshold=policy.column_drift_threshold,
        sample_size=policy.sample_size,
        seed=policy.sample_seed,
        noise=policy.noise() if noise else None,
    )
    return result, data_drift_verdict(result.column_scores, policy, result.noise_floors)


def test_noise_floor_stops_false_alarms_on_small_samples_but_not_real_drift():
    """250 newcomers a side (a base of ~3,000 customers): fixed distance thresholds alarm on chance
    alone; scores counted above their noise floor do not, and a real shift in spend still trips."""
    policy = TriggerPolicy()
    rng = np.random.default_rng(7)
    fixed_alarms = floor_alarms = 0
    for _ in range(12):
        reference, current = _customers(rng, 250), _customers(rng, 250)
        fixed_alarms += _small_sample_verdict(reference, current, policy, noise=False)[1].breach
        floor_alarms += _small_sample_verdict(reference, current, policy, noise=True)[1].breach
    assert fixed_alarms >= 3, "the cause: chance passes the fixed thresholds at this size"
    assert floor_alarms == 0

    result, verdict = _small_sample_verdict(
        _customers(rng, 250), _customers(rng, 250, spend=1.6), policy, True
    )
    assert verdict.breach and "avg_order_value" in " ".join(verdict.reasons)
    assert result.noise_floors["avg_order_value"] > policy.column_drift_threshold

    big, _ = _small_sample_verdict(_customers(rng, 20_000), _customers(rng, 20_000), policy, True)
    assert max(big.noise_floors.values()) < policy.column_drift_threshold / 2


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
    engine.query(sql.live_vs_registered_sql(DAY, DAY))
    assert "lake.ml.churn_predictions" in seen["sql"] and "lake.models.model_versions" in seen["sql"]


def test_concept_days_take_the_evaluation_day_and_the_newest_known_outcome(tmp_path):
    from lakehouse_ml.monitoring.concept import concept_days
    from lakehouse_ml.monitoring.model import MonitoredModel

    days = [date(2025, 3, 1) + timedelta(days=7 * week) for week in range(12)]  # 2025-03-01 .. 05-17
    as_of = date(2025, 5, 20)

    def chosen(horizon=28, **metadata):
        return concept_days(days, MonitoredModel("1", tmp_path, metadata), as_of, horizon)

    newest_known = date(2025, 4, 19)  # the last day with day + 28 <= as_of
    assert chosen(eval_window=["2025-01-01", "2025-03-15"]) == (date(2025, 3, 15), newest_known)
    # Off the snapshot grid: the snapshot before it, never one after.
    assert chosen(eval_window=["2025-01-01", "2025-03-10T00:00:00"]) == (date(2025, 3, 8), newest_known)
    assert chosen(train_window=["2024-12-01", "2025-03-22"]) == (date(2025, 3, 22), newest_known)
    assert chosen(eval_window=["2024-12-01", "2025-02-01"]) == (None, newest_known)
    assert chosen() == (None, newest_known)
    assert chosen(horizon=90, eval_window=["2025-01-01", "2025-03-15"]) == (date(2025, 3, 15), None)


def _features(day: date, customers: list[str], tenure: list[int], orders_90d: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customers,
            "event_timestamp": pd.Timestamp(day),
            "tenure_days": tenure,
            "order_count_90d": orders_90d,
        }
    )


class _StubModel:
    version = "v1"

    def training_set(self) -> pd.DataFrame:
        return pd.concat(
            [
                _features(date(2024, 11, 1), ["x"], [100], [3]),
                _features(date(2024, 12, 1), ["x", "y"], [130, 40], [3, 0]),
            ]
        )

    def scores(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(0.5, index=frame.index)


def test_feature_comparisons_pick_the_recent_day_and_the_newcomer_cohort():
    from lakehouse_ml.monitoring.comparisons import feature_comparisons

    as_of = date(2025, 9, 30)
    days = [as_of - timedelta(days=ago) for ago in (42, 35, 14, 0)]
    # a: inactive newcomer, b: active newcomer, c: active long-standing customer.
    frames = {sql.snapshot_sql(d): _features(d, ["a", "b", "c"], [5, 10, 400], [0, 1, 6]) for d in days}

    def comparisons(snapshot_days, **policy):
        queries = {**frames, sql.snapshot_days_sql(): pd.DataFrame({"day": snapshot_days})}
        found = feature_comparisons(queries.__getitem__, _StubModel(), as_of, TriggerPolicy(**policy))
        return {name: (reference, current, triggers) for name, reference, current, triggers in found}

    found = comparisons(days)
    assert {name: triggers for name, (_, _, triggers) in found.items()} == {
        "since_training": False,
        "recent_active": True,
        "recent_new_customers": True,
    }
    training, current, _ = found["since_training"]
    assert training["customer_id"].tolist() == ["x"]  # newest training snapshot, active customers
    assert current["customer_id"].tolist() == ["b", "c"]
    previous, _, _ = found["recent_active"]
    assert previous["event_timestamp"].unique().tolist() == [pd.Timestamp(days[1])]
    assert previous["customer_id"].tolist() == ["b", "c"]
    newcomers, _, _ = found["recent_new_customers"]
    assert newcomers["customer_id"].tolist() == ["a", "b"]
    everyone, _, _ = comparisons(days, active_only=False)["since_training"]
    assert everyone["customer_id"].tolist() == ["x", "y"]
    assert list(comparisons(days[2:])) == ["since_training"]
    assert list(comparisons(days, new_customer_days=5)) == ["since_training", "recent_active"]


def test_current_scores_use_the_newest_logged_day_of_current_customers():
    from lakehouse_ml.monitoring.comparisons import current_scores

    current = pd.DataFrame({"customer_id": ["c1", "c2"]})
    yesterday = DAY - timedelta(days=1)
    logged = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c1", "c3"],
            "confidence": [0.1, 0.2, 0.8, 0.9],
            # the scoring day decides, not the wall-clock timestamp (a replay logs them all much later)
            "prediction_timestamp": [_at(DAY + timedelta(days=400), 9)] * 4,
            "day": [yesterday, yesterday, DAY, DAY],
        }
    )
    asked = []

    def query(text: str) -> pd.DataFrame:
        asked.append(text)
        return logged

    scores, source = current_scores(query, _StubModel(), DAY, current)
    assert (scores.tolist(), source) == ([0.8], "prediction log")
    assert asked == [sql.recent_predictions_sql("v1", DAY - timedelta(days=6), DAY)]

    def missing_table(text: str) -> pd.DataFrame:
        raise ValueError("table predictions is not in the warehouse")

    only_others = logged[logged["customer_id"] == "c3"]
    for fallback in (missing_table, lambda text: logged.iloc[:0], lambda text: only_others):
        scores, source = current_scores(fallback, _StubModel(), DAY, current)
        assert (scores.tolist(), source) == ([0.5, 0.5], "model scores on current features")


def test_data_weeks_start_on_the_snapshot_grid_sunday_in_any_year():
    from lakehouse_ml.monitoring.weeks import data_week

    assert data_week(date(1997, 3, 30)) == data_week(date(1997, 4, 5)) == "1997-03-30"  # CDNOW's calendar
    assert data_week(date(1997, 4, 6)) == "1997-04-06"
    assert data_week(date(2020, 1, 5)) == "2020-01-05" and data_week(date(2020, 1, 4)) == "2019-12-29"
    assert all(date.fromisoformat(data_week(date(2031, 7, d))).weekday() == 6 for d in range(1, 29))
    with pytest.raises(TypeError):
        data_week("1997-03-30")


class _EngagementModel:
    """Scores churn by low engagement, as a trained model would before a concept change."""

    version = "v1"
    threshold = 0.5

    def scores(self, frame: pd.DataFrame) -> pd.Series:
        engagement = frame["order_count_30d"] + 0.5 * frame["order_count_90d"]
        return 1 / (1 + np.exp(engagement - engagement.mean()))


def test_concept_drift_reads_a_seeded_sample_and_keeps_its_verdict_on_a_clear_change():
    from lakehouse_ml.monitoring.concept import band_shift, outcome_frame, quality
    from lakehouse_ml.monitoring.drift import sample
    from tests.support.monitoring_fixtures import churn_outcome, snapshot

    n = 20_000
    days = {"reference": date(2025, 3, 1), "current": date(2025, 4, 5)}
    frames = {}
    for seed, (side, day) in enumerate(days.items()):
        frame = snapshot(day, n, seed=seed)
        frames[sql.snapshot_outcomes_sql(day, 28, 14)] = frame.assign(
            churned=churn_outcome(frame, seed, flipped=side == "current")
        )

    def verdict(sample_size: int):
        policy = TriggerPolicy(sample_size=sample_size)
        sides = {
            side: outcome_frame(frames.__getitem__, _EngagementModel(), day, policy)
            for side, day in days.items()
        }
        aucs = [quality(f["outcome"], f["score"], 0.5)["roc_auc"] for f in sides.values()]
        bands = band_shift(sides["reference"], sides["current"], policy.concept_bands)
        rows = min(len(f) for f in sides.values())
        return rows, concept_drift_verdict(*aucs, rows, policy, [b["z"] for b in bands])

    full_rows, full = verdict(n)
    sampled_rows, sampled = verdict(2_000)
    assert sampled_rows == 2_000 < full_rows
    assert full.breach and sampled.breach
    assert {r.split(" ")[0] for r in sampled.reasons} == {r.split(" ")[0] for r in full.reasons}

    frame = next(iter(frames.values()))
    drawn = sample(frame, 500, seed=42)
    shuffled = sample(frame.sample(frac=1.0, random_state=7), 500, seed=42)
    pd.testing.assert_frame_equal(drawn.reset_index(drop=True), shuffled.reset_index(drop=True))
    assert set(sample(frame, 500, seed=43).index) != set(drawn.index)
    with pytest.raises(ValueError, match="sample size"):
        sample(frame, 0, seed=42)
