"""The ingestion assets: a contract violation fails the run and leaves the warehouse and gold untouched."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.warehouse import local_warehouse
from tests.support.ingest_fixtures import (
    AS_OF,
    ORDERS,
    materialize_raw_and_gold,
    orders_table,
    write_landing_zone,
)


def _drop_amount(raw: Path) -> None:
    for part in (raw / "orders").glob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["amount"]), part)


def _null_customer_id(raw: Path) -> None:
    (raw / "customers" / "part-9.csv").write_text("customer_id,signup_ts\n,2024-03-01T00:00:00Z\n")


def _duplicate_order_id(raw: Path) -> None:
    pq.write_table(orders_table([("o01", "B", *ORDERS[0][2:])]), raw / "orders" / "2024-z.parquet")


def _orphan_order(raw: Path) -> None:
    pq.write_table(orders_table([("o99", "ZZZ", *ORDERS[0][2:])]), raw / "orders" / "2024-z.parquet")


def _bad_timestamp(raw: Path) -> None:
    (raw / "customers" / "part-9.csv").write_text("customer_id,signup_ts\nG,31/12/2024 25:00\n")


BREAKAGES: list[tuple[Callable[[Path], None], str]] = [
    (_drop_amount, "orders.amount: rule 'required column present' broken by 12 row(s)"),
    (_null_customer_id, "customers.customer_id: rule 'not null' broken by 1 row(s)"),
    (_duplicate_order_id, "orders.order_id: rule 'unique' broken by 2 row(s)"),
    (_orphan_order, "orders.customer_id: rule 'exists in customers.customer_id' broken by 1 row(s)"),
    (_bad_timestamp, "customers.signup_ts: rule 'parsable as timestamp' broken by 1 row(s)"),
]


def _digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())


@pytest.mark.slow
def test_each_violation_fails_clearly_and_changes_nothing(
    lakehouse_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = lakehouse_home / "raw"
    pristine = write_landing_zone(tmp_path / "pristine")
    _copy_tree(pristine, raw)
    monkeypatch.setenv("LAKEHOUSE_AS_OF", AS_OF)
    assert materialize_raw_and_gold().success
    warehouse = local_warehouse(Settings.from_env())
    gold_before = _digest(lakehouse_home / "gold")
    raw_counts = "select (select count(*) from raw.customers) as c, (select count(*) from raw.orders) as o"
    counts_before = warehouse.query(raw_counts).iloc[0].tolist()

    for breakage, message in BREAKAGES:
        for part in raw.rglob("*"):
            if part.is_file():
                part.unlink()
        _copy_tree(pristine, raw)
        breakage(raw)
        result = materialize_raw_and_gold(raise_on_error=False)
        assert not result.success, breakage.__name__
        (failure,) = [event for event in result.all_events if event.is_step_failure]
        assert failure.step_key == "raw_landing_zone"
        error = failure.event_specific_data.error
        assert message in error.message or message in str(error.cause), breakage.__name__
        assert {e.asset_key for e in result.get_asset_materialization_events()} == set()
        assert not any(e.step_key == "lakehouse_dbt_models" and e.is_step_start for e in result.all_events)
        assert _digest(lakehouse_home / "gold") == gold_before, breakage.__name__
        assert warehouse.query(raw_counts).iloc[0].tolist() == counts_before, breakage.__name__


def test_empty_local_landing_zone_is_filled_by_the_simulator(lakehouse_home: Path) -> None:
    from lakehouse_ml.assets import raw
    from lakehouse_ml.resources.landing_zone import LandingZone

    landing_zone = LandingZone(uri=str(lakehouse_home / "raw"), fill_when_empty=True)
    result = dg.materialize(
        [raw.raw_landing_zone],
        resources={"landing_zone": landing_zone, "warehouse": local_warehouse(Settings.from_env())},
    )
    counts = {
        event.asset_key.to_user_string(): event.materialization.metadata["dagster/row_count"].value
        for event in result.get_asset_materialization_events()
    }
    assert counts["raw_customers"] > 1000 and counts["raw_orders"] > counts["raw_customers"]
    assert (lakehouse_home / "raw" / "_simulator").is_dir()
