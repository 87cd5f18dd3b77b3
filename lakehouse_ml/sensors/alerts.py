"""Alerts through Dagster's own sensors, sent by the ``alerts`` resource (docs/operations.md, "Alerts").

- ``run_failure_alert_sensor``: every failed run (Dagster's run-failure sensor keeps its own cursor).
- ``lakehouse_alerts_sensor``: from the event log, a failed check of severity ERROR (the blocking
  ones: dbt tests, the champion gate) or any failed freshness check; a monitoring breach; a breach a
  fresh model did not fix (``drift_retrain_sensor``'s observation); a canary rollback by
  ``canary_analysis``. Its cursor keeps the event-log position per asset and the last alerted
  evaluation per check, so each event alerts exactly once; a check evaluated twice between two ticks is
  seen once, at its latest evaluation. A breach of a data week older than one already seen (a backfill)
  does not alert. A stale asset alerts when it turns stale, not at every re-evaluation while it stays
  stale; it alerts again after it was fresh once more. The first tick (no cursor) alerts only on events
  of the last ``FIRST_TICK_LOOKBACK_SECONDS``.
"""

import json
import time

import dagster as dg

from lakehouse_ml.assets.canary import canary_analysis
from lakehouse_ml.assets.monitoring.common import DATA_WEEK_KEY, SIGNAL_ASSETS, VERDICT_KEY
from lakehouse_ml.resources.alerts import Alert, AlertChannel
from lakehouse_ml.sensors.drift import RETRAINING_DECISION

BREACH_STREAM = "breach:"
FRESHNESS_CHECK = "freshness_check"  # the name build_last_update_freshness_checks gives its checks
PAGE = 100
# On its first tick (no cursor: a new installation, or an upgrade onto an instance with history) the
# sensor alerts only on events of the last day, not on every breach ever recorded.
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600


def _value(metadata, key: str):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _breach_alert(alerts: AlertChannel, key: dg.AssetKey, record) -> Alert | None:
    verdict = _value(record.asset_materialization.metadata, VERDICT_KEY)
    if not isinstance(verdict, dict) or not verdict.get("breach"):
        return None
    return Alert(
        "monitoring_breach",
        f"breach-{verdict.get('result_id')}",
        f"{verdict.get('signal')} breach on model {verdict.get('model_version')}",
        "; ".join(verdict.get("reasons") or []) or "threshold crossed",
        alerts.asset_link(key),
    )


def _unfixed_alert(alerts: AlertChannel, key: dg.AssetKey, record) -> Alert | None:
    metadata = record.asset_observation.metadata
    if _value(metadata, RETRAINING_DECISION) != "alert":
        return None
    return Alert(
        "retraining_not_fixing",
        f"unfixed-{_value(metadata, 'result_id')}",
        f"{key.to_user_string()} breach not fixed by retraining (model {_value(metadata, 'model_version')})",
        str(_value(metadata, "reason")),
        alerts.asset_link(key),
    )


def _rollback_alert(alerts: AlertChannel, key: dg.AssetKey, record) -> Alert | None:
    metadata = record.asset_materialization.metadata
    if _value(metadata, "decision") != "rollback":
        return None
    return Alert(
        "canary_rollback",
        f"rollback-{record.storage_id}",
        f"canary {_value(metadata, 'canary_version')} rolled back, "
        f"{_value(metadata, 'stable_version')} serves",
        str(_value(metadata, "reasons")).replace("\n", " "),
        alerts.run_link(record.run_id),
    )


def _data_week(stream: str, record) -> str | None:
    """The data week a breach stream's verdict judged. A week older than one already seen is a backfill:
    its breach was alerted, or not, when the week first ran, and the sensors act on the newest week only."""
    if not stream.startswith(BREACH_STREAM):
        return None
    return _value(record.asset_materialization.metadata, DATA_WEEK_KEY)


def _streams():
    """(name, asset key, fetch method name, alert builder) of every event-log stream watched."""
    for signal, key in SIGNAL_ASSETS.items():
        yield f"{BREACH_STREAM}{signal}", key, "fetch_materializations", _breach_alert
        yield f"unfixed:{signal}", key, "fetch_observations", _unfixed_alert
    yield "rollback", canary_analysis.key, "fetch_materializations", _rollback_alert


def _evaluated(record) -> bool:
    """Not a check only planned: its step still runs (or failed first) and may evaluate it later, under
    the same record id, so it is neither alerted nor marked as seen."""
    event = record.event.dagster_event if record.event else None
    return event is not None and isinstance(event.event_specific_data, dg.AssetCheckEvaluation)


def _check_alert(alerts: AlertChannel, record) -> Alert | None:
    evaluation = record.event.dagster_event.event_specific_data if record.event else None
    if evaluation is None or evaluation.passed:
        return None
    key = record.key
    freshness = key.name == FRESHNESS_CHECK
    if not freshness and evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return None
    kind = "freshness" if freshness else "check_failure"
    what = "is stale" if freshness else f"failed check {key.name}"
    description = evaluation.description or json.dumps(
        {k: str(getattr(v, "value", v)) for k, v in evaluation.metadata.items()}
    )
    return Alert(
        kind,
        f"check-{record.id}",
        f"{key.asset_key.to_user_string()} {what}",
        description,
        alerts.run_link(record.run_id),
    )


@dg.sensor(
    name="lakehouse_alerts_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One alert per failed blocking or freshness check, monitoring breach, unfixed breach and "
    "canary rollback (docs/operations.md, Alerts).",
)
def lakehouse_alerts_sensor(context: dg.SensorEvaluationContext, alerts: AlertChannel):
    state = json.loads(context.cursor) if context.cursor else {"streams": {}, "checks": {}}
    since = 0.0 if context.cursor else time.time() - FIRST_TICK_LOOKBACK_SECONDS
    sent = []
    weeks = state.setdefault("weeks", {})
    for name, key, fetch, build in _streams():
        result = getattr(context.instance, fetch)(
            key, limit=PAGE, cursor=state["streams"].get(name), ascending=True
        )
        for record in result.records:
            week = _data_week(name, record)
            backfill = week is not None and week < weeks.get(name, week)
            if week is not None and not backfill:
                weeks[name] = week
            alert = build(alerts, key, record) if record.timestamp >= since and not backfill else None
            if alert is not None:
                alerts.send(alert)
                sent.append(alert.event_id)
        if result.records:
            state["streams"][name] = result.cursor
    check_keys = context.repository_def.asset_graph.asset_check_keys if context.repository_def else []
    for check_key in sorted(check_keys, key=lambda k: k.to_user_string()):
        record = context.instance.get_latest_asset_check_evaluation_record(check_key)
        name = check_key.to_user_string()
        if record is None or record.id <= state["checks"].get(name, 0) or not _evaluated(record):
            continue
        state["checks"][name] = record.id
        alert = _check_alert(alerts, record) if record.create_timestamp >= since else None
        if check_key.name == FRESHNESS_CHECK:  # re-evaluated while stale: alert when it turns stale only
            stale = set(state.setdefault("stale", []))
            already = name in stale
            state["stale"] = sorted(stale | {name} if alert else stale - {name})
            if already:
                continue
        if alert is not None:
            alerts.send(alert)
            sent.append(alert.event_id)
    cursor = json.dumps(state, sort_keys=True)
    if not sent:
        return dg.SensorResult(skip_reason=dg.SkipReason("nothing to alert"), cursor=cursor)
    context.log.info(f"sent {len(sent)} alert(s): {sent}")
    return dg.SensorResult(cursor=cursor)


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One alert per failed run, linking to the run.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertChannel):
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    alerts.send(
        Alert(
            "run_failure",
            f"run-{run.run_id}",
            f"run of {run.job_name} failed",
            message,
            alerts.run_link(run.run_id),
        )
    )
