"""The dbt gold layer as Dagster assets on a hand-made landing zone (tests/support/ingest_fixtures.py).

LAKEHOUSE_AS_OF = 2024-05-15 (a Wednesday). Snapshot grid: Sundays from 2024-01-07 (the first grid day after
the first signup, F on 2024-01-01) to 2024-05-12, plus 2024-05-15. Every expected number below is worked out
by hand from the fixture rows.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from lakehouse_ml.features.store import FEATURE_NAMES
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.warehouse import local_warehouse
from tests.support.ingest_fixtures import AS_OF, failed_checks, materialize_raw_and_gold, write_landing_zone

pytestmark = pytest.mark.slow  # one raw + dbt build, 20-60 s on a shared 2-core machine

FEATURES = FEATURE_NAMES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """One build of the hand-made landing zone in its own LAKEHOUSE_HOME, shared by this module's tests."""
    home = tmp_path_factory.mktemp("gold") / "lakehouse"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
        monkeypatch.setenv("LAKEHOUSE_PROFILE", "local")
        monkeypatch.setenv("LAKEHOUSE_AS_OF", AS_OF)
        monkeypatch.delenv("LAKEHOUSE_RAW_URI", raising=False)
        (home / "dagster").mkdir(parents=True)
        write_landing_zone(home / "raw")
        result = materialize_raw_and_gold()
        yield result, local_warehouse(Settings.from_env())


def _row(features: pd.DataFrame, customer: str, day: str) -> list:
    match = features[(features.customer_id == customer) & (features.event_timestamp == pd.Timestamp(day))]
    assert len(match) == 1, f"expected one row for {customer} on {day}"
    return match.iloc[0][FEATURES].tolist()


def test_features_and_labels_are_point_in_time_correct(built) -> None:
    result, warehouse = built
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) >= 20 and failed_checks(result) == []

    features = pd.read_parquet(warehouse.gold_uri("fct_customer_features"))
    # 19 Sundays 2024-01-07..2024-05-12 plus as_of = 20 snapshots. Rows: A (signup 01-02) 20, F (01-01) 20,
    # B (01-20 UTC) from 01-21: 17 + 1 = 18, C (02-01) from 02-04: 15 + 1 = 16, D (05-14) only as_of: 1,
    # E signs up after as_of: 0. Total 75.
    assert len(features) == 75
    assert sorted(features.customer_id.unique()) == ["A", "B", "C", "D", "F"]

    # A on as_of 2024-05-15: orders before 05-16 00:00 are 100 + 0 + 50 - 20 + 30 (o05 at 23:59:59) = 160
    # over 5 orders (o06 at exactly 05-16 00:00 is excluded); avg 160 / 5 = 32. 30d [04-16, 05-16): o05 -> 1.
    # 90d window [02-16, 05-16): o03, o04, o05 -> 3. Last order 05-15 -> 0 days. Tenure 05-15 - 01-02 = 134.
    # Segment: tenure >= 30, 0 days since last order, 3 orders in 90d (< 4) -> active.
    assert _row(features, "A", "2024-05-15") == [160.0, 1, 3, 32.0, 0, 134, "active"]
    # A on 2024-02-18: o01 100 + o02 0 = 100 over 2 orders, avg 50; 30d [01-20, 02-19): none; 90d: 2.
    # Last order 01-10 -> 39 days; tenure 02-18 - 01-02 = 47; 39 <= 45 and 2 < 4 in 90d -> active.
    assert _row(features, "A", "2024-02-18") == [100.0, 0, 2, 50.0, 39, 47, "active"]
    # A on 2024-02-25: + o03 50 + o04 -20 (refund) = 130 over 4, avg 32.5; 30d [01-27, 02-26): o03, o04 -> 2;
    # 90d: 4; last order 02-21 -> 4 days; tenure 54; 4 orders in 90d -> loyal.
    assert _row(features, "A", "2024-02-25") == [130.0, 2, 4, 32.5, 4, 54, "loyal"]
    # B signed up 2024-01-21T01:30+02:00 = 01-20 23:30 UTC. On 01-21: o07 at 01-21 00:00 counts (< 01-22):
    # 40 over 1, 30d 1, 90d 1, 0 days since it, tenure 1 -> new.
    assert _row(features, "B", "2024-01-21") == [40.0, 1, 1, 40.0, 0, 1, "new"]
    # B on as_of: o07 40 + o08 60 = 100 over 2, avg 50; 30d none; 90d [02-16, 05-16): o08 -> 1; o10 (05-17)
    # excluded. Last order 03-01 -> 75 days (> 45 -> at_risk); tenure 05-15 - 01-20 = 116.
    assert _row(features, "B", "2024-05-15") == [100.0, 0, 1, 50.0, 75, 116, "at_risk"]
    # C never ordered: 0 value, 0 counts, avg 0; days since last order = tenure = 05-15 - 02-01 = 104
    # (> 90 -> dormant).
    assert _row(features, "C", "2024-05-15") == [0.0, 0, 0, 0.0, 104, 104, "dormant"]
    # D signed up 05-14, ordered 25 on 05-15: tenure 1 -> new.
    assert _row(features, "D", "2024-05-15") == [25.0, 1, 1, 25.0, 0, 1, "new"]
    assert features.event_timestamp.max() == pd.Timestamp(AS_OF)

    labels = pd.read_parquet(warehouse.gold_uri("fct_churn_labels"))
    # Label days: grid days D with D + 90 <= 05-15, i.e. D <= 02-15: 01-07 .. 02-11 (6 days).
    # Rows: A 6, F 6, B from 01-21: 4, C from 02-04: 2 -> 18.
    assert len(labels) == 18
    churned = {(r.customer_id, r.event_timestamp.date()): r.churned for r in labels.itertuples()}
    # F ordered 01-05 and 04-10. From 01-07 the horizon is (01-07, 04-06]: no order -> churned 1.
    # From 01-14 it is (01-14, 04-13]: 04-10 is inside -> 0.
    assert churned[("F", date(2024, 1, 7))] == 1
    assert churned[("F", date(2024, 1, 14))] == 0
    # C never orders -> 1 on both of its label days; B's 03-01 order is inside every one of its horizons -> 0.
    assert [churned[("C", day)] for day in (date(2024, 2, 4), date(2024, 2, 11))] == [1, 1]
    assert {churned[("B", day)] for day in (date(2024, 1, 21), date(2024, 2, 11))} == {0}


def test_warehouse_resource_serves_other_stages(built) -> None:
    result, warehouse = built
    assert result.success
    assert warehouse.pipeline_clock() == date(2024, 5, 15)
    assert Path(warehouse.gold_uri("fct_customer_features")).is_file()
    orders = warehouse.query("select order_id, amount, order_ts from silver.fct_orders order by order_id")
    assert len(orders) == 12
    assert orders.iloc[3].tolist() == ["o04", -20.0, datetime(2024, 2, 21, 9)]
    dims = warehouse.query(
        "select customer_id, country from silver.dim_customers where customer_id in ('C', 'F')"
    )
    assert sorted(dims.itertuples(index=False, name=None)) == [("C", "unknown"), ("F", "unknown")]
    materializations = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert materializations["raw_orders"]["dagster/row_count"].value == 12
    assert materializations["raw_customers"]["first_signup_ts"].value == "2024-01-01 00:00:00"
    gold = materializations["fct_customer_features"]
    assert gold["dagster/row_count"].value == 75
    assert gold["last_snapshot_day"].value == "2024-05-15 00:00:00"
    columns = {column.name: column.type for column in gold["dagster/column_schema"].value.columns}
    assert columns["customer_id"] == "string" and columns["lifetime_value"] == "double"
    assert columns["order_count_30d"] == "int64" and columns["event_timestamp"].startswith("timestamp")
    assert len(columns) == len(pd.read_parquet(warehouse.gold_uri("fct_customer_features")).columns)
    labels = materializations["fct_churn_labels"]["dagster/column_schema"].value.columns
    assert [column.name for column in labels] == ["customer_id", "event_timestamp", "churned"]
    assert materializations["fct_churn_labels"]["dagster/row_count"].value == 18
