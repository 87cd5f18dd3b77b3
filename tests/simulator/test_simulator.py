"""The raw landing zone simulator: determinism, appends, contract types, drift scenarios, signal."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lakehouse_ml.cli import simulate as simulate_command
from lakehouse_ml.features.store import CATEGORICAL_FEATURES, FEATURE_NAMES
from lakehouse_ml.simulator import DRIFT_SCENARIOS, api, fill_landing_zone_if_empty, simulate

FEATURES = [name for name in FEATURE_NAMES if name not in CATEGORICAL_FEATURES]


def digests(raw: Path) -> dict[str, str]:
    return {
        str(path.relative_to(raw)): hashlib.sha256(path.read_bytes()).hexdigest()
        for name in ("customers", "orders")
        for path in sorted((raw / name).iterdir())
    }


def load(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    customers = pd.read_parquet(raw / "customers")
    orders = pd.read_parquet(raw / "orders")
    customers["day"] = customers["signup_ts"].dt.tz_convert(None).dt.normalize()
    orders["day"] = orders["order_ts"].dt.tz_convert(None).dt.normalize()
    return customers, orders


def snapshot(
    customers: pd.DataFrame, orders: pd.DataFrame, day: pd.Timestamp, horizon: int = 90
) -> pd.DataFrame:
    """The gold features of docs/ARCHITECTURE.md for snapshot ``day`` plus the churn label."""
    frame = customers.loc[customers["day"] <= day, ["customer_id", "day"]].set_index("customer_id")
    past = orders[orders["day"] <= day]
    grouped = past.groupby("customer_id")
    frame = frame.join(pd.DataFrame({"lifetime_value": grouped["amount"].sum(), "count": grouped.size()}))
    frame["last_order"] = grouped["day"].max()
    for window in (30, 90):
        recent = past[past["day"] > day - pd.Timedelta(days=window)]
        frame[f"order_count_{window}d"] = recent.groupby("customer_id").size()
    frame = frame.fillna({"lifetime_value": 0.0, "count": 0, "order_count_30d": 0, "order_count_90d": 0})
    frame["avg_order_value"] = np.where(
        frame["count"] > 0, frame["lifetime_value"] / frame["count"].clip(lower=1), 0
    )
    frame["days_since_last_order"] = (day - frame["last_order"].fillna(frame["day"])).dt.days
    frame["tenure_days"] = (day - frame["day"]).dt.days
    future = orders[(orders["day"] > day) & (orders["day"] <= day + pd.Timedelta(days=horizon))]
    frame["churned"] = (~frame.index.isin(future["customer_id"].unique())).astype(int)
    return frame


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        simulate(tmp_path / name, customers=400, days=40, seed=seed)
        simulate(tmp_path / name, days=5)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert set(digests(tmp_path / "a").values()).isdisjoint(digests(tmp_path / "c").values())


def test_advancing_appends_parts_keeps_ids_unique_and_references_valid(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    first = simulate(raw, customers=500, days=60)
    before = digests(raw)
    second = simulate(raw, days=20)
    after = digests(raw)

    assert first.created and not second.created
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == ["customers/part-00001.parquet", "orders/part-00001.parquet"]
    assert second.first_day == first.last_day + timedelta(days=1)
    assert second.last_day == first.last_day + timedelta(days=20)
    assert second.customers_written > 0 and second.orders_written > 0

    customers, orders = load(raw)
    assert customers["customer_id"].is_unique and orders["order_id"].is_unique
    assert orders["customer_id"].isin(customers["customer_id"]).all()
    new_orders = pd.read_parquet(raw / "orders" / "part-00001.parquet")
    days = new_orders["order_ts"].dt.date
    assert days.min() == second.first_day and days.max() == second.last_day
    signup = customers.set_index("customer_id")["signup_ts"]
    assert (orders["order_ts"].to_numpy() >= signup.loc[orders["customer_id"]].to_numpy()).all()


def test_advancing_in_steps_equals_advancing_at_once(tmp_path: Path) -> None:
    for name, steps in (("once", [12]), ("steps", [5, 7])):
        simulate(tmp_path / name, customers=400, days=30, seed=5)
        for days in steps:
            simulate(tmp_path / name, days=days)
    frames = {name: load(tmp_path / name) for name in ("once", "steps")}
    for index in (0, 1):
        once = frames["once"][index].reset_index(drop=True)
        steps = frames["steps"][index].reset_index(drop=True)
        pd.testing.assert_frame_equal(once, steps)


def test_files_match_the_landing_zone_contract(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    simulate(raw, customers=1500, days=90)
    customers = pq.read_table(raw / "customers" / "part-00000.parquet")
    orders = pq.read_table(raw / "orders" / "part-00000.parquet")
    utc = pa.timestamp("us", tz="UTC")
    assert customers.schema.names == ["customer_id", "signup_ts", "country", "acquisition_channel"]
    assert [customers.schema.field(n).type for n in customers.schema.names] == [
        pa.string(),
        utc,
        pa.string(),
        pa.string(),
    ]
    assert orders.schema.names == ["order_id", "customer_id", "order_ts", "amount", "items"]
    assert [orders.schema.field(n).type for n in orders.schema.names] == [
        pa.string(),
        pa.string(),
        utc,
        pa.float64(),
        pa.int64(),
    ]
    amounts = orders["amount"].to_numpy()
    assert (amounts == 0).any() and (amounts < 0).any() and (amounts > 0).mean() > 0.9
    assert orders["items"].to_numpy().min() >= 1
    assert customers["customer_id"].null_count == 0 and orders["order_ts"].null_count == 0
    signup_days = customers["signup_ts"].to_pandas().dt.date
    assert signup_days.min() == api.DEFAULT_START


def test_csv_format_holds_the_same_data_with_iso_timestamps(tmp_path: Path) -> None:
    simulate(tmp_path / "pq", customers=300, days=30, seed=9)
    summary = simulate(tmp_path / "csv", customers=300, days=30, seed=9, file_format="csv")
    simulate(tmp_path / "csv", days=3)
    simulate(tmp_path / "pq", days=3)

    assert summary.files[0].name == "part-00000.csv"
    header = (tmp_path / "csv" / "orders" / "part-00000.csv").read_text().splitlines()[:2]
    assert header[0].replace('"', "") == "order_id,customer_id,order_ts,amount,items"
    assert "T" in header[1] and header[1].count("Z") == 1
    for name, ts in (("customers", "signup_ts"), ("orders", "order_ts")):
        from_csv = pd.concat(pd.read_csv(p) for p in sorted((tmp_path / "csv" / name).glob("*.csv")))
        from_csv[ts] = pd.to_datetime(from_csv[ts], utc=True).astype("datetime64[us, UTC]")
        from_parquet = pd.read_parquet(tmp_path / "pq" / name).fillna(np.nan)
        pd.testing.assert_frame_equal(
            from_csv.reset_index(drop=True), from_parquet.reset_index(drop=True), check_dtype=False
        )


def test_fill_landing_zone_if_empty_writes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "DEFAULT_CUSTOMERS", 300)
    monkeypatch.setattr(api, "DEFAULT_DAYS", 30)
    raw = tmp_path / "raw"
    assert fill_landing_zone_if_empty(raw) is True
    written = digests(raw)
    assert len(pd.read_parquet(raw / "customers")) == 300
    assert fill_landing_zone_if_empty(raw) is False
    assert digests(raw) == written


def test_bad_requests_fail_clearly_and_write_nothing(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    for name in ("customers", "orders"):
        (foreign / name).mkdir(parents=True)
        (foreign / name / "extract.csv").write_text("x\n1\n")
    with pytest.raises(ValueError, match="did not write"):
        simulate(foreign, days=1)
    assert not (foreign / "_simulator").exists()
    assert fill_landing_zone_if_empty(foreign) is False

    half = tmp_path / "half"
    (half / "customers").mkdir(parents=True)
    (half / "customers" / "part-00000.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="half filled"):
        simulate(half, days=1)

    raw = tmp_path / "raw"
    first = simulate(raw, customers=200, days=10)
    written = digests(raw)
    with pytest.raises(ValueError, match="unknown drift scenario"):
        simulate(raw, days=1, drift="meteor")
    with pytest.raises(ValueError, match="before the first day"):
        simulate(raw, days=1, drift="basket_shift", drift_start=first.last_day)
    with pytest.raises(ValueError, match="cannot append csv"):
        simulate(raw, days=1, file_format="csv")
    with pytest.raises(ValueError, match="seed"):
        simulate(raw, days=1, seed=99)
    with pytest.raises(ValueError, match="positive integer"):
        simulate(raw, days=0)
    with pytest.raises(ValueError, match="local folder"):
        simulate("s3://bucket/raw", days=1)
    assert digests(raw) == written
    assert sorted(p.name for p in (raw / "_simulator").iterdir()) == ["population.npz", "state.json"]


def test_a_failed_advance_leaves_files_and_state_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    simulate(raw, customers=300, days=20)
    before = {**digests(raw), "state": (raw / "_simulator" / "state.json").read_text()}
    real_write = api.landing.write_part

    def fail_on_orders(table, path, file_format):
        if "orders" in path.name:
            raise OSError("disk full")
        real_write(table, path, file_format)

    monkeypatch.setattr(api.landing, "write_part", fail_on_orders)
    with pytest.raises(OSError, match="disk full"):
        simulate(raw, days=3)
    assert {**digests(raw), "state": (raw / "_simulator" / "state.json").read_text()} == before
    assert sorted(p.name for p in (raw / "_simulator").iterdir()) == ["population.npz", "state.json"]
    monkeypatch.undo()
    assert simulate(raw, days=3).files[0].name == "part-00001.parquet"


@pytest.fixture(scope="module")
def drift_zones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same seeded history advanced 120 days without drift and with each scenario."""
    base = tmp_path_factory.mktemp("drift")
    zones = {}
    for name in ["none", *DRIFT_SCENARIOS]:
        raw = base / name
        simulate(raw, customers=2000, days=200, seed=11)
        simulate(raw, days=120, drift=None if name == "none" else name)
        zones[name] = raw
    return zones


def drift_start(raw: Path) -> pd.Timestamp:
    state = json.loads((raw / "_simulator" / "state.json").read_text())
    return pd.Timestamp(state["drifts"][0]["start"])


def test_drift_scenarios_are_listed_and_persist_in_the_state(
    drift_zones: dict[str, Path], tmp_path: Path
) -> None:
    assert {"basket_shift", "channel_shift", "concept_shift"} <= set(DRIFT_SCENARIOS)
    raw = shutil.copytree(drift_zones["basket_shift"], tmp_path / "raw")
    start = drift_start(raw)
    assert start == pd.Timestamp(api.DEFAULT_START) + pd.Timedelta(days=200)
    summary = simulate(raw, days=2)
    assert [d.name for d in summary.drifts] == ["basket_shift"]
    assert drift_start(raw) == start
    assert json.loads((drift_zones["none"] / "_simulator" / "state.json").read_text())["drifts"] == []


def test_basket_shift_raises_amounts_and_items_from_its_start(drift_zones: dict[str, Path]) -> None:
    start = drift_start(drift_zones["basket_shift"])
    _, base = load(drift_zones["none"])
    _, drifted = load(drift_zones["basket_shift"])
    pd.testing.assert_frame_equal(base[base["day"] < start], drifted[drifted["day"] < start])
    base_after, drifted_after = base[base["day"] >= start], drifted[drifted["day"] >= start]
    assert drifted_after["amount"].mean() > 1.5 * base_after["amount"].mean()
    assert drifted_after["items"].mean() > base_after["items"].mean() + 1.0


def test_channel_shift_changes_the_channel_mix_of_new_customers(drift_zones: dict[str, Path]) -> None:
    start = drift_start(drift_zones["channel_shift"])
    shares = {}
    for name in ("none", "channel_shift"):
        customers, _ = load(drift_zones[name])
        new = customers[customers["day"] >= start]
        shares[name] = new["acquisition_channel"].value_counts(normalize=True)
        old = customers[customers["day"] < start]
        assert (old["acquisition_channel"] == "paid_social").mean() < 0.25
    assert shares["none"]["paid_social"] < 0.25
    assert shares["channel_shift"]["paid_social"] > 0.45
    customers, orders = load(drift_zones["channel_shift"])
    new = customers[customers["day"] >= start]
    per_customer = orders[orders["customer_id"].isin(new["customer_id"])].groupby("customer_id").size()
    by_channel = per_customer.reindex(new["customer_id"], fill_value=0).groupby(
        new["acquisition_channel"].values
    )
    assert by_channel.mean()["paid_social"] < by_channel.mean()[["email", "referral"]].min()


def test_concept_shift_changes_who_churns_not_the_features(drift_zones: dict[str, Path]) -> None:
    day = drift_start(drift_zones["concept_shift"]) - pd.Timedelta(days=1)
    snapshots = {name: snapshot(*load(drift_zones[name]), day) for name in ("none", "concept_shift")}
    base, drifted = snapshots["none"], snapshots["concept_shift"]
    pd.testing.assert_frame_equal(base[FEATURES], drifted[FEATURES])

    frequent = base["order_count_90d"] >= base["order_count_90d"].quantile(0.75)
    assert drifted.loc[frequent, "churned"].mean() > 2 * base.loc[frequent, "churned"].mean() + 0.05
    assert abs(drifted["churned"].mean() - base["churned"].mean()) < 0.12
    recency_auc = {n: roc_auc_score(s["churned"], s["days_since_last_order"]) for n, s in snapshots.items()}
    assert recency_auc["concept_shift"] < recency_auc["none"] - 0.03

    later = {
        name: snapshot(*load(drift_zones[name]), day + pd.Timedelta(days=14), horizon=0) for name in snapshots
    }
    for feature in ("order_count_90d", "lifetime_value", "days_since_last_order"):
        ratio = later["concept_shift"][feature].mean() / later["none"][feature].mean()
        assert 0.85 < ratio < 1.15, (feature, ratio)


def test_features_carry_real_but_imperfect_signal_about_churn(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    simulate(raw, customers=4000, days=365)
    customers, orders = load(raw)
    last = orders["day"].max()
    days = [last - pd.Timedelta(days=offset) for offset in (91, 150, 210)]
    frames = [snapshot(customers, orders, day) for day in days]
    for frame in frames:
        assert 0.2 <= frame["churned"].mean() <= 0.45
        assert 0.65 <= roc_auc_score(frame["churned"], frame["days_since_last_order"]) <= 0.9
    pooled = pd.concat(frames)
    features = pooled[FEATURES].assign(log_recency=np.log1p(pooled["days_since_last_order"]))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_predict(model, features, pooled["churned"], cv=folds, method="predict_proba")[:, 1]
    assert 0.70 <= roc_auc_score(pooled["churned"], scores) <= 0.88


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    simulate_command.add_arguments(parser)
    for scenario in DRIFT_SCENARIOS:
        assert scenario in parser.format_help()
    return simulate_command.run(parser.parse_args(argv))


def test_command_creates_then_advances_the_landing_zone(
    lakehouse_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command(["--customers", "300", "--days", "20", "--seed", "5"]) == 0
    raw = lakehouse_home / "raw"
    assert "created the initial history" in capsys.readouterr().out
    assert json.loads((raw / "_simulator" / "state.json").read_text())["seed"] == 5

    assert run_command(["--drift", "channel_shift"]) == 0
    out = capsys.readouterr().out
    assert "advanced the landing zone" in out and "channel_shift from 2025-06-21" in out
    assert len(list((raw / "orders").glob("part-*.parquet"))) == 2

    assert run_command(["--format", "csv"]) == 2
    assert "cannot append csv" in capsys.readouterr().err

    other = lakehouse_home / "elsewhere"
    assert run_command(["--raw-uri", str(other), "--customers", "100", "--days", "5", "--format", "csv"]) == 0
    assert len(pd.read_csv(other / "customers" / "part-00000.csv")) == 100
