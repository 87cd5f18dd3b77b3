"""Maintenance of ``ml.churn_predictions``: compact the small files that frequent spool loads leave in each
day partition, expire old snapshots and delete the data files no remaining snapshot references.

Compaction rewrites every day that has more than one small file (or rows in a file written before the table
was partitioned) with one ``overwrite`` whose filter covers exactly those days: a single Iceberg commit, so a
reader sees either the old files or the new ones, and a spool load committed in between makes the commit
fail instead of losing rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from lakehouse_ml.predictions.table import PARTITION_FIELD

SMALL_FILE_BYTES = 32 * 1024 * 1024
RETAIN_SNAPSHOTS_DAYS = 7


@dataclass(frozen=True)
class CompactionResult:
    days_compacted: int
    files_replaced: int
    rows_rewritten: int


@dataclass(frozen=True)
class ExpiryResult:
    snapshots_expired: int
    snapshots_kept: int
    data_files_deleted: int
    bytes_deleted: int


def days_to_compact(table) -> dict[date, set[str]]:
    """Days of the current snapshot with more than one small data file, or with rows in a file written before
    the day partition; each with the files that hold its rows."""
    current_spec = table.spec().spec_id
    small: dict[date, set[str]] = defaultdict(set)
    unpartitioned: dict[date, set[str]] = defaultdict(set)
    for file in table.inspect.data_files().to_pylist():
        day = (file.get("partition") or {}).get(PARTITION_FIELD) if file["spec_id"] == current_spec else None
        if day is not None:
            if file["file_size_in_bytes"] < SMALL_FILE_BYTES:
                small[_as_date(day)].add(file["file_path"])
            continue
        bounds = file["readable_metrics"]["prediction_timestamp"]
        first, last = bounds["lower_bound"].date(), bounds["upper_bound"].date()
        for n in range((last - first).days + 1):
            unpartitioned[first + timedelta(days=n)].add(file["file_path"])
    due = {day: files for day, files in small.items() if len(files) > 1}
    for day, files in unpartitioned.items():
        due[day] = due.get(day, set()) | small.get(day, set()) | files
    return due


def _day_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as [first, last] runs of consecutive days (one filter term per run)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def compact_small_files(table) -> CompactionResult:
    from functools import reduce

    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan, Or

    due = days_to_compact(table)
    if not due:
        return CompactionResult(0, 0, 0)
    terms = [
        And(
            GreaterThanOrEqual("prediction_timestamp", _midnight(first).isoformat()),
            LessThan("prediction_timestamp", _midnight(last + timedelta(days=1)).isoformat()),
        )
        for first, last in _day_ranges(list(due))
    ]
    selection = reduce(Or, terms) if len(terms) > 1 else terms[0]
    rows = table.scan(row_filter=selection).to_arrow()
    schema = table.schema().as_arrow()
    table.overwrite(rows.select(schema.names).cast(schema), overwrite_filter=selection)
    replaced = set().union(*due.values())
    return CompactionResult(len(due), len(replaced), rows.num_rows)


def expire_snapshots(table, now: datetime, retain_days: int = RETAIN_SNAPSHOTS_DAYS) -> ExpiryResult:
    """Expire snapshots older than ``retain_days`` (never the current one), then delete the data files that
    only expired snapshots referenced (pyiceberg's expiry changes metadata only)."""
    before = table.inspect.all_data_files().select(["file_path", "file_size_in_bytes"]).to_pylist()
    snapshots = len(table.metadata.snapshots)
    table.maintenance.expire_snapshots().older_than(now - timedelta(days=retain_days)).commit()
    table = table.refresh()
    kept = len(table.metadata.snapshots)
    still_used = set(table.inspect.all_data_files()["file_path"].to_pylist())
    orphaned = {
        row["file_path"]: row["file_size_in_bytes"] for row in before if row["file_path"] not in still_used
    }
    for path in orphaned:
        table.io.delete(path)
    return ExpiryResult(snapshots - kept, kept, len(orphaned), sum(orphaned.values()))


def _as_date(partition_value: date | int) -> date:
    """A day partition value: a date, or days since 1970-01-01 depending on how it was read."""
    if isinstance(partition_value, date):
        return partition_value
    return date(1970, 1, 1) + timedelta(days=partition_value)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
