"""``prediction_actuals``: real outcomes written back into the prediction log."""

import dagster as dg

from lakehouse_ml.assets.monitoring import common
from lakehouse_ml.monitoring import sql
from lakehouse_ml.orchestration.pools import PREDICTIONS_POOL
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.monitoring_policy import MonitoringPolicy
from lakehouse_ml.resources.query_engine import QueryEngine
from lakehouse_ml.resources.warehouse import Warehouse


@dg.asset(
    group_name=common.GROUP,
    kinds={"iceberg", "sql"},
    deps=[common.PREDICTIONS, common.ORDERS],
    pool=PREDICTIONS_POOL,
)
def prediction_actuals(
    context: dg.AssetExecutionContext,
    query_engine: QueryEngine,
    iceberg: IcebergCatalog,
    warehouse: Warehouse,
    monitoring_policy: MonitoringPolicy,
) -> dg.MaterializeResult:
    """Backfills ``actual`` / ``actual_timestamp`` in ``ml.churn_predictions`` once the label horizon has
    passed, so performance can be measured on real outcomes.

    The label is computed from silver ``fct_orders`` with the rule of ``fct_churn_labels`` (no order in
    [P + 1 day, P + 1 day + horizon) for a prediction made on day P) because prediction days are not
    always snapshot-grid days. Only rows whose ``actual`` is null are written: a second run changes nothing.
    """
    from lakehouse_ml.monitoring.actuals import backfill_actuals

    policy = monitoring_policy.policy()
    as_of = warehouse.pipeline_clock()
    table = iceberg.predictions_table()
    due = query_engine.query(sql.due_actuals_sql(as_of, policy.label_horizon_days))
    labelled = due.rename(columns={"subject_id": "prediction_id"})
    updated = backfill_actuals(table, labelled, policy.label_horizon_days)
    context.log.info(f"backfilled {updated} actual(s) as of {as_of}")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "due_rows": len(labelled),
            "updated_rows": updated,
            "churn_rate_backfilled": float(labelled["churned"].mean()) if len(labelled) else 0.0,
            "label_horizon_days": policy.label_horizon_days,
        }
    )
