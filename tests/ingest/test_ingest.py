"""Contract validation of the raw landing zone (plain module, no Dagster)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse_ml.ingest import (
    ContractViolationError,
    LandingZoneError,
    landing_zone_is_empty,
    read_dataset,
    validate_landing_zone,
)
from tests.support.ingest_fixtures import ORDERS, orders_table, write_landing_zone


def _validate(raw: Path) -> dict[str, pa.Table]:
    return validate_landing_zone(read_dataset(str(raw), "customers")[0], read_dataset(str(raw), "orders")[0])


def _violation(raw: Path) -> ContractViolationError:
    with pytest.raises(ContractViolationError) as caught:
        _validate(raw)
    return caught.value


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return write_landing_zone(tmp_path / "raw")


def test_hand_made_landing_zone_is_typed(raw: Path) -> None:
    typed = _validate(raw)
    customers = {row["customer_id"]: row for row in typed["customers"].to_pylist()}
    assert sorted(customers) == ["A", "B", "C", "D", "E", "F"]
    # +02:00 is converted to UTC; CSV files without the optional columns give nulls
    assert customers["B"]["signup_ts"] == datetime(2024, 1, 20, 23, 30)
    assert customers["C"]["country"] is None
    assert customers["F"]["acquisition_channel"] is None
    orders = typed["orders"]
    assert orders.num_rows == len(ORDERS)
    assert orders.schema.field("order_ts").type == pa.timestamp("us")
    assert sorted(orders["amount"].to_pylist())[:2] == [-20.0, 0.0]
    assert orders["items"].null_count == 1


def test_underscore_and_hidden_names_are_not_data(raw: Path) -> None:
    (raw / "_simulator").mkdir()
    (raw / "_simulator" / "state.parquet").write_bytes(b"not parquet")
    (raw / "orders" / ".partial.parquet").write_bytes(b"not parquet")
    table, files = read_dataset(str(raw), "orders")
    assert files == ["orders/2024-a.parquet", "orders/2024-b.parquet"]
    assert table.num_rows == len(ORDERS)


def test_empty_and_mixed_landing_zones(tmp_path: Path, raw: Path) -> None:
    assert landing_zone_is_empty(str(tmp_path / "nothing"))
    assert not landing_zone_is_empty(str(raw))
    with pytest.raises(LandingZoneError, match="dataset 'orders' has no Parquet or CSV files"):
        read_dataset(str(tmp_path / "nothing"), "orders")
    (raw / "orders" / "extra.csv").write_text("order_id,customer_id,order_ts,amount\n")
    with pytest.raises(LandingZoneError, match="mixes Parquet and CSV"):
        read_dataset(str(raw), "orders")


def test_missing_required_column(raw: Path) -> None:
    for part in (raw / "orders").glob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["amount"]), part)
    error = _violation(raw)
    assert [(v.dataset, v.column, v.rule) for v in error.violations] == [
        ("orders", "amount", "required column present")
    ]
    assert "orders.amount: rule 'required column present' broken by 12 row(s)" in str(error)


def test_null_key(raw: Path) -> None:
    (raw / "customers" / "part-3.csv").write_text("customer_id,signup_ts\n,2024-03-01T00:00:00Z\n")
    error = _violation(raw)
    (violation,) = error.violations
    assert (violation.dataset, violation.column, violation.rule, violation.count) == (
        "customers",
        "customer_id",
        "not null",
        1,
    )
    assert violation.examples[0]["file"] == "customers/part-3.csv"
    assert "customers.customer_id: rule 'not null' broken by 1 row(s)" in str(error)


def test_duplicate_order_id(raw: Path) -> None:
    pq.write_table(orders_table([("o01", "B", *ORDERS[0][2:])]), raw / "orders" / "2024-c.parquet")
    (violation,) = _violation(raw).violations
    assert (violation.dataset, violation.column, violation.rule, violation.count) == (
        "orders",
        "order_id",
        "unique",
        2,
    )
    assert {example["customer_id"] for example in violation.examples} == {"A", "B"}


def test_orphan_order(raw: Path) -> None:
    pq.write_table(orders_table([("o99", "ZZZ", *ORDERS[0][2:])]), raw / "orders" / "2024-c.parquet")
    error = _violation(raw)
    (violation,) = error.violations
    assert (violation.dataset, violation.column, violation.rule, violation.count) == (
        "orders",
        "customer_id",
        "exists in customers.customer_id",
        1,
    )
    assert violation.examples[0]["order_id"] == "o99"
    assert "ZZZ" in str(error)


def test_unparseable_timestamp_and_amount(raw: Path) -> None:
    (raw / "customers" / "part-3.csv").write_text(
        "customer_id,signup_ts\nG,yesterday\nH,2024-02-30T00:00:00Z\n"
    )
    error = _violation(raw)
    (violation,) = error.violations
    assert (violation.dataset, violation.column, violation.rule, violation.count) == (
        "customers",
        "signup_ts",
        "parsable as timestamp",
        2,
    )
    assert {example["signup_ts"] for example in violation.examples} == {"yesterday", "2024-02-30T00:00:00Z"}

    csv_raw = raw.parent / "csv_raw"
    (csv_raw / "customers").mkdir(parents=True)
    (csv_raw / "orders").mkdir()
    (csv_raw / "customers" / "c.csv").write_text("customer_id,signup_ts\n007,2024-01-01\n")
    (csv_raw / "orders" / "o.csv").write_text(
        "order_id,customer_id,order_ts,amount,items\n1,007,2024-01-02,12.5,1\n2,007,2024-01-03,twelve,2.5\n"
    )
    rules = {(v.column, v.rule, v.count) for v in _violation(csv_raw).violations}
    assert rules == {("amount", "parsable as number", 1), ("items", "parsable as integer", 1)}


def test_amounts_become_exact_cents_and_oversized_or_infinite_ones_are_refused(tmp_path: Path) -> None:
    from decimal import Decimal

    raw = tmp_path / "raw"
    (raw / "customers").mkdir(parents=True)
    (raw / "orders").mkdir()
    (raw / "customers" / "c.csv").write_text("customer_id,signup_ts\n7,2024-01-01\n")
    rows = [("1", 59.050000000000004), ("2", 0.1 + 0.2), ("3", -20.0), ("4", 0.0), ("5", 12.345)]
    write = pa.table({"order_id": [r[0] for r in rows], "customer_id": ["7"] * len(rows)})
    write = write.append_column("order_ts", pa.array([datetime(2024, 1, 2)] * len(rows), pa.timestamp("us")))
    orders = raw / "orders" / "o.parquet"
    pq.write_table(write.append_column("amount", pa.array([r[1] for r in rows])), orders)
    amounts = _validate(raw)["orders"]["amount"]
    assert amounts.type == pa.decimal128(18, 2)
    # float noise is gone: what was summed in any order is now exact
    assert amounts.to_pylist() == [Decimal(v) for v in ("59.05", "0.30", "-20.00", "0.00", "12.35")]

    pq.write_table(write.slice(0, 2).append_column("amount", pa.array([1e16, float("inf")])), orders)
    (violation,) = _violation(raw).violations
    assert (violation.column, violation.rule, violation.count) == ("amount", "parsable as number", 2)


def test_all_violations_are_reported_together(raw: Path) -> None:
    (raw / "customers" / "part-3.csv").write_text("customer_id,signup_ts\nA,not a time\n")
    pq.write_table(orders_table([("o99", "ZZZ", *ORDERS[0][2:])]), raw / "orders" / "2024-c.parquet")
    rules = {(v.dataset, v.column, v.rule) for v in _violation(raw).violations}
    assert rules == {
        ("customers", "signup_ts", "parsable as timestamp"),
        ("customers", "customer_id", "unique"),
        ("orders", "customer_id", "exists in customers.customer_id"),
    }


def test_prod_load_writes_parquet_then_switches_the_trino_views(raw: Path, tmp_path: Path) -> None:
    """The prod path without a Trino: the SQL it sends, in order, and the files it leaves in staging."""
    from lakehouse_ml.ingest.warehouse import trino_load_raw

    typed = _validate(raw)
    staging = tmp_path / "staging"
    (staging / "orders" / "20240101000000000000").mkdir(parents=True)
    sent: list[str] = []

    def execute(sql: str) -> list[tuple]:
        sent.append(sql)
        if sql.startswith("SHOW TABLES FROM hive.raw LIKE 'orders"):
            return [("orders_20240101000000000000",), ("orders_20250101000000000000",)]
        return []

    trino_load_raw(execute, typed, f"file://{staging}", "hive", "20250101000000000000")
    assert sent[0] == "CREATE SCHEMA IF NOT EXISTS hive.raw"
    assert sent[1].startswith('CREATE TABLE hive.raw.customers_20250101000000000000 ("customer_id" varchar, ')
    assert f"external_location = 'file://{staging}/customers/20250101000000000000'" in sent[1]
    for column in ('"order_ts" timestamp(6)', '"amount" decimal(18,2)', '"items" bigint'):
        assert column in sent[2]
    assert sent[3:5] == [
        f"CREATE OR REPLACE VIEW hive.raw.{d} AS SELECT * FROM hive.raw.{d}_20250101000000000000"
        for d in ("customers", "orders")
    ]
    assert sent[-1] == "DROP TABLE hive.raw.orders_20240101000000000000"
    assert not (staging / "orders" / "20240101000000000000").exists()
    written = pq.read_table(staging / "orders" / "20250101000000000000" / "part-0.parquet")
    assert written.num_rows == len(ORDERS)
