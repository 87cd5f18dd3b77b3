"""`lakehouse-ml run` on a graph with data-week partitions: the assets without partitions first, then the
week of the pipeline clock they left is added and its partition materialized (cli/run.py)."""

import time
from datetime import date

import dagster as dg

from lakehouse_ml.assets.monitoring.common import WEEKS
from lakehouse_ml.cli.run import execute_by_week
from lakehouse_ml.platform.settings import Settings

CLOCK = date(1997, 6, 25)  # CDNOW's calendar: a Wednesday, in the week from Sunday 1997-06-22


class ClockWarehouse(dg.ConfigurableResource):
    """Stands in for the warehouse: its pipeline clock is set only once ``gold`` has run."""

    def pipeline_clock(self) -> date:
        if not built:
            raise LookupError("fct_customer_features is empty: materialize the gold models first")
        return CLOCK


built: list[bool] = []


@dg.asset
def gold() -> None:
    time.sleep(1.1)  # the second part starts in a later second: a new log would get a new name
    built.append(True)


@dg.asset(deps=[gold], partitions_def=WEEKS)
def weekly_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"data_week": context.partition_key})


def test_a_run_builds_gold_then_the_week_of_its_clock(tmp_path):
    defs = dg.Definitions(assets=[gold, weekly_report], resources={"warehouse": ClockWarehouse()})
    job = defs.resolve_implicit_global_asset_job_def()
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    with dg.instance_for_test() as instance:
        result, progress, _ = execute_by_week(defs, job, dg.AssetSelection.all(), instance, settings, "run")
        assert result.success and not progress.failures
        assert instance.get_dynamic_partitions(WEEKS.name) == ["1997-06-22"]
        assert instance.get_materialized_partitions(weekly_report.key) == {"1997-06-22"}
        assert instance.get_latest_materialization_event(gold.key) is not None
    assert len(list((tmp_path / "logs").glob("run-*.log"))) == 1, "one command, one log"
