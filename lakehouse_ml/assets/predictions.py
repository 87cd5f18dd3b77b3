"""Prediction log: batch scoring in process on the served versions' artifacts, and the server's spool loaded
into Iceberg."""

import dagster as dg

from lakehouse_ml.assets.serving import churn_predictor_deployment
from lakehouse_ml.orchestration.pools import PREDICTIONS_POOL
from lakehouse_ml.predictions.batch import active_customers_sql, append_new_scores, score_customers
from lakehouse_ml.predictions.maintenance import RETAIN_SNAPSHOTS_DAYS
from lakehouse_ml.predictions.table import IDENTIFIER
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.model_server import ModelServing
from lakehouse_ml.resources.registry import ModelRegistryResource
from lakehouse_ml.resources.warehouse import GOLD_SCHEMA, Warehouse


# fct_customer_features: the scores read the newest gold snapshot, so in daily_refresh (no deployment in
# the job to order it by) the landing must reach gold first
@dg.asset(
    group_name="serving",
    kinds={"onnx", "python", "iceberg"},
    deps=[churn_predictor_deployment, dg.AssetKey("fct_customer_features")],
    pool=PREDICTIONS_POOL,  # it appends to ml.churn_predictions, as the other writers do
)
def batch_scores(
    context: dg.AssetExecutionContext,
    model_server: ModelServing,
    model_registry: ModelRegistryResource,
    warehouse: Warehouse,
    iceberg: IcebergCatalog,
):
    """Churn scores for every active customer (an order in the last 90 days) as of the pipeline clock,
    appended to ``ml.churn_predictions`` once per customer and scoring day: a re-run on the same clock
    (a re-executed run whose killed worker had already appended) adds only the customers not yet scored.

    Scored in process, in batches, by the registered artifacts of the versions that serve (the compiled
    ONNX model the server runs, with the server's stable/canary split) on the newest gold features: the
    same scores the endpoint would answer, without an HTTP round trip per batch of customers.
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from lakehouse_ml.predictions.table import scored_arrow
    from lakehouse_ml.serving.servable import load_servable

    served = model_server.current()
    if not served.get("stable"):
        raise dg.Failure("no model version serves yet: deploy one (churn_predictor_deployment) first")
    registry = model_registry.open()
    models = {
        role: load_servable(served[role], Path(registry.checkout(served[role])))
        for role in ("stable", "canary")
        if served.get(role)
    }
    as_of = warehouse.pipeline_clock()
    frame = warehouse.query(active_customers_sql(GOLD_SCHEMA, models["stable"].feature_names))
    columns, summary = score_customers(
        frame,
        models["stable"],
        models.get("canary"),
        int(served.get("canary_traffic_percent") or 0),
        datetime.now(UTC),
        as_of,
    )
    if summary.canary_errors:
        context.log.warning(
            f"canary {served['canary']} failed on {summary.canary_errors} rows, scored by the stable "
            f"version instead: {summary.canary_error}"
        )
    table = iceberg.predictions_table()
    rows = scored_arrow(columns, table.schema().as_arrow())
    appended = append_new_scores(table, rows, as_of)
    context.log.info(
        f"scored {summary.scored} active customers as of {as_of} in {summary.batches} batch(es); "
        f"appended {appended}, {rows.num_rows - appended} already in the log for that day"
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "active_customers": summary.customers,
            "scored": summary.scored,
            "batches": summary.batches,
            "rows_appended": appended,
            "already_logged": rows.num_rows - appended,
            "predicted_churn_rate": summary.predicted_churners / summary.scored if summary.scored else 0.0,
            "mean_churn_probability": summary.mean_probability,
            "runtimes": dg.MetadataValue.json({m.version: m.runtime for m in models.values()}),
            "canary_version": served.get("canary") or "",
            "canary_errors": summary.canary_errors,
            "served_by": dg.MetadataValue.json(dict(summary.versions)),
        }
    )


@dg.asset(group_name="serving", kinds={"iceberg"}, deps=[batch_scores], pool=PREDICTIONS_POOL)
def churn_predictions(context: dg.AssetExecutionContext, model_server: ModelServing, iceberg: IcebergCatalog):
    """Iceberg table ``ml.churn_predictions``: every prediction the model server answered, beside the
    batch scores ``batch_scores`` appends.

    Loads the server's spool exactly once (insert-only upsert on ``prediction_id`` plus a byte-offset
    checkpoint), so re-runs and crashed servers neither duplicate nor lose predictions.
    """
    from lakehouse_ml.predictions.spool_loader import LoadResult, load_spool

    table = iceberg.predictions_table()
    spool = model_server.spool_dir()
    if spool is None:
        result = LoadResult(0, 0, 0, 0, 0, 0, 0)
        context.log.info("this profile's model server does not spool predictions; nothing to load")
    else:
        result = load_spool(table, spool)
    return dg.MaterializeResult(
        metadata={
            "table": IDENTIFIER,
            "rows_appended": result.rows_inserted,
            "records_read": result.records_read,
            "rejected_records": result.rejected,
            "torn_records": result.torn,
            "segments_removed": result.segments_removed,
            "table_rows": result.table_rows,
            "dagster/row_count": result.table_rows,
        }
    )


class PredictionsMaintenanceConfig(dg.Config):
    retain_snapshots_days: int = RETAIN_SNAPSHOTS_DAYS
    """Snapshots older than this are expired (time travel reaches back this far); the current one never is."""


@dg.asset(group_name="serving", kinds={"iceberg"}, deps=[churn_predictions], pool=PREDICTIONS_POOL)
def churn_predictions_maintenance(
    context: dg.AssetExecutionContext, config: PredictionsMaintenanceConfig, iceberg: IcebergCatalog
):
    """Table maintenance of ``ml.churn_predictions``: compacts the small files that frequent spool loads
    leave in each day partition into one file per day, then expires snapshots older than the retention and
    deletes the data files only they referenced. Without it every load adds a file and a snapshot, and
    monitoring scans slow down with the table's age rather than its size."""
    from datetime import UTC, datetime

    from lakehouse_ml.predictions.maintenance import compact_small_files, data_files, expire_snapshots

    table = iceberg.predictions_table()
    files_before = len(data_files(table))
    compaction = compact_small_files(table)
    expiry = expire_snapshots(table.refresh(), datetime.now(UTC), config.retain_snapshots_days)
    files_after = len(data_files(table.refresh()))
    context.log.info(
        f"compacted {compaction.files_replaced} file(s) over {compaction.days_compacted} day(s); expired "
        f"{expiry.snapshots_expired} snapshot(s), deleted {expiry.data_files_deleted} unreferenced file(s)"
    )
    return dg.MaterializeResult(
        metadata={
            "table": IDENTIFIER,
            "days_compacted": compaction.days_compacted,
            "files_compacted": compaction.files_replaced,
            "rows_rewritten": compaction.rows_rewritten,
            "data_files_before": files_before,
            "data_files_after": files_after,
            "snapshots_expired": expiry.snapshots_expired,
            "snapshots_kept": expiry.snapshots_kept,
            "unreferenced_files_deleted": expiry.data_files_deleted,
            "bytes_deleted": expiry.bytes_deleted,
        }
    )
