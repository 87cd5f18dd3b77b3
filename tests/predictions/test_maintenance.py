"""ml.churn_predictions at scale: the day partition (also on tables created before it), compaction of small
files and snapshot expiry, on a real pyiceberg SQL catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse_ml.predictions.catalog import ensure_predictions_table
from lakehouse_ml.predictions.maintenance import (
    compact_small_files,
    data_files,
    days_to_compact,
    expire_snapshots,
)
from lakehouse_ml.predictions.table import (
    IDENTIFIER,
    NAMESPACE,
    predictions_arrow,
    predictions_schema,
)
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog

START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _rows(table, first: int, count: int, day_offset: int) -> pa.Table:
    at = START + timedelta(days=day_offset)
    columns = {
        "prediction_id": [f"p-{n}" for n in range(first, first + count)],  # stored as their uuid5
        "customer_id": [f"c{n % 7}" for n in range(first, first + count)],
        "prediction": [n % 2 for n in range(first, first + count)],
        "confidence": [(n % 100) / 100 for n in range(first, first + count)],
        "model_version": ["v1"] * count,
        "prediction_timestamp": [at + timedelta(minutes=n) for n in range(count)],
        "actual": [None] * count,
        "actual_timestamp": [None] * count,
    }
    return predictions_arrow(columns, table.schema().as_arrow())


def _all_rows(table) -> list[tuple]:
    table.refresh()
    return sorted(tuple(row.values()) for row in table.scan().to_arrow().to_pylist())


@pytest.fixture
def catalog(lakehouse_home: Path):
    return LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).catalog()


def test_new_table_is_partitioned_by_prediction_day(catalog) -> None:
    table = ensure_predictions_table(catalog)
    table.append(_rows(table, 0, 5, 0))
    table.append(_rows(table, 5, 5, 1))
    [field] = table.spec().fields
    assert (field.name, str(field.transform)) == ("prediction_day", "day")
    paths = [f.file_path for f in data_files(table)]
    assert sorted(Path(p).parent.name for p in paths) == [
        "prediction_day=2026-03-01",
        "prediction_day=2026-03-02",
    ]
    # a scan for one day plans only that day's file
    day_two = "prediction_timestamp >= '2026-03-02T00:00:00+00:00'"
    assert len(list(table.scan(row_filter=day_two).plan_files())) == 1


def test_a_table_created_unpartitioned_is_partitioned_in_place_and_compacted_without_loss(catalog) -> None:
    catalog.create_namespace_if_not_exists(NAMESPACE)
    old = catalog.create_table(
        IDENTIFIER, schema=predictions_schema()
    )  # the table as earlier releases made it
    old.append(_rows(old, 0, 30, 0))  # one unpartitioned file spanning day 0
    old.append(_rows(old, 30, 30, 1))
    before = _all_rows(old)

    table = ensure_predictions_table(catalog)
    assert [f.name for f in table.spec().fields] == ["prediction_day"]
    assert _all_rows(table) == before  # evolving the spec touched no data
    table.append(_rows(table, 60, 10, 1))  # a spool load after the upgrade: partitioned file for day 1
    table.append(_rows(table, 70, 10, 1))
    expected = _all_rows(table)

    due = days_to_compact(table)
    assert sorted(d.isoformat() for d in due) == ["2026-03-01", "2026-03-02"]
    result = compact_small_files(table)
    table.refresh()
    assert (result.days_compacted, result.files_replaced, result.rows_rewritten) == (2, 4, 80)
    assert _all_rows(table) == expected
    files = data_files(table)
    assert len(files) == 2 and {f.spec_id for f in files} == {table.spec().spec_id}
    assert days_to_compact(table) == {}
    assert compact_small_files(table).days_compacted == 0  # nothing left to do


def test_expiry_drops_old_snapshots_and_only_their_unreferenced_files(catalog) -> None:
    table = ensure_predictions_table(catalog)
    for batch in range(3):
        table.append(_rows(table, batch * 10, 10, 0))
    compact_small_files(table)
    table.refresh()
    live = set([f.file_path for f in data_files(table)])
    expected = _all_rows(table)
    snapshots = len(table.metadata.snapshots)

    kept = expire_snapshots(table, now=datetime.now(UTC), retain_days=7)
    assert (kept.snapshots_expired, kept.data_files_deleted) == (0, 0)  # all younger than a week

    result = expire_snapshots(table, now=datetime.now(UTC) + timedelta(days=8), retain_days=7)
    assert result.snapshots_expired == snapshots - 1 and result.snapshots_kept == 1
    assert result.data_files_deleted == 3 and result.bytes_deleted > 0  # the three small pre-compaction files
    assert all(Path(p.removeprefix("file://")).exists() for p in live)
    assert _all_rows(table) == expected


def test_maintenance_asset_reports_what_it_removed(lakehouse_home: Path) -> None:
    import dagster as dg

    from lakehouse_ml.assets.predictions import churn_predictions_maintenance

    iceberg = LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg"))
    table = iceberg.predictions_table()
    for batch in range(4):
        table.append(_rows(table, batch * 10, 10, batch % 2))
    config = {"ops": {"churn_predictions_maintenance": {"config": {"retain_snapshots_days": 0}}}}
    result = dg.materialize(
        [churn_predictions_maintenance], resources={"iceberg": iceberg}, run_config=config
    )
    metadata = result.asset_materializations_for_node("churn_predictions_maintenance")[0].metadata
    numbers = {name: value.value for name, value in metadata.items() if name != "table"}
    assert numbers == {
        "days_compacted": 2,
        "files_compacted": 4,
        "rows_rewritten": 40,
        "data_files_before": 4,
        "data_files_after": 2,
        "snapshots_expired": 5,  # four appends and the delete half of the compaction overwrite
        "snapshots_kept": 1,
        "unreferenced_files_deleted": 4,
        "bytes_deleted": numbers["bytes_deleted"],
    }
    assert numbers["bytes_deleted"] > 0


def test_monitoring_reads_only_the_day_partitions_it_reports(lakehouse_home: Path) -> None:
    from lakehouse_ml.resources.query_engine import DuckDBQueryEngine

    iceberg = LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg"))
    table = iceberg.predictions_table()
    for day in range(4):
        table.append(_rows(table, day * 10, 10, day))
    engine = DuckDBQueryEngine(
        warehouse_path=str(lakehouse_home / "warehouse.duckdb"), iceberg_dir=str(lakehouse_home / "iceberg")
    )
    sql = "SELECT count(*) AS n, min(CAST(prediction_timestamp AS DATE)) AS first FROM {predictions}"
    assert engine.query(sql)["n"].iloc[0] == 40
    since = (START + timedelta(days=2)).date()
    pruned = engine.query(sql, predictions_since=since)
    assert (pruned["n"].iloc[0], pruned["first"].iloc[0].date()) == (20, since)
    files = table.scan(row_filter=f"prediction_timestamp >= '{since}T00:00:00+00:00'").plan_files()
    assert len(list(files)) == 2  # two of the four day partitions are opened
