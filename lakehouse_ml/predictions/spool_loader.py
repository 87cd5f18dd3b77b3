"""Load the model server's prediction spool into ``ml.churn_predictions`` exactly once.

Protocol: ``checkpoint.json`` in the spool folder holds, per segment, the byte offset up to which
records are in the table. A run reads every segment from its offset to the last complete line,
inserts the records whose ``prediction_id`` the table does not have yet (an insert-only upsert, see
``insert_new_predictions``), and only then advances the checkpoint. Ids are stored as UUIDs; a record
from a server that wrote text ids gets the UUID the table migration gave such ids (``prediction_uuid``).
A crash between the commit and the checkpoint makes the next run
read those records again, and the upsert skips them: no duplicates, no loss. Finished segments
(rotated, or whose writer is gone: see ``lakehouse_ml.serving.spool``) are deleted once fully loaded;
a torn last line of a finished segment (the writer was killed mid-write, so that request was never
answered) is counted and dropped. Lines that are not valid records are moved to ``rejected.jsonl``
and counted.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from lakehouse_ml.platform.posix import write_json_atomic
from lakehouse_ml.predictions.table import (
    PREDICTION_FIELDS,
    SCORING_DAY,
    id_storage,
    prediction_uuid,
    predictions_arrow,
    times_filter,
)
from lakehouse_ml.serving.spool import parse_segment_name, writer_gone

CHECKPOINT_FILE = "checkpoint.json"
LOCK_FILE = ".loader.lock"
REJECTED_FILE = "rejected.jsonl"
INSERT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class LoadResult:
    segments: int
    records_read: int
    rows_inserted: int
    rejected: int
    torn: int
    segments_removed: int
    table_rows: int


def _segments(spool_dir: Path) -> list[tuple[Path, bool]]:
    """Segment files in write order, each with whether it is finished (will not grow any more)."""
    found = []
    for path in spool_dir.iterdir():
        parsed = parse_segment_name(path.name)
        if parsed is not None:
            found.append((parsed, path))
    found.sort()
    newest = {parsed.writer(): (parsed, path) for parsed, path in found}  # sorted: the last one wins
    gone = {writer: writer_gone(parsed, path.stat().st_mtime) for writer, (parsed, path) in newest.items()}
    return [
        (path, parsed.sequence < newest[parsed.writer()][0].sequence or gone[parsed.writer()])
        for parsed, path in found
    ]


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
        if not isinstance(record, dict) or any(field not in record for field in PREDICTION_FIELDS):
            return None
        timestamp = datetime.fromisoformat(record["prediction_timestamp"])
        if timestamp.tzinfo is None:
            return None
        prediction = record["prediction"]
        if prediction not in (0, 1) or not isinstance(record["confidence"], int | float):
            return None
        if not all(
            isinstance(record[f], str) and record[f]
            for f in ("prediction_id", "customer_id", "model_version")
        ):
            return None
        scoring_day = record.get(SCORING_DAY)  # absent in records of servers older than the column
        return {
            **record,
            "prediction_id": prediction_uuid(record["prediction_id"]),
            "prediction_timestamp": timestamp,
            "confidence": float(record["confidence"]),
            SCORING_DAY: None if scoring_day is None else date.fromisoformat(scoring_day),
        }
    except (ValueError, TypeError):
        return None


def insert_new_predictions(table, records: list[dict]) -> int:
    """Append the ``records`` whose ``prediction_id`` the table does not hold yet; returns how many. The ids
    are looked up among the stored rows made within the records' time span of each day (an id's timestamp
    never changes; ``times_filter``), matched in Arrow, and the append commits on top of the snapshot that
    was read, so a concurrent load fails the commit instead of inserting a duplicate. Nothing is rewritten:
    a load adds one data file per day partition, or no snapshot at all when every record is known."""
    import pyarrow.compute as pc

    if not records:
        return 0
    schema = table.schema().as_arrow()
    fields = (*PREDICTION_FIELDS, SCORING_DAY)
    batch = predictions_arrow({name: [r.get(name) for r in records] for name in fields}, schema)
    span = times_filter(r["prediction_timestamp"] for r in records)
    with table.transaction() as transaction:
        stored = table.scan(row_filter=span, selected_fields=("prediction_id",)).to_arrow()
        known = id_storage(stored.column("prediction_id"))
        fresh = batch.filter(pc.invert(pc.is_in(id_storage(batch.column("prediction_id")), value_set=known)))
        if fresh.num_rows:
            transaction.append(fresh)
    return fresh.num_rows


def load_spool(table, spool_dir: Path) -> LoadResult:
    """Append the spool's new records to ``table`` (a pyiceberg Table with the predictions schema)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    with open(spool_dir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one loader at a time
        return _load_locked(table, spool_dir)


def _load_locked(table, spool_dir: Path) -> LoadResult:
    checkpoint_path = spool_dir / CHECKPOINT_FILE
    checkpoint: dict[str, int] = json.loads(checkpoint_path.read_text()) if checkpoint_path.exists() else {}
    segments = _segments(spool_dir)
    records: list[dict] = []
    rejected: list[bytes] = []
    offsets: dict[str, int] = {}
    consumed: list[Path] = []
    torn = 0
    for path, finished in segments:
        start = checkpoint.get(path.name, 0)
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            record = _parse(line)
            if record is None:
                rejected.append(line)
            else:
                records.append(record)
        offsets[path.name] = start + end
        if finished:
            torn += int(end < len(data))
            consumed.append(path)

    seen: set = set()
    unique = [r for r in records if not (r["prediction_id"] in seen or seen.add(r["prediction_id"]))]
    inserted = 0
    for begin in range(0, len(unique), INSERT_BATCH_ROWS):
        inserted += insert_new_predictions(table, unique[begin : begin + INSERT_BATCH_ROWS])
    if rejected:
        with open(spool_dir / REJECTED_FILE, "ab") as handle:
            handle.write(b"".join(line + b"\n" for line in rejected))
    write_json_atomic(checkpoint_path, offsets)

    for path in consumed:
        path.unlink()
        offsets.pop(path.name, None)
    write_json_atomic(checkpoint_path, offsets)
    table.refresh()
    return LoadResult(
        segments=len(segments),
        records_read=len(records),
        rows_inserted=inserted,
        rejected=len(rejected),
        torn=torn,
        segments_removed=len(consumed),
        table_rows=_row_count(table),
    )


def _row_count(table) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", 0))
