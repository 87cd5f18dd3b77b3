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

    ``table`` is a pyiceberg ``Table`` with the ``ml.churn_predictions`` schema. Rows that already hold
    an actual are left alone, so a second run with the same input commits nothing. Returns the
    number of rows updated.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyiceberg.expressions import And, In, IsNull

    missing = [c for c in ACTUAL_COLUMNS if c not in labelled.columns]
    if missing:
        raise ValueError(f"labelled actuals lack columns {missing}; expected {list(ACTUAL_COLUMNS)}")
    if labelled.empty:
        return 0
    if labelled["prediction_id"].duplicated().any():
        raise ValueError("labelled actuals hold duplicate prediction_id values")
    if not labelled["churned"].isin([0, 1]).all():
        raise ValueError("labelled actuals: churned must be 0 or 1")

    ids = [str(i) for i in labelled["prediction_id"]]
    rows = table.scan(row_filter=And(In("prediction_id", ids), IsNull("actual"))).to_arrow()
    if rows.num_rows == 0:
        return 0
    by_id = labelled.assign(prediction_id=labelled["prediction_id"].astype(str)).set_index("prediction_id")
    row_ids = rows.column("prediction_id").to_pylist()
    actual = by_id.loc[row_ids, "churned"].astype(int).tolist()
    known_at = actual_timestamps(by_id.loc[row_ids, "day"], horizon_days).tolist()

    schema = table.schema().as_arrow()
    actual_type = schema.field("actual").type
    ts_type = schema.field("actual_timestamp").type
    if ts_type.tz is None:
        known_at = [ts.replace(tzinfo=None) for ts in known_at]
    rows = rows.set_column(
        rows.schema.get_field_index("actual"), schema.field("actual"), pa.array(actual, type=actual_type)
    )
    rows = rows.set_column(
        rows.schema.get_field_index("actual_timestamp"),
        schema.field("actual_timestamp"),
        pc.cast(pa.array(known_at), ts_type),
    )
    result = table.upsert(rows.select(schema.names).cast(schema), join_cols=["prediction_id"])
    return int(result.rows_updated)
