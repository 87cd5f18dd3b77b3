"""Jobs of the code location.

``retrain_churn_model`` retrains, registers, gates and deploys as canary: the assets ``churn_model``,
``model_version`` and ``churn_predictor_deployment`` plus everything upstream of them (landing-zone
ingestion, dbt gold, Feast definitions and materialization). The refresh is included on purpose: a
retraining triggered by drift or by the weekly schedule must train on data at least as fresh as the
data that showed the drift, and dbt/Feast are cheap next to training. Monitoring assets are not in
the job; they run after it on the next monitoring pass against the new production model.
"""

import dagster as dg

from lakehouse_ml.orchestration.pools import PURPOSE_TAG, RETRAIN_PURPOSE

RETRAIN_TARGETS = ("churn_model", "model_version", "churn_predictor_deployment")
RETRAIN_JOB_NAME = "retrain_churn_model"

retrain_churn_model = dg.define_asset_job(
    name=RETRAIN_JOB_NAME,
    selection=dg.AssetSelection.assets(*RETRAIN_TARGETS).upstream(),
    description="Refresh gold and features, train, register, gate and deploy the churn model as canary.",
    tags={PURPOSE_TAG: RETRAIN_PURPOSE},
)
