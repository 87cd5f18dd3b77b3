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

from lakehouse_ml.predictions.table import PARTITION_FIELD, days_filter

SMALL_FILE_BYTES = 32 * 1024 * 1024
RETAIN_SNAPSHOTS_DAYS = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def data_files(table, snapshot=None) -> list:
    """The pyiceberg ``DataFile``s of ``snapshot`` (default: the current one), read from its manifests.
    pyiceberg's ``inspect`` tables cannot be built for a table with a UUID column (their readable metrics
    hold UUID bounds that Arrow cannot convert), so maintenance reads the manifests itself."""
    from pyiceberg.manifest import ManifestContent

    snapshot = snapshot or table.current_snapshot()
    if snapshot is None:
        return []
    files = []
    for manifest in snapshot.manifests(table.io):
        if manifest.content == ManifestContent.DATA:
            files.extend(entry.data_file for entry in manifest.fetch_manifest_entry(table.io))
    return files


def _referenced_files(table) -> dict[str, int]:
    """Path -> size of every data file any snapshot of ``table`` references (each manifest read once)."""
    from pyiceberg.manifest import ManifestContent

    manifests = {
        manifest.manifest_path: manifest
        for snapshot in table.metadata.snapshots
        for manifest in snapshot.manifests(table.io)
        if manifest.content == ManifestContent.DATA
    }
    return {
        entry.data_file.file_path: entry.data_file.file_size_in_bytes
        for manifest in manifests.values()
        for entry in manifest.fetch_manifest_entry(table.io)
    }


def days_to_compact(table) -> dict[date, set[str]]:
    """Days of the current snapshot with more than one small data file, or with rows in a file written before
    the day partition; each with the files that hold its rows."""
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import TimestamptzType

    spec = table.spec()
    position = [field.name for field in spec.fields].index(PARTITION_FIELD)
    timestamp_id = table.schema().find_field("prediction_timestamp").field_id
    small: dict[date, set[str]] = defaultdict(set)
    unpartitioned: dict[date, set[str]] = defaultdict(set)
    for file in data_files(table):
        if file.spec_id == spec.spec_id:
            if file.file_size_in_bytes < SMALL_FILE_BYTES:
                small[_as_date(file.partition[position])].add(file.file_path)
            continue
        first, last = (
            _EPOCH + timedelta(microseconds=from_bytes(TimestamptzType(), bounds[timestamp_id]))
            for bounds in (file.lower_bounds, file.upper_bounds)
        )
        for n in range((last.date() - first.date()).days + 1):
            unpartitioned[first.date() + timedelta(days=n)].add(file.file_path)
    due = {day: files for day, files in small.items() if len(files) > 1}
    for day, files in unpartitioned.items():
        due[day] = due.get(day, set()) | small.get(day, set()) | files
    return due


def compact_small_files(table) -> CompactionResult:
    due = days_to_compact(table)
    if not due:
        return CompactionResult(0, 0, 0)
    selection = days_filter(due)
    rows = table.scan(row_filter=selection).to_arrow()
    schema = table.schema().as_arrow()
    table.overwrite(rows.select(schema.names).cast(schema), overwrite_filter=selection)
    replaced = set().union(*due.values())
    return CompactionResult(len(due), len(replaced), rows.num_rows)


def expire_snapshots(table, now: datetime, retain_days: int = RETAIN_SNAPSHOTS_DAYS) -> ExpiryResult:
    """Expire snapshots older than ``retain_days`` (never the current one), then delete the data files that
    only expired snapshots referenced (pyiceberg's expiry changes metadata only)."""
    before = _referenced_files(table)
    snapshots = len(table.metadata.snapshots)
    table.maintenance.expire_snapshots().older_than(now - timedelta(days=retain_days)).commit()
    table = table.refresh()
    kept = len(table.metadata.snapshots)
    still_used = _referenced_files(table)
    orphaned = {path: size for path, size in before.items() if path not in still_used}
    for path in orphaned:
        table.io.delete(path)
    return ExpiryResult(snapshots - kept, kept, len(orphaned), sum(orphaned.values()))


def _as_date(partition_value: date | int) -> date:
    """A day partition value: a date, or days since 1970-01-01 depending on how it was read."""
    if isinstance(partition_value, date):
        return partition_value
    return date(1970, 1, 1) + timedelta(days=partition_value)
