"""Backfill ``actual`` / ``actual_timestamp`` into the Iceberg prediction log, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd

ACTUAL_COLUMNS = ("prediction_id", "day", "churned")


def actual_timestamps(days: pd.Series, horizon_days: int) -> pd.Series:
    """When an actual became known: the end of its label window, midnight of day + 1 + horizon (UTC).

    Derived from the data, not the wall clock, so re-running a backfill writes the same values.
    """
    return pd.Series(
        [
            datetime.combine(d, time(), UTC) + timedelta(days=horizon_days + 1)
            for d in pd.to_datetime(days).dt.date
        ],
        index=days.index,
    )


def backfill_actuals(table, labelled: pd.DataFrame, horizon_days: int) -> int:
    """Write ``labelled`` (``prediction_id``, ``day``, ``churned``) into rows whose ``actual`` is null.

    ``table`` is a pyiceberg ``Table`` with the ``ml.churn_predictions`` schema; ``day`` is the prediction's
    scoring day (its actual is known at the end of its label window); an optional ``prediction_day`` is the
    UTC day of its ``prediction_timestamp``, the partition it is stored in (default: ``day``). Rows that
    already hold an actual are left alone, so a second run with the same input commits nothing. pyiceberg
    cannot filter on the UUID ``prediction_id`` (and so cannot upsert on it): the partitions of
    ``labelled`` are read, ids matched in Arrow, and those day partitions overwritten with the updated rows
    in one commit on top of the snapshot that was read. Returns the number of rows updated.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse_ml.predictions.table import days_filter, id_bytes, prediction_uuid

    missing = [c for c in ACTUAL_COLUMNS if c not in labelled.columns]
    if missing:
        raise ValueError(f"labelled actuals lack columns {missing}; expected {list(ACTUAL_COLUMNS)}")
    if labelled.empty:
        return 0
    if not labelled["churned"].isin([0, 1]).all():
        raise ValueError("labelled actuals: churned must be 0 or 1")
    ids = [prediction_uuid(i).bytes for i in labelled["prediction_id"]]
    if len(set(ids)) != len(ids):
        raise ValueError("labelled actuals hold duplicate prediction_id values")
    known_at = actual_timestamps(labelled["day"], horizon_days)
    outcome = {
        key: (bool(churned), at) for key, churned, at in zip(ids, labelled["churned"], known_at, strict=True)
    }

    stored_on = labelled["prediction_day"] if "prediction_day" in labelled.columns else labelled["day"]
    selection = days_filter(pd.to_datetime(stored_on).dt.date)
    rows = table.scan(row_filter=selection).to_arrow()
    actual = rows["actual"].to_pylist()
    stamps = rows["actual_timestamp"].to_pylist()
    updated = 0
    for index, key in enumerate(id_bytes(rows.column("prediction_id"))):
        if key in outcome and actual[index] is None:
            actual[index], stamps[index] = outcome[key]
            updated += 1
    if not updated:
        return 0
    schema = table.schema().as_arrow()
    ts_type = schema.field("actual_timestamp").type
    rows = rows.set_column(
        rows.schema.get_field_index("actual"), schema.field("actual"), pa.array(actual, type=pa.bool_())
    )
    rows = rows.set_column(
        rows.schema.get_field_index("actual_timestamp"),
        schema.field("actual_timestamp"),
        pc.cast(pa.array(stamps, type=pa.timestamp("us", tz="UTC")), ts_type),
    )
    table.overwrite(rows.select(schema.names).cast(schema), overwrite_filter=selection)
    return updated
