"""The prediction spool and its exactly-once load into the Iceberg table ml.churn_predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from lakehouse_ml.predictions.spool_loader import CHECKPOINT_FILE, REJECTED_FILE, load_spool
from lakehouse_ml.predictions.table import (
    COLUMNS,
    IDENTIFIER,
    LEGACY_ID_NAMESPACE,
    SCORING_DAY,
    server_prediction_id,
)
from lakehouse_ml.resources.iceberg import LocalIcebergCatalog
from lakehouse_ml.serving.spool import SpoolWriter, segment_name

SERVER = 0x5EED5EED5EED5EED


def _pid(n: int) -> str:
    return str(server_prediction_id(SERVER, n))


def _record(n: int, version: str = "v1", prediction_id: str | None = None) -> bytes:
    return (
        json.dumps(
            {
                "prediction_id": prediction_id or _pid(n),
                "customer_id": f"c{n % 50:05d}",
                "prediction": n % 2,
                "confidence": (n % 100) / 100,
                "model_version": version,
                "prediction_timestamp": datetime(2026, 1, 1, 12, tzinfo=UTC).isoformat(),
            }
        )
        + "\n"
    ).encode()


@pytest.fixture
def table(lakehouse_home):
    return LocalIcebergCatalog(iceberg_dir=str(lakehouse_home / "iceberg")).predictions_table()


def _ids(table) -> list[str]:
    table.refresh()
    ids = table.scan(selected_fields=("prediction_id",)).to_arrow().column("prediction_id").to_pylist()
    return [str(i) for i in ids]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_table_has_the_contract_columns(table):
    assert tuple(table.schema().column_names) == (*COLUMNS, SCORING_DAY)
    assert table.name() == tuple(IDENTIFIER.split("."))


def test_spool_loads_exactly_once_across_rotation_and_reruns(table, lakehouse_home):
    spool = lakehouse_home / "serving" / "spool"
    writer = SpoolWriter(spool, max_segment_bytes=2_000)
    for n in range(60):
        writer.write(_record(n))
    assert len(list(spool.glob("*.jsonl"))) > 1  # rotated
    first = load_spool(table, spool)
    assert first.rows_inserted == 60 and first.table_rows == 60
    for n in range(60, 75):  # the live segment keeps growing after a load
        writer.write(_record(n))
    second = load_spool(table, spool)
    assert second.rows_inserted == 15 and second.records_read == 15
    writer.close()
    assert load_spool(table, spool).rows_inserted == 0
    ids = _ids(table)
    assert sorted(ids) == sorted(_pid(n) for n in range(75))


def test_a_lost_checkpoint_does_not_duplicate_rows(table, lakehouse_home):
    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    for n in range(40):
        writer.write(_record(n))
    load_spool(table, spool)
    (spool / CHECKPOINT_FILE).unlink()  # as if the loader died between the Iceberg commit and the checkpoint
    again = load_spool(table, spool)
    assert again.records_read == 40 and again.rows_inserted == 0
    ids = _ids(table)
    assert len(ids) == len(set(ids)) == 40


def test_backfilled_actuals_survive_a_reload(table, lakehouse_home):
    import pyarrow as pa

    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    writer.write(_record(1))
    load_spool(table, spool)
    row = table.scan().to_arrow()
    schema = table.schema().as_arrow()
    row = row.set_column(row.schema.get_field_index("actual"), schema.field("actual"), pa.array([True]))
    table.overwrite(row)
    (spool / CHECKPOINT_FILE).unlink()
    load_spool(table, spool)
    table.refresh()
    assert table.scan().to_arrow().column("actual").to_pylist() == [True]


def test_records_of_a_server_that_wrote_text_ids_load_as_the_uuids_the_migration_gives_them(
    table, lakehouse_home
):
    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    legacy = f"{SERVER:016x}-{5:x}"  # the text id the server wrote before the log held UUIDs
    writer.write(_record(5, prediction_id=legacy) + _record(5) + _record(6, prediction_id="bench-6"))
    result = load_spool(table, spool)
    assert (result.records_read, result.rows_inserted) == (3, 2)  # the legacy id is _pid(5): one row
    assert sorted(_ids(table)) == sorted([_pid(5), str(uuid.uuid5(LEGACY_ID_NAMESPACE, "bench-6"))])
    rows = table.scan().to_arrow()
    assert (
        rows.schema.field("prediction").type == pa.bool_()
        and rows.schema.field("confidence").type == pa.float32()
    )


def test_torn_and_malformed_lines_are_counted_not_loaded(table, lakehouse_home):
    spool = lakehouse_home / "spool"
    spool.mkdir(parents=True)
    segment = spool / segment_name(1, _dead_pid(), 0)  # its writer is gone: the segment is finished
    segment.write_bytes(_record(1) + b'{"prediction_id": "bad"}\n' + _record(2) + _record(3)[:20])
    result = load_spool(table, spool)
    assert (result.rows_inserted, result.rejected, result.torn, result.segments_removed) == (2, 1, 1, 1)
    assert not segment.exists()
    assert b'"bad"' in (spool / REJECTED_FILE).read_bytes()
    assert sorted(_ids(table)) == sorted([_pid(1), _pid(2)])


def test_a_live_segment_keeps_its_partial_tail_for_the_next_run(table, lakehouse_home):
    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool)
    record = _record(9)
    writer.write(_record(8) + record[:15])  # a record half-written by a live writer
    assert load_spool(table, spool).rows_inserted == 1
    writer.write(record[15:])
    assert load_spool(table, spool).rows_inserted == 1
    assert sorted(_ids(table)) == sorted([_pid(8), _pid(9)])


def test_segments_of_a_pod_on_another_host_are_finished_only_once_its_heartbeat_stops(table, lakehouse_home):
    import os
    import time

    from lakehouse_ml.serving.spool import WRITER_GONE_SECONDS

    spool = lakehouse_home / "spool"
    spool.mkdir(parents=True)
    pod = "churn-predictor-predictor-00002-deployment-5d8f9-x7k2q"  # pod names have dashes
    rotated = spool / segment_name(7, 1, 0, host=pod)
    current = spool / segment_name(7, 1, 1, host=pod)
    rotated.write_bytes(_record(1))
    current.write_bytes(_record(2))
    load_spool(table, spool)
    assert not rotated.exists() and current.exists()  # pid 1 here says nothing about the pod's writer

    long_ago = time.time() - WRITER_GONE_SECONDS - 1
    os.utime(current, (long_ago, long_ago))
    current.write_bytes(current.read_bytes() + _record(3)[:10])  # a write bumps mtime: still alive
    assert load_spool(table, spool).segments_removed == 0
    os.utime(current, (long_ago, long_ago))  # no heartbeat for WRITER_GONE_SECONDS: the pod is gone
    result = load_spool(table, spool)
    assert (result.segments_removed, result.torn) == (1, 1)
    assert sorted(_ids(table)) == sorted([_pid(1), _pid(2)])


def test_an_idle_writer_keeps_touching_its_segment(lakehouse_home):
    import os
    import time

    from lakehouse_ml.serving.spool import parse_segment_name

    spool = lakehouse_home / "spool"
    writer = SpoolWriter(spool, heartbeat_seconds=0.05)
    os.utime(writer.path, (1, 1))
    deadline = time.monotonic() + 5
    while os.stat(writer.path).st_mtime < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close()
    assert os.stat(writer.path).st_mtime > time.time() - 60
    name = parse_segment_name(writer.path.name)
    assert (name.pid, name.sequence) == (os.getpid(), 0) and name.host
