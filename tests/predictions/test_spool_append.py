"""The spool load only appends (issue 23): one append snapshot with the new rows, no file rewritten, the
id lookup skips the day's batch-score files, and a reload of the same spool commits nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lakehouse_ml.predictions.batch import score_customers
from lakehouse_ml.predictions.spool_loader import CHECKPOINT_FILE, _parse, load_spool
from lakehouse_ml.predictions.table import scored_arrow, server_prediction_id, times_filter
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.serving.servable import load_servable
from lakehouse_ml.serving.spool import SpoolWriter
from tests.support.model_builders import sample_features, write_model

DAY = datetime(2026, 3, 2, tzinfo=UTC)
BATCH_ROWS = 2_000
SPOOLED = 40


def _record(n: int) -> bytes:
    stamp = DAY + timedelta(hours=12, seconds=n)
    record = {
        "prediction_id": str(server_prediction_id(0x5EED, n)),
        "customer_id": f"c{n:05d}",
        "prediction": n % 2,
        "confidence": 0.25,
        "model_version": "v1",
        "prediction_timestamp": stamp.isoformat(),
    }
    return json.dumps(record).encode() + b"\n"


def _files(table) -> set[str]:
    return {task.file.file_path for task in table.scan().plan_files()}


def test_a_spool_load_appends_its_new_rows_and_rewrites_nothing(lakehouse_home, tmp_path):
    table = LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).predictions_table()
    model = load_servable("v1", write_model(tmp_path / "v1", seed=1))
    columns, _ = score_customers(
        sample_features(BATCH_ROWS), model, None, 0, DAY + timedelta(hours=2), DAY.date()
    )
    table.append(scored_arrow(columns, table.schema().as_arrow()))
    before = table.refresh().current_snapshot()
    batch_files = _files(table)

    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    lines = [_record(n) for n in range(SPOOLED)]
    for line in lines:
        writer.write(line)
    lookup = times_filter(_parse(line.strip())["prediction_timestamp"] for line in lines)
    assert not {task.file.file_path for task in table.scan(row_filter=lookup).plan_files()} & batch_files

    loaded = load_spool(table, spool)
    assert (loaded.rows_inserted, loaded.table_rows) == (SPOOLED, BATCH_ROWS + SPOOLED)
    after = table.refresh().current_snapshot()
    assert after.parent_snapshot_id == before.snapshot_id
    summary = after.summary
    assert summary.operation.value == "append"
    assert (summary["added-records"], summary["added-data-files"]) == (str(SPOOLED), "1")
    assert {summary.get("deleted-data-files"), summary.get("deleted-records")} <= {None, "0"}
    assert batch_files < _files(table)

    (spool / CHECKPOINT_FILE).unlink()  # the loader died between the commit and the checkpoint
    again = load_spool(table, spool)
    writer.close()
    assert (again.records_read, again.rows_inserted, again.table_rows) == (SPOOLED, 0, BATCH_ROWS + SPOOLED)
    assert table.refresh().current_snapshot().snapshot_id == after.snapshot_id
