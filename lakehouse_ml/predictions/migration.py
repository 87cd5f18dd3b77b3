"""Bring a ``ml.churn_predictions`` created by an earlier release up to date in place: the seed's column types
(``migrate_to_seed_types``: text ids, 0/1 integers and double confidence), then the ``scoring_day`` column
(``add_scoring_day``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lakehouse_ml.predictions.table import (
    COLUMNS,
    SCORING_DAY,
    SERVER_ID_TEXT,
    prediction_uuid,
    predictions_schema,
)


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
        hashed = sum(not SERVER_ID_TEXT.match(v) and not _is_uuid_text(v) for v in old_ids)
    return SeedTypesMigration(tuple(changed), rows.num_rows, hashed)


def add_scoring_day(table) -> bool:
    """Add the nullable ``scoring_day`` column to a table created without it; True when it was added.

    Metadata only, one commit: no data file is rewritten, so no row can be lost, and the rows logged before
    keep a null scoring day, which readers take as the day of ``prediction_timestamp`` (the only day those
    predictions recorded). Backfilling it would rewrite the whole table to store what readers derive anyway.
    """
    if SCORING_DAY in table.schema().column_names:
        return False
    field = predictions_schema().find_field(SCORING_DAY)
    with table.update_schema() as update:
        update.add_column(SCORING_DAY, field.field_type, doc=field.doc)
    return True


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
