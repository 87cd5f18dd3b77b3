"""``weekly_model_retrain``: retrain every Sunday at 02:00 UTC, whatever the monitors say."""

import dagster as dg

from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME

weekly_model_retrain = dg.ScheduleDefinition(
    name="weekly_model_retrain",
    cron_schedule="0 2 * * 0",
    execution_timezone="UTC",
    job_name=RETRAIN_JOB_NAME,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={"lakehouse/trigger": "schedule"},
    description="Weekly retraining (Sundays 02:00 UTC) so the model follows slow change no monitor trips on.",
)
