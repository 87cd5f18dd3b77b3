"""Gold is reproducible: two builds of one simulated landing zone write byte-identical gold files, in key
order, with money summed exactly."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from lakehouse_ml.simulator import simulate
from tests.support.ingest_fixtures import materialize_raw_and_gold

pytestmark = pytest.mark.slow  # two raw + dbt builds, 40-90 s on a shared 2-core machine

GOLD_MODELS = ("fct_customer_features", "fct_churn_labels")


def _build(home: Path, raw: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(raw, home / "raw")
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    assert materialize_raw_and_gold().success
    return home / "gold"


def test_two_builds_of_one_landing_zone_write_identical_gold_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "local")
    monkeypatch.delenv("LAKEHOUSE_RAW_URI", raising=False)
    monkeypatch.delenv("LAKEHOUSE_AS_OF", raising=False)
    raw = tmp_path / "landing"
    simulate(raw, customers=600, days=150)
    orders = pd.read_parquet(raw / "orders")
    assert (orders["amount"] == 0).any() and (orders["amount"] < 0).any()

    first, second = (_build(tmp_path / name, raw, monkeypatch) for name in ("first", "second"))
    for model in GOLD_MODELS:
        written = (first / f"{model}.parquet").read_bytes()
        assert written == (second / f"{model}.parquet").read_bytes(), f"{model} differs between builds"

    features = pd.read_parquet(first / "fct_customer_features.parquet")
    keys = features[["customer_id", "event_timestamp"]]
    assert keys.equals(keys.sort_values(["event_timestamp", "customer_id"]))
    # every lifetime value is the double nearest to an exact sum of cents, not a float sum's neighbour
    exact = [float(round(Decimal(value), 2)) for value in features["lifetime_value"]]
    assert features["lifetime_value"].tolist() == exact
    last = features[features["event_timestamp"] == features["event_timestamp"].max()]
    as_of_end = last["event_timestamp"].iloc[0] + pd.Timedelta(days=1)
    cents = orders[orders["order_ts"].dt.tz_localize(None) < as_of_end].groupby("customer_id")["amount"]
    expected = cents.apply(lambda amounts: float(sum(Decimal(str(a)) for a in amounts)))
    got = last.set_index("customer_id")["lifetime_value"]
    assert got[expected.index].tolist() == expected.tolist()
