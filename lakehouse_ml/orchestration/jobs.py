"""Jobs of the code location.

``retrain_churn_model`` retrains, registers, gates and deploys as canary: the assets ``churn_model``,
``model_version`` and ``churn_predictor_deployment`` plus everything upstream of them (landing-zone
ingestion, dbt gold, Feast definitions and materialization). The refresh is included on purpose: a
retraining triggered by drift or by the weekly schedule must train on data at least as fresh as the
data that showed the drift, and dbt/Feast are cheap next to training. Monitoring assets are not in
the job; the next ``daily_refresh`` scores and monitors against the new deployment.

``daily_refresh`` is what a landing starts (``raw_landing_sensor``): ingestion -> gold (incremental) ->
online features -> batch scores -> prediction log -> actuals -> monitoring. It selects every asset but
the training and registry groups and the assets tagged ``DEPLOYS_TAG``, by group and tag rather than by
key, so an asset added downstream in the serving or monitoring groups (the canary analysis) joins it
without a change here, and a Definitions without some of these assets still resolves.

``whole_loop`` is every asset: the first landing on an empty lakehouse (no model yet) starts it.

The three carry ``RETRY_TAGS``: Dagster run retries (``run_retries.enabled`` in the instance) re-execute
a run once, from its failure, when it failed for any reason but a failed step: its worker was killed
(``orchestration/launcher.py``) or never started. A step failure (a landing that breaks the ingestion
contract, a candidate refused by the gate) is not retried: the same data would fail the same way.
"""

import dagster as dg

from lakehouse_ml.orchestration.pools import PURPOSE_TAG, REFRESH_PURPOSE, RETRAIN_PURPOSE

RETRAIN_TARGETS = ("churn_model", "model_version", "churn_predictor_deployment")
RETRAIN_JOB_NAME = "retrain_churn_model"
REFRESH_JOB_NAME = "daily_refresh"
WHOLE_LOOP_JOB_NAME = "whole_loop"
TRAINING_GROUPS = ("training", "registry")
RETRY_TAGS = {
    "dagster/max_retries": "1",
    "dagster/retry_strategy": "FROM_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}
# on an asset that puts a model version into service: only a retraining (or the whole loop) runs it
DEPLOYS_TAG = {"lakehouse/deploys": "model"}

RETRAIN_SELECTION = dg.AssetSelection.assets(*RETRAIN_TARGETS).upstream()

retrain_churn_model = dg.define_asset_job(
    name=RETRAIN_JOB_NAME,
    selection=RETRAIN_SELECTION,
    description="Refresh gold and features, train, register, gate and deploy the churn model as canary.",
    tags={PURPOSE_TAG: RETRAIN_PURPOSE, **RETRY_TAGS},
)

REFRESH_SELECTION = (
    dg.AssetSelection.all()
    - dg.AssetSelection.groups(*TRAINING_GROUPS)
    - dg.AssetSelection.tag(*next(iter(DEPLOYS_TAG.items())))
)

daily_refresh = dg.define_asset_job(
    name=REFRESH_JOB_NAME,
    selection=REFRESH_SELECTION,
    description=(
        "Ingest the landing zone, rebuild gold incrementally, refresh online features, score, load the "
        "prediction log, backfill actuals and monitor. No training, no deployment."
    ),
    tags={PURPOSE_TAG: REFRESH_PURPOSE, **RETRY_TAGS},
)

whole_loop = dg.define_asset_job(
    name=WHOLE_LOOP_JOB_NAME,
    selection=dg.AssetSelection.all(),
    description="Every asset: gold, features, the first model, its deployment, predictions and monitoring.",
    tags={PURPOSE_TAG: "bootstrap", **RETRY_TAGS},
)
