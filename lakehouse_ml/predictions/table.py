"""Iceberg table ``ml.churn_predictions`` (docs/ARCHITECTURE.md "Predictions table")."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np

from lakehouse_ml.platform.catalog_names import identifier, namespace_of
from lakehouse_ml.serving.spool import server_prediction_id

TABLE_NAME = "churn_predictions"
NAMESPACE = namespace_of(TABLE_NAME)
IDENTIFIER = identifier(TABLE_NAME)
PREDICTION_FIELDS = (
    "prediction_id",
    "customer_id",
    "prediction",
    "confidence",
    "model_version",
    "prediction_timestamp",
)
COLUMNS = (*PREDICTION_FIELDS, "actual", "actual_timestamp")
# the pipeline-clock day (the data's own calendar) of the features a prediction was made on; actuals fall
# due on it. Added after the seed's columns, nullable: rows logged before it have none, and readers take
# the day of prediction_timestamp instead (monitoring/sql.py SCORING_DAY).
SCORING_DAY = "scoring_day"
PARTITION_FIELD = "prediction_day"

# ids the model server wrote before the table held UUIDs: 64 random bits, "-", a per-process counter
SERVER_ID_TEXT = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{1,16})$")
# uuid5 namespace for any other pre-UUID id: the same text always maps to the same UUID
LEGACY_ID_NAMESPACE = uuid.UUID("3f0c7f5e-8a51-4b8e-9d55-1d1f2b0a6c21")


def prediction_uuid(value: object) -> uuid.UUID:
    """``value`` as the table's UUID: a UUID or its text as is; a pre-UUID server id ``<16 hex>-<hex>`` as
    ``server_prediction_id``; any other non-empty text as uuid5 in ``LEGACY_ID_NAMESPACE``."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes) and len(value) == 16:
        return uuid.UUID(bytes=value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"prediction_id must be a UUID or non-empty text, got {value!r}")
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    legacy = SERVER_ID_TEXT.match(value)
    if legacy:
        return server_prediction_id(int(legacy.group(1), 16), int(legacy.group(2), 16))
    return uuid.uuid5(LEGACY_ID_NAMESPACE, value)


def predictions_schema():
    """The seed's types: ``prediction_id`` UUID (the identifier field: one row per prediction),
    ``prediction`` and ``actual`` BOOLEAN, ``confidence`` FLOAT; actuals arrive later, so nullable; then
    ``scoring_day`` DATE (see ``SCORING_DAY``)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import (
        BooleanType,
        DateType,
        FloatType,
        NestedField,
        StringType,
        TimestamptzType,
        UUIDType,
    )

    return Schema(
        NestedField(1, "prediction_id", UUIDType(), required=True),
        NestedField(2, "customer_id", StringType(), required=True),
        NestedField(3, "prediction", BooleanType(), required=True),
        NestedField(4, "confidence", FloatType(), required=True),
        NestedField(5, "model_version", StringType(), required=True),
        NestedField(6, "prediction_timestamp", TimestamptzType(), required=True),
        NestedField(7, "actual", BooleanType(), required=False),
        NestedField(8, "actual_timestamp", TimestamptzType(), required=False),
        NestedField(
            9, SCORING_DAY, DateType(), required=False, doc="pipeline-clock day of the features scored"
        ),
        identifier_field_ids=[1],
    )


def predictions_arrow(columns: dict[str, list], schema):
    """Python values (ids as text or UUID, 0/1 or bools, floats, days as dates or ISO text) as an Arrow table
    of ``schema`` (the table's ``schema().as_arrow()``); a column left out is null."""
    import pyarrow as pa

    count = len(next(iter(columns.values()))) if columns else 0
    converters = {
        "prediction_id": lambda v: prediction_uuid(v).bytes,
        "prediction": _as_bool,
        "actual": _as_bool,
        SCORING_DAY: _as_date,
    }
    arrays = {}
    for name in schema.names:
        values = columns.get(name, [None] * count)
        convert = converters.get(name)
        arrays[name] = [None if v is None else convert(v) for v in values] if convert else values
    return pa.Table.from_pydict(arrays, schema=schema)


def _as_bool(value: object) -> bool:
    if value in (0, 1):  # True and False are 1 and 0
        return bool(value)
    raise ValueError(f"expected 0/1 or a bool, got {value!r}")


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"scoring_day must be a day, got the timestamp {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError(f"scoring_day must be a date or YYYY-MM-DD, got {value!r}")


def predictions_partition_spec(schema):
    """Partitioned by day of ``prediction_timestamp``: monitoring reads the last days, maintenance compacts
    per day, and the spool's small appends land in today's partition only."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform

    source = schema.find_field("prediction_timestamp").field_id
    return PartitionSpec(PartitionField(source, 1000, DayTransform(), PARTITION_FIELD))


def days_filter(days):
    """A row filter selecting the predictions made on ``days`` (UTC): one term per run of consecutive days,
    on the partition source column so scans read only those day partitions. pyiceberg cannot filter on a
    UUID column (Arrow has no kernels for its UUID extension type), so lookups by ``prediction_id`` scan
    the days their predictions were made and match ids in Arrow."""
    from functools import reduce

    from pyiceberg.expressions import AlwaysFalse, And, GreaterThanOrEqual, LessThan, Or

    terms = [
        And(
            GreaterThanOrEqual("prediction_timestamp", _midnight(first).isoformat()),
            LessThan("prediction_timestamp", _midnight(last + timedelta(days=1)).isoformat()),
        )
        for first, last in day_ranges(days)
    ]
    return reduce(Or, terms) if terms else AlwaysFalse()


def times_filter(timestamps):
    """A row filter selecting predictions made at the instants of ``timestamps`` (aware datetimes): per day,
    the span from that day's earliest to its latest instant. A stored copy of a prediction has the same
    timestamp, so an id lookup needs only these rows; Iceberg's per-file bounds on ``prediction_timestamp``
    then skip the files of a day written at other times (a day's batch scores, for a spool load)."""
    from functools import reduce

    from pyiceberg.expressions import AlwaysFalse, And, GreaterThanOrEqual, LessThanOrEqual, Or

    spans: dict[date, tuple[datetime, datetime]] = {}
    for stamp in timestamps:
        day = stamp.astimezone(UTC).date()
        first, last = spans.get(day, (stamp, stamp))
        spans[day] = (min(first, stamp), max(last, stamp))
    terms = [
        And(
            GreaterThanOrEqual("prediction_timestamp", first.astimezone(UTC).isoformat()),
            LessThanOrEqual("prediction_timestamp", last.astimezone(UTC).isoformat()),
        )
        for first, last in (spans[day] for day in sorted(spans))
    ]
    return reduce(Or, terms) if terms else AlwaysFalse()


def day_ranges(days) -> list[tuple[date, date]]:
    """Days as sorted [first, last] runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def id_storage(column):
    """A ``prediction_id`` Arrow column (UUID extension type) as its 16-byte storage, which Arrow's compute
    kernels (``is_in``, ``equal``) accept where they reject the extension type."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.storage if isinstance(array, pa.ExtensionArray) else array


def id_bytes(column) -> list[bytes]:
    """A ``prediction_id`` Arrow column as 16-byte values, for matching in Python."""
    return id_storage(column).to_pylist()


def scored_arrow(columns: dict, schema):
    """Batch-scored predictions (``lakehouse_ml.predictions.batch.score_customers``: ids as 16-byte big-endian
    values in one buffer, numpy columns, one timestamp for all) as an Arrow table of ``schema``, built
    column-wise (``predictions_arrow`` converts value by value); columns not given are null."""
    import pyarrow as pa

    count = len(columns["customer_id"])
    ids = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), count, [None, pa.py_buffer(columns["prediction_id"])]
    )
    stamp = columns["prediction_timestamp"].astimezone(UTC).replace(tzinfo=None)
    given = {
        "prediction_id": ids,
        "customer_id": pa.array(columns["customer_id"], type=pa.large_string()),
        "prediction": pa.array(columns["prediction"], type=pa.bool_()),
        "confidence": pa.array(columns["confidence"], type=pa.float64()),
        "model_version": pa.array(columns["model_version"], type=pa.large_string()),
        "prediction_timestamp": pa.array(np.full(count, np.datetime64(stamp, "us"))),
    }
    if columns.get(SCORING_DAY) is not None:
        given[SCORING_DAY] = pa.array(
            np.full(count, np.datetime64(columns[SCORING_DAY], "D")), type=pa.date32()
        )
    arrays = []
    for target in schema:
        array = given.get(target.name)
        if array is None:
            arrays.append(pa.nulls(count, type=target.type))
        elif isinstance(target.type, pa.ExtensionType):
            arrays.append(pa.ExtensionArray.from_storage(target.type, array.cast(target.type.storage_type)))
        else:
            arrays.append(array.cast(target.type))
    return pa.Table.from_arrays(arrays, schema=schema)
