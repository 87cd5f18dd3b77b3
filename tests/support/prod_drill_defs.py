"""The drill's code location: the prod profile's definitions (assets, checks, jobs, the drift sensor)
with the stand-ins of tests/support/prod_drill_stack.py as resources and ``pod_executor`` as every job's
executor.
Loaded by each step process (``dagster api execute_step``), the run worker and the daemon's code server."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.platform.settings import Settings
from tests.support.pod_executor import pod_executor

DRILL_JOB = "drill_all_assets"


def drill_definitions() -> dg.Definitions:
    from lakehouse_ml import definitions
    from lakehouse_ml.assets.serving import promote_canary, rollback_canary
    from lakehouse_ml.orchestration.jobs import retrain_churn_model
    from lakehouse_ml.sensors import drift_retrain_sensor
    from tests.support.prod_drill_stack import drill_resources

    settings = Settings.from_env()
    if settings.profile != "prod":
        raise RuntimeError("the drill runs the prod profile: LAKEHOUSE_PROFILE=prod")
    return dg.Definitions(
        assets=dg.load_assets_from_modules(definitions.ASSET_MODULES),
        asset_checks=dg.load_asset_checks_from_modules(definitions.ASSET_MODULES),
        jobs=[
            dg.define_asset_job(DRILL_JOB, selection=dg.AssetSelection.all()),
            promote_canary,
            rollback_canary,
            retrain_churn_model,
        ],
        # the drill lands its data itself and proves the drift path: raw_landing_sensor's refreshes would
        # run beside the retraining it waits for
        sensors=[drift_retrain_sensor],
        resources=drill_resources(settings),
        executor=pod_executor,
    )


def drill_job() -> dg.JobDefinition:
    return drill_definitions().resolve_job_def(DRILL_JOB)


def promote_job() -> dg.JobDefinition:
    return drill_definitions().resolve_job_def("promote_canary")
