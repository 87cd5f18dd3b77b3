"""``drift_retrain_sensor``: turns a stored monitoring breach into exactly one retraining run.

It reads the verdict each monitoring asset stores with the latest materialization of its newest data
week partition in the Dagster instance (so it works from the daemon's pod, on PostgreSQL storage; a
backfilled past week is never read) and never recomputes drift, so an evaluation takes milliseconds. The
cursor records the result id acted on per signal, and each run request carries a run key derived from
those ids, so one breach can never launch two runs. It also records the newest data week seen per signal
(under ``DATA_WEEKS``): a verdict on an older week (a past week recomputed) never launches a retraining.

On drift that never stops, ``lakehouse_ml.monitoring.retraining`` decides whether a breach retrains, is
skipped (cool-down, or a gate-refused candidate on the same data) or raises an alert (a fresh model did
not fix it). The alert is an ``AssetObservation`` of the signal's asset with ``retraining: alert``,
which ``lakehouse_alerts_sensor`` sends once. The last retraining's state is kept in the cursor under
``RETRAINING_KEY``.
"""

import hashlib
import json
from datetime import date

import dagster as dg

from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, VERDICT_KEY
from lakehouse_ml.assets.serving import GATE_CHECK
from lakehouse_ml.monitoring.results import check_record, new_breaches, newest_data_weeks
from lakehouse_ml.monitoring.retraining import (
    DataState,
    LastRetraining,
    RetrainingPolicy,
    decide_retraining,
    severity,
)
from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME
from lakehouse_ml.platform.settings import Settings

RETRAINING_KEY = "retraining"
ALERTED_KEY = "alerted"
DATA_TAG = "lakehouse/data"
RAW_ORDERS = dg.AssetKey("raw_orders")
RETRAINING_DECISION = "retraining"

DATA_WEEKS = "data_weeks"  # cursor entry: signal -> newest data week seen
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def newest_week_materialization(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.EventLogEntry | None:
    """The latest materialization of ``key``'s newest data week (``common.WEEKS``); of the asset itself
    when it has no partition materialized (history from before monitoring was partitioned)."""
    weeks = instance.get_materialized_partitions(key)
    if not weeks:
        return instance.get_latest_materialization_event(key)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[max(weeks)]), limit=1
    ).records
    return records[0].event_log_entry if records else None


def stored_verdicts(instance: dg.DagsterInstance) -> dict[str, dict[str, object]]:
    """The verdict per signal of its newest data week, from the instance (``newest_week_materialization``)."""
    results = {}
    for signal, key in SIGNAL_ASSETS.items():
        event = newest_week_materialization(instance, key)
        if event is None or event.asset_materialization is None:
            continue
        value = event.asset_materialization.metadata.get(VERDICT_KEY)
        if value is not None:
            results[signal] = check_record(value.value, f"{key.to_user_string()} (run {event.run_id})")
    return results


def landed_data(instance: dg.DagsterInstance) -> DataState:
    """The landed orders (their last order time and row count, from ``raw_orders``' latest load)."""
    event = instance.get_latest_materialization_event(RAW_ORDERS)
    if event is None or event.asset_materialization is None:
        return DataState()
    metadata = event.asset_materialization.metadata
    last = metadata.get("last_order_ts")
    rows = metadata.get("dagster/row_count")
    if last is None:
        return DataState()
    text = str(last.value)
    return DataState(f"{text}|{rows.value if rows else ''}", date.fromisoformat(text[:10]))


def gate_failed_data(instance: dg.DagsterInstance) -> str | None:
    """The data a retraining trained on when the latest gate evaluation failed (from its run's tag)."""
    record = instance.get_latest_asset_check_evaluation_record(GATE_CHECK)
    if record is None or record.status.value != "FAILED":
        return None
    run = instance.get_run_by_id(record.run_id)
    return run.tags.get(DATA_TAG) if run else None


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
    state = json.loads(context.cursor) if context.cursor else {}
    kept = {k: v for k, v in state.items() if k in (RETRAINING_KEY, ALERTED_KEY)}
    seen = {k: v for k, v in state.items() if k not in kept}
    weeks = seen.get(DATA_WEEKS, {})
    newest = newest_data_weeks(results, weeks)

    def cursor_with(**changes) -> str:
        acted = {signal: result["result_id"] for signal, result in results.items()}
        newest_weeks = {DATA_WEEKS: newest} if newest else {}
        return json.dumps({**seen, **acted, **newest_weeks, **kept, **changes}, sort_keys=True)

    breaches = new_breaches(results, seen, weeks)
    if not breaches:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new monitoring breach"), cursor=cursor_with())
    signals = [str(b["signal"]) for b in breaches]
    if _retrain_in_flight(context.instance):
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"breach of {signals} while a retraining run is already in flight"),
            cursor=cursor_with(),
        )
    settings = Settings.from_env()
    policy = RetrainingPolicy.from_settings(settings)
    data = landed_data(context.instance)
    last = LastRetraining.from_dict(kept[RETRAINING_KEY]) if RETRAINING_KEY in kept else None
    decision = decide_retraining(breaches, data, gate_failed_data(context.instance), last, policy)
    why = "; ".join(decision.reasons)
    if decision.action == "skip":
        context.log.info(f"not retraining: {why}")
        return dg.SensorResult(skip_reason=dg.SkipReason(why), cursor=cursor_with())
    if decision.action == "alert":
        return _alert_unfixed(context, breaches, decision.reasons, kept.get(ALERTED_KEY, []), cursor_with)
    run_key = hashlib.sha256("|".join(sorted(str(b["result_id"]) for b in breaches)).encode()).hexdigest()[
        :24
    ]
    reasons = "; ".join(f"{b['signal']}: {', '.join(b.get('reasons') or [])}" for b in breaches)
    context.log.info(f"requesting {RETRAIN_JOB_NAME}: {reasons}")
    started = LastRetraining(
        data=data.identity,
        day=data.day.isoformat() if data.day else None,
        severity=max(severity(b) for b in breaches),
        signals=tuple(signals),
        monitored_version=_monitored_version(breaches),
    )
    tags = {
        "lakehouse/trigger": "drift",
        "lakehouse/signals": ",".join(signals),
        "lakehouse/monitored_version": str(breaches[0].get("model_version")),
        "lakehouse/retraining_reason": why[:200],
    }
    if data.identity:
        tags[DATA_TAG] = data.identity
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"drift-{run_key}", tags=tags)],
        cursor=cursor_with(**{RETRAINING_KEY: started.to_dict()}),
    )


def _monitored_version(breaches: list[dict]) -> str | None:
    versions = {str(b["model_version"]) for b in breaches if b.get("model_version") is not None}
    return versions.pop() if len(versions) == 1 else None


def _alert_unfixed(context, breaches, reasons, alerted: list[str], cursor_with) -> dg.SensorResult:
    """One alert per signal and model version that retraining did not fix; never a retraining."""
    pairs = {f"{b['signal']}@{b.get('model_version')}": b for b in breaches}
    fresh = {pair: b for pair, b in pairs.items() if pair not in alerted}
    cursor = cursor_with(**{ALERTED_KEY: sorted({*alerted, *pairs})})
    if not fresh:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"already alerted: {sorted(pairs)}"), cursor=cursor)
    context.log.warning(f"not retraining, alerting: {'; '.join(reasons)}")
    events = [
        dg.AssetObservation(
            SIGNAL_ASSETS[str(b["signal"])],
            metadata={
                RETRAINING_DECISION: "alert",
                "reason": "; ".join(r for r in reasons if r.startswith(str(b["signal"]))),
                "model_version": str(b.get("model_version")),
                "result_id": str(b["result_id"]),
            },
        )
        for b in fresh.values()
    ]
    return dg.SensorResult(asset_events=events, cursor=cursor)
