"""Prediction log: batch scoring through the deployed endpoint, and the spool loaded into Iceberg."""

import dagster as dg

from lakehouse_ml.assets.serving import churn_predictor_deployment
from lakehouse_ml.predictions.batch import active_customers_sql, score_customers
from lakehouse_ml.predictions.maintenance import RETAIN_SNAPSHOTS_DAYS
from lakehouse_ml.predictions.table import IDENTIFIER
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.model_server import ModelServing
from lakehouse_ml.resources.warehouse import GOLD_SCHEMA, Warehouse


# online_features: the server scores on the online store, so the landing's features must be in it first
@dg.asset(
    group_name="serving",
    kinds={"kserve", "python"},
    deps=[churn_predictor_deployment, dg.AssetKey("online_features")],
)
def batch_scores(context: dg.AssetExecutionContext, model_server: ModelServing, warehouse: Warehouse):
    """Churn scores for every active customer (an order in the last 90 days) as of the pipeline clock.

    Scored through the deployed endpoint over HTTP in batches, exactly like outside traffic, so the
    predictions table fills (and monitoring has data) without any.
    """
    as_of = warehouse.pipeline_clock()
    customers = warehouse.query(active_customers_sql(GOLD_SCHEMA))["customer_id"].astype(str).tolist()
    summary = score_customers(model_server.predict_url(), customers)
    context.log.info(f"scored {summary.scored} of {summary.customers} active customers as of {as_of}")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "active_customers": summary.customers,
            "scored": summary.scored,
            "unknown_customers": summary.unknown,
            "predicted_churn_rate": summary.predicted_churners / summary.scored if summary.scored else 0.0,
            "mean_churn_probability": summary.mean_probability,
            "requests": summary.requests,
            "served_by": dg.MetadataValue.json(dict(summary.versions)),
        }
    )


@dg.asset(group_name="serving", kinds={"iceberg"}, deps=[batch_scores])
def churn_predictions(context: dg.AssetExecutionContext, model_server: ModelServing, iceberg: IcebergCatalog):
    """Iceberg table ``ml.churn_predictions``: every prediction the model server answered.

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


@dg.asset(group_name="serving", kinds={"iceberg"}, deps=[churn_predictions])
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
