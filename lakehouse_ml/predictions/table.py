"""Iceberg table ``ml.churn_predictions`` (docs/ARCHITECTURE.md "Predictions table")."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

NAMESPACE = "ml"
TABLE_NAME = "churn_predictions"
IDENTIFIER = f"{NAMESPACE}.{TABLE_NAME}"
PREDICTION_FIELDS = (
    "prediction_id",
    "customer_id",
    "prediction",
    "confidence",
    "model_version",
    "prediction_timestamp",
)
COLUMNS = (*PREDICTION_FIELDS, "actual", "actual_timestamp")
PARTITION_FIELD = "prediction_day"

# ids the model server wrote before the table held UUIDs: 64 random bits, "-", a per-process counter
_SERVER_ID = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{1,16})$")
# uuid5 namespace for any other pre-UUID id: the same text always maps to the same UUID
LEGACY_ID_NAMESPACE = uuid.UUID("3f0c7f5e-8a51-4b8e-9d55-1d1f2b0a6c21")


def server_prediction_id(prefix: int, counter: int) -> uuid.UUID:
    """The id the model server gives its ``counter``-th prediction: its random 64-bit ``prefix`` in the high
    half, the counter in the low half (cheap, unique per process, and the same value the migration gives
    the server's older ``<prefix hex>-<counter hex>`` text ids)."""
    return uuid.UUID(int=(prefix << 64) | counter)


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
    legacy = _SERVER_ID.match(value)
    if legacy:
        return server_prediction_id(int(legacy.group(1), 16), int(legacy.group(2), 16))
    return uuid.uuid5(LEGACY_ID_NAMESPACE, value)


def predictions_schema():
    """The seed's types: ``prediction_id`` UUID (the identifier field: one row per prediction),
    ``prediction`` and ``actual`` BOOLEAN, ``confidence`` FLOAT; actuals arrive later, so nullable."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import BooleanType, FloatType, NestedField, StringType, TimestamptzType, UUIDType

    return Schema(
        NestedField(1, "prediction_id", UUIDType(), required=True),
        NestedField(2, "customer_id", StringType(), required=True),
        NestedField(3, "prediction", BooleanType(), required=True),
        NestedField(4, "confidence", FloatType(), required=True),
        NestedField(5, "model_version", StringType(), required=True),
        NestedField(6, "prediction_timestamp", TimestamptzType(), required=True),
        NestedField(7, "actual", BooleanType(), required=False),
        NestedField(8, "actual_timestamp", TimestamptzType(), required=False),
        identifier_field_ids=[1],
    )


def predictions_arrow(columns: dict[str, list], schema):
    """Python values (ids as text or UUID, 0/1 or bools, floats) as an Arrow table of ``schema`` (the table's
    ``schema().as_arrow()``); a column left out is null."""
    import pyarrow as pa

    count = len(next(iter(columns.values()))) if columns else 0
    converters = {
        "prediction_id": lambda v: prediction_uuid(v).bytes,
        "prediction": _as_bool,
        "actual": _as_bool,
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


@dataclass(frozen=True)
class SeedTypesMigration:
    columns: tuple[str, ...]  # the columns whose type changed; empty when the table had the seed's types
    rows: int
    ids_hashed: int  # ids that were neither UUID text nor the server's own format: uuid5 of the text


SEED_TYPED_COLUMNS = ("prediction_id", "prediction", "confidence", "actual")


def columns_off_seed_types(table) -> list[str]:
    seed, current = predictions_schema(), table.schema()
    return [
        name
        for name in SEED_TYPED_COLUMNS
        if current.find_field(name).field_type != seed.find_field(name).field_type
    ]


def migrate_to_seed_types(table) -> SeedTypesMigration:
    """Give an existing table the seed's column types in place, keeping every row, in one Iceberg commit.

    Iceberg promotes only int->long, float->double and decimal widening in place; string->uuid,
    int->boolean and double->float are not promotions. So the changed columns are dropped and re-added
    under the same names (new field ids), and every row is rewritten with converted values by an
    ``overwrite`` in the same transaction: readers see the old table or the new one, never the dropped
    columns, and a commit by another writer in between makes this commit fail instead of losing rows.
    The table keeps its identity, history, partition spec and properties. Values: ids by
    ``prediction_uuid``, 0/1 to booleans (anything else fails, naming the column), confidence rounded to
    32 bits (a relative change below 6e-8).
    """
    changed = columns_off_seed_types(table)
    if not changed:
        return SeedTypesMigration((), 0, 0)
    seed = predictions_schema()
    rows = table.scan().to_arrow()
    with table.transaction() as transaction:
        with transaction.update_schema(allow_incompatible_changes=True) as update:
            if "prediction_id" in changed:
                update.set_identifier_fields()
            for name in changed:
                update.delete_column(name)
        with transaction.update_schema(allow_incompatible_changes=True) as update:
            for name in changed:
                field = seed.find_field(name)
                update.add_column(name, field.field_type, required=field.required)
            update.move_first(COLUMNS[0])
            for before, name in zip(COLUMNS, COLUMNS[1:], strict=False):
                update.move_after(name, before)
            update.set_identifier_fields("prediction_id")
        schema = transaction.table_metadata.schema().as_arrow()
        transaction.overwrite(_converted(rows, schema))
    hashed = 0
    if "prediction_id" in changed:
        old_ids = rows["prediction_id"].to_pylist()
        hashed = sum(not _SERVER_ID.match(v) and not _is_uuid_text(v) for v in old_ids)
    return SeedTypesMigration(tuple(changed), rows.num_rows, hashed)


def _converted(rows, schema):
    """``rows`` of the old schema as ``schema``, column by column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for field in schema:
        column = rows.column(field.name)
        if pa.types.is_boolean(field.type) and not pa.types.is_boolean(column.type):
            values = pc.drop_null(column)
            valid = pc.sum(pc.is_in(values, value_set=pa.array([0, 1], column.type))).as_py() or 0
            off = len(values) - valid
            if off:
                raise ValueError(f"ml.churn_predictions.{field.name}: {off} value(s) are not 0/1 or null")
            column = pc.cast(column, pa.bool_())
        elif isinstance(field.type, pa.UuidType) and not isinstance(column.type, pa.UuidType):
            texts = column.to_pylist()
            ids = [prediction_uuid(v).bytes for v in texts]
            _refuse_merged_ids(texts, ids)
            column = pa.ExtensionArray.from_storage(pa.uuid(), pa.array(ids, pa.binary(16)))
        arrays.append(pc.cast(column, field.type, safe=False))
    return pa.Table.from_arrays(arrays, schema=schema)


def _refuse_merged_ids(texts: list[str], ids: list[bytes]) -> None:
    """Two different old ids must not become one UUID (e.g. the same UUID in upper and lower case)."""
    first_text: dict[bytes, str] = {}
    for text, key in zip(texts, ids, strict=True):
        other = first_text.setdefault(key, text)
        if other != text:
            raise ValueError(f"ml.churn_predictions.prediction_id: {other!r} and {text!r} map to one UUID")


def _is_uuid_text(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def ensure_predictions_table(catalog):
    """Load ``ml.churn_predictions``, creating the namespace and table on first use. A table created before
    it was partitioned gets the day partition in place (metadata only: its files keep their unpartitioned
    spec and are still read; new files and compactions are written per day); a table created before it had
    the seed's column types is migrated in place (``migrate_to_seed_types``)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.transforms import DayTransform

    catalog.create_namespace_if_not_exists(NAMESPACE)
    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        schema = predictions_schema()
        return catalog.create_table_if_not_exists(
            IDENTIFIER, schema=schema, partition_spec=predictions_partition_spec(schema)
        )
    if not table.spec().fields:
        with table.update_spec() as spec:
            spec.add_field("prediction_timestamp", DayTransform(), PARTITION_FIELD)
    migration = migrate_to_seed_types(table)
    if migration.columns:
        logging.getLogger(__name__).warning(
            "%s migrated to the seed's types: columns %s, %d rows rewritten, %d ids hashed to uuid5",
            IDENTIFIER,
            ", ".join(migration.columns),
            migration.rows,
            migration.ids_hashed,
        )
    return table
