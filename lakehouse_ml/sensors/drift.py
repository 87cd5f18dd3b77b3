"""``drift_retrain_sensor``: turns a stored monitoring breach into exactly one retraining run.

It reads the verdict each monitoring asset stores with its latest materialization in the Dagster
instance (so it works from the daemon's pod, on PostgreSQL storage) and never recomputes drift, so an
evaluation takes milliseconds. The cursor records the result id
acted on per signal, and each run request carries a run key derived from those ids, so one breach
can never launch two runs. It also records the newest data week seen per signal (under
``DATA_WEEKS``): a verdict on an older week (a past week recomputed) never launches a retraining.
"""

import hashlib
import json

import dagster as dg

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, VERDICT_KEY
from lakehouse_ml.monitoring.results import check_record, new_breaches, newest_data_weeks
from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME
from lakehouse_ml.platform.settings import Settings

DATA_WEEKS = "data_weeks"  # cursor entry: signal -> newest data week seen
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def stored_verdicts(instance: dg.DagsterInstance) -> dict[str, dict[str, object]]:
    """The latest verdict per signal, from its asset's latest materialization in the instance."""
    results = {}
    for signal, key in SIGNAL_ASSETS.items():
        event = instance.get_latest_materialization_event(key)
        if event is None or event.asset_materialization is None:
            continue
        value = event.asset_materialization.metadata.get(VERDICT_KEY)
        if value is not None:
            results[signal] = check_record(value.value, f"{key.to_user_string()} (run {event.run_id})")
    return results


def _retrain_in_flight(instance: dg.DagsterInstance) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=RETRAIN_JOB_NAME, statuses=IN_FLIGHT), limit=1)
    return bool(runs)


@dg.sensor(
    name="drift_retrain_sensor",
    job_name=RETRAIN_JOB_NAME,
    minimum_interval_seconds=Settings.from_env().drift_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One retrain_churn_model run per new drift or performance breach (docs/trigger-policy.md).",
)
def drift_retrain_sensor(context: dg.SensorEvaluationContext):
    results = stored_verdicts(context.instance)
    seen = json.loads(context.cursor) if context.cursor else {}
    weeks = seen.get(DATA_WEEKS, {})
    newest = newest_data_weeks(results, weeks)
    cursor = json.dumps(
        {
            **seen,
            **{signal: result["result_id"] for signal, result in results.items()},
            **({DATA_WEEKS: newest} if newest else {}),
        },
        sort_keys=True,
    )
    breaches = new_breaches(results, seen, weeks)
    if not breaches:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new monitoring breach"), cursor=cursor)
    signals = [str(b["signal"]) for b in breaches]
    if _retrain_in_flight(context.instance):
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"breach of {signals} while a retraining run is already in flight"),
            cursor=cursor,
        )
    run_key = hashlib.sha256("|".join(sorted(str(b["result_id"]) for b in breaches)).encode()).hexdigest()[
        :24
    ]
    reasons = "; ".join(f"{b['signal']}: {', '.join(b.get('reasons') or [])}" for b in breaches)
    context.log.info(f"requesting {RETRAIN_JOB_NAME}: {reasons}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"drift-{run_key}",
                tags={
                    "lakehouse/trigger": "drift",
                    "lakehouse/signals": ",".join(signals),
                    "lakehouse/monitored_version": str(breaches[0].get("model_version")),
                },
            )
        ],
        cursor=cursor,
    )
