"""ml.churn_predictions created with the earlier types (text ids, 0/1 integers, double confidence) is migrated
in place to the seed's types (UUID, BOOLEAN, BOOLEAN, FLOAT) with every row kept, and the loop's writers and
readers work on it afterwards."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse_ml.monitoring import sql
from lakehouse_ml.monitoring.actuals import backfill_actuals
from lakehouse_ml.predictions.catalog import ensure_predictions_table
from lakehouse_ml.predictions.maintenance import compact_small_files, data_files
from lakehouse_ml.predictions.spool_loader import load_spool
from lakehouse_ml.predictions.table import (
    COLUMNS,
    IDENTIFIER,
    LEGACY_ID_NAMESPACE,
    NAMESPACE,
    SCORING_DAY,
    predictions_arrow,
    predictions_partition_spec,
    predictions_schema,
    server_prediction_id,
)
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.resources.query_engine import DuckDBQueryEngine
from lakehouse_ml.serving.spool import SpoolWriter
from tests.support.monitoring_fixtures import write_warehouse

DAY = date(2026, 2, 1)
SERVER = 0x0123456789ABCDEF


def _old_schema():
    """The schema earlier releases created (lakehouse_ml/predictions/table.py before the seed's types)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import DoubleType, IntegerType, NestedField, StringType, TimestamptzType

    return Schema(
        NestedField(1, "prediction_id", StringType(), required=True),
        NestedField(2, "customer_id", StringType(), required=True),
        NestedField(3, "prediction", IntegerType(), required=True),
        NestedField(4, "confidence", DoubleType(), required=True),
        NestedField(5, "model_version", StringType(), required=True),
        NestedField(6, "prediction_timestamp", TimestamptzType(), required=True),
        NestedField(7, "actual", IntegerType(), required=False),
        NestedField(8, "actual_timestamp", TimestamptzType(), required=False),
        identifier_field_ids=[1],
    )


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _old_rows(first: int, count: int, day: date) -> dict[str, list]:
    """Ids of the three kinds an old table holds: the server's own text ids, UUID text, anything else."""
    ids = [
        f"{SERVER:016x}-{n:x}" if n % 3 == 0 else str(uuid.UUID(int=n + 1)) if n % 3 == 1 else f"bench-{n}"
        for n in range(first, first + count)
    ]
    return {
        "prediction_id": ids,
        "customer_id": [f"c{n % 4}" for n in range(first, first + count)],
        "prediction": [n % 2 for n in range(first, first + count)],
        "confidence": [1 / (3 * n + 3) for n in range(first, first + count)],  # none exact in binary
        "model_version": ["v1"] * count,
        "prediction_timestamp": [_at(day, n % 24) for n in range(count)],
        "actual": [None if n % 4 == 0 else (n // 4) % 2 for n in range(first, first + count)],
        "actual_timestamp": [None if n % 4 == 0 else _at(day + timedelta(days=91), 0) for n in range(count)],
    }


def _expected_id(text: str) -> uuid.UUID:
    if text.startswith("bench-"):
        return uuid.uuid5(LEGACY_ID_NAMESPACE, text)
    if "-" in text and len(text) < 36:
        prefix, counter = text.split("-")
        return uuid.UUID(int=(int(prefix, 16) << 64) | int(counter, 16))
    return uuid.UUID(text)


@pytest.fixture
def catalog(lakehouse_home: Path):
    return LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).catalog()


@pytest.fixture
def old_table(catalog):
    catalog.create_namespace_if_not_exists(NAMESPACE)
    schema = _old_schema()
    table = catalog.create_table(IDENTIFIER, schema=schema, partition_spec=predictions_partition_spec(schema))
    for first, day in ((0, DAY), (30, DAY + timedelta(days=1))):
        table.append(pa.Table.from_pydict(_old_rows(first, 30, day), schema=table.schema().as_arrow()))
    return table


def test_an_old_table_is_migrated_in_place_keeping_every_row_with_converted_values(catalog, old_table):
    before = old_table.scan().to_arrow().to_pylist()
    table_uuid, snapshots = old_table.metadata.table_uuid, len(old_table.metadata.snapshots)

    table = ensure_predictions_table(catalog)

    assert table.metadata.table_uuid == table_uuid  # the same table, not a copy
    assert tuple(table.schema().column_names) == (*COLUMNS, SCORING_DAY)
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    assert {name: types[name] for name in ("prediction_id", "prediction", "confidence", "actual")} == {
        "prediction_id": "uuid",
        "prediction": "boolean",
        "confidence": "float",
        "actual": "boolean",
    }
    assert [table.schema().find_column_name(i) for i in table.schema().identifier_field_ids] == [
        "prediction_id"
    ]
    assert [f.name for f in table.spec().fields] == ["prediction_day"]
    assert len(table.metadata.snapshots) == snapshots + 2  # one commit: delete the old files, add the new

    after = {row["prediction_id"]: row for row in table.scan().to_arrow().to_pylist()}
    assert len(after) == len(before) == 60
    for old in before:
        new = after[_expected_id(old["prediction_id"])]
        assert new["prediction"] is bool(old["prediction"])
        assert new["actual"] is (None if old["actual"] is None else bool(old["actual"]))
        assert new["confidence"] == float(np.float32(old["confidence"])) != old["confidence"]
        assert abs(new["confidence"] - old["confidence"]) < 6e-8 * old["confidence"]
        for name in ("customer_id", "model_version", "prediction_timestamp", "actual_timestamp"):
            assert new[name] == old[name], name
    # the server's text id and the UUID it gives the same prediction now are one id
    assert _expected_id(f"{SERVER:016x}-{3:x}") == server_prediction_id(SERVER, 3)

    again = ensure_predictions_table(catalog)  # migrated once: a later load commits nothing
    assert again.current_snapshot().snapshot_id == table.current_snapshot().snapshot_id


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("actual", [None, 1, 2], r"ml\.churn_predictions\.actual: 1 value\(s\) are not 0/1"),
        ("prediction", [0, -1, 1], r"ml\.churn_predictions\.prediction: 1 value\(s\) are not 0/1"),
        (
            "prediction_id",
            [str(uuid.UUID(int=0xABCDEF)), str(uuid.UUID(int=0xABCDEF)).upper(), "x"],
            r"prediction_id: '0+-0+-0+-0+-0+abcdef' and '0+-0+-0+-0+-0+ABCDEF' map to one UUID",
        ),
    ],
)
def test_a_value_it_cannot_convert_stops_the_migration_and_leaves_the_table_as_it_was(
    catalog, old_table, column, values, message
):
    rows = _old_rows(100, 3, DAY)
    rows[column] = values
    old_table.append(pa.Table.from_pydict(rows, schema=old_table.schema().as_arrow()))
    snapshot = old_table.current_snapshot().snapshot_id

    with pytest.raises(ValueError, match=message):
        ensure_predictions_table(catalog)
    table = catalog.load_table(IDENTIFIER)
    assert table.current_snapshot().snapshot_id == snapshot
    assert str(table.schema().find_field("prediction_id").field_type) == "string"


def test_the_loop_writes_and_reads_the_migrated_table(catalog, old_table, lakehouse_home):
    table = ensure_predictions_table(catalog)
    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    now = _at(DAY + timedelta(days=2), 12)

    def record(prediction_id: str, at: datetime) -> bytes:
        line = {
            "prediction_id": prediction_id,
            "customer_id": "c9",
            "prediction": 1,
            "confidence": 0.8,
            "model_version": "v2",
            "prediction_timestamp": at.isoformat(),
        }
        return (json.dumps(line) + "\n").encode()

    fresh = str(server_prediction_id(SERVER + 1, 0))
    already = f"{SERVER:016x}-{3:x}"  # row 3 of DAY, loaded before the migration: re-read, not duplicated
    writer.write(record(fresh, now) + record(already, _at(DAY, 3)))
    result = load_spool(table, spool)
    assert (result.records_read, result.rows_inserted, result.table_rows) == (2, 1, 61)

    rows = table.refresh().scan().to_arrow().to_pylist()
    unlabelled = [row for row in rows if row["actual"] is None and row["model_version"] == "v1"]
    labelled = {
        "prediction_id": [str(r["prediction_id"]) for r in unlabelled],
        "day": [r["prediction_timestamp"].date() for r in unlabelled],
        "churned": [1] * len(unlabelled),
    }
    assert backfill_actuals(table, pd.DataFrame(labelled), 90) == len(unlabelled) > 0
    assert backfill_actuals(table.refresh(), pd.DataFrame(labelled), 90) == 0

    engine = DuckDBQueryEngine(
        warehouse_path=str(lakehouse_home / "unused.duckdb"), iceberg_dir=str(lakehouse_home / "iceberg")
    )
    daily = engine.query(sql.daily_performance_sql(DAY, DAY + timedelta(days=2)))
    rows = table.refresh().scan().to_arrow().to_pylist()
    for day, group in daily.groupby("day"):
        mine = [r for r in rows if r["prediction_timestamp"].date() == day.date()]
        assert group["prediction_count"].sum() == len(mine)
        assert group["labelled_count"].sum() == sum(r["actual"] is not None for r in mine)
        assert group["tp"].sum() == sum(bool(r["prediction"] and r["actual"]) for r in mine)
    recent = engine.query(sql.recent_predictions_sql("v2", DAY, DAY + timedelta(days=2)))
    assert [str(i) for i in recent["prediction_id"]] == [fresh]

    compact_small_files(table.refresh())
    assert len(data_files(table.refresh())) == 3  # one file per day
    assert len(table.scan().to_arrow()) == 61


def _schema_without_scoring_day():
    """The seed-typed schema the table had before ``scoring_day`` (field ids 1..8)."""
    from pyiceberg.schema import Schema

    seed = predictions_schema()
    return Schema(*[f for f in seed.fields if f.name != SCORING_DAY], identifier_field_ids=[1])


def test_a_table_without_scoring_day_gets_the_column_in_place_and_keeps_every_row(catalog, lakehouse_home):
    catalog.create_namespace_if_not_exists(NAMESPACE)
    schema = _schema_without_scoring_day()
    old = catalog.create_table(IDENTIFIER, schema=schema, partition_spec=predictions_partition_spec(schema))
    rows = {**_old_rows(0, 40, DAY), "prediction_id": [str(uuid.UUID(int=n + 1)) for n in range(40)]}
    old.append(predictions_arrow(rows, old.schema().as_arrow()))
    before = old.scan().to_arrow().to_pylist()
    snapshot = old.current_snapshot().snapshot_id

    table = ensure_predictions_table(catalog)

    assert tuple(table.schema().column_names) == (*COLUMNS, SCORING_DAY)
    assert str(table.schema().find_field(SCORING_DAY).field_type) == "date"
    assert table.current_snapshot().snapshot_id == snapshot  # metadata only: no data file rewritten
    after = table.scan().to_arrow().to_pylist()
    assert [{k: v for k, v in row.items() if k != SCORING_DAY} for row in after] == before
    assert all(row[SCORING_DAY] is None for row in after)

    # a server of this release logs the data's day; one of the earlier release logs none
    writer = SpoolWriter(lakehouse_home / "spool")
    replayed_day = date(1997, 3, 30)
    for n, day in ((100, replayed_day.isoformat()), (101, None)):
        record = {
            "prediction_id": str(uuid.UUID(int=n)),
            "customer_id": "c1",
            "prediction": 1,
            "confidence": 0.7,
            "model_version": "v2",
            "prediction_timestamp": _at(DAY + timedelta(days=1), 9).isoformat(),
            **({SCORING_DAY: day} if day else {}),
        }
        writer.write((json.dumps(record) + "\n").encode())
    assert load_spool(table, lakehouse_home / "spool").rows_inserted == 2
    logged = {r["prediction_id"].int: r[SCORING_DAY] for r in table.refresh().scan().to_arrow().to_pylist()}
    assert (logged[100], logged[101]) == (replayed_day, None)

    orders = pd.DataFrame(
        {"order_id": ["o1"], "customer_id": ["c0"], "order_ts": [pd.Timestamp("1997-01-01")], "amount": [1.0]}
    )
    write_warehouse(lakehouse_home, orders)
    engine = DuckDBQueryEngine(
        warehouse_path=str(lakehouse_home / "warehouse.duckdb"), iceberg_dir=str(lakehouse_home / "iceberg")
    )
    # the replayed prediction falls due on its scoring day + horizon, 1997's calendar
    due = engine.query(sql.due_actuals_sql(replayed_day + timedelta(days=30), 30))
    assert [i.int for i in due["subject_id"]] == [100]
    assert due["prediction_day"].iloc[0] == pd.Timestamp(DAY + timedelta(days=1))
    # rows without a scoring day fall due on the day of their timestamp, as before the column
    due = engine.query(sql.due_actuals_sql(DAY + timedelta(days=30), 30))
    unlabelled = [n + 1 for n in range(40) if n % 4 == 0]  # _old_rows leaves every fourth actual null
    assert sorted(i.int for i in due["subject_id"]) == [*unlabelled, 100]
    due = engine.query(sql.due_actuals_sql(DAY + timedelta(days=31), 30))
    assert sorted(i.int for i in due["subject_id"]) == [*unlabelled, 100, 101]
