"""Alerts: each event alerts exactly once, by the log locally and by a signed webhook to a real server."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from lakehouse_ml.assets.canary import canary_analysis
from lakehouse_ml.assets.monitoring.common import SIGNAL_ASSETS, persist
from lakehouse_ml.monitoring.policy import Verdict
from lakehouse_ml.resources.alerts import SIGNATURE_HEADER, LogAlerts, WebhookAlerts
from lakehouse_ml.sensors.alerts import lakehouse_alerts_sensor, run_failure_alert_sensor

UI = "http://127.0.0.1:3000"


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("rows_present", asset="gold_table", blocking=True),
        dg.AssetCheckSpec("advisory", asset="gold_table"),
    ]
)
def gold_table():
    yield dg.Output(1)
    yield dg.AssetCheckResult(check_name="rows_present", passed=False, description="0 rows")
    yield dg.AssetCheckResult(check_name="advisory", passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.asset
def features_table():
    return 1


FRESHNESS = dg.build_last_update_freshness_checks(
    assets=[features_table], lower_bound_delta=timedelta(hours=1)
)
DEFS = dg.Definitions(assets=[gold_table, features_table], asset_checks=FRESHNESS)


@pytest.fixture
def instance(lakehouse_home):
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _events(instance) -> None:
    """One of each: a failed blocking check (and a WARN one, not alerted), a stale asset, a monitoring
    breach, a breach a fresh model did not fix, and a canary rollback."""
    dg.materialize([gold_table], instance=instance, raise_on_error=False)
    for check_def in FRESHNESS:
        dg.materialize(
            [features_table, check_def], instance=instance, selection=dg.AssetSelection.checks(check_def)
        )
    verdict = Verdict("prediction_drift", True, ["prediction score drift 0.4 >= 0.2"], 2.0)
    key = SIGNAL_ASSETS["prediction_drift"]
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, metadata=persist(verdict, "v1", {}, None))
    )
    unfixed = {"retraining": "alert", "reason": "not fixed", "model_version": "v2", "result_id": "r9"}
    instance.report_runless_asset_event(dg.AssetObservation(key, metadata=unfixed))
    rollback = {
        "decision": "rollback",
        "canary_version": "v3",
        "stable_version": "v2",
        "reasons": "- PSI 2.1",
    }
    instance.report_runless_asset_event(dg.AssetMaterialization(canary_analysis.key, metadata=rollback))


def _tick(instance, channel, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=DEFS, resources={"alerts": channel}
    )
    result = lakehouse_alerts_sensor.evaluate_tick(context)
    return result.cursor


def test_each_event_alerts_exactly_once_in_the_log(instance, caplog):
    _events(instance)
    channel = LogAlerts(ui_url=UI)
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
        cursor = _tick(instance, channel)
        first = [r.getMessage() for r in caplog.records if r.name == "lakehouse_ml.alerts"]
        caplog.clear()
        _tick(instance, channel, cursor)
        second = [r.getMessage() for r in caplog.records if r.name == "lakehouse_ml.alerts"]
    kinds = sorted(line.split("]")[0].removeprefix("ALERT [") for line in first)
    assert kinds == [
        "canary_rollback",
        "check_failure",
        "freshness",
        "monitoring_breach",
        "retraining_not_fixing",
    ]
    assert second == []
    # Still stale at the freshness sensor's next evaluation: no second alert until it was fresh again.
    for check_def in FRESHNESS:
        dg.materialize(
            [features_table, check_def], instance=instance, selection=dg.AssetSelection.checks(check_def)
        )
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
        cursor = _tick(instance, channel, cursor)
        assert [r for r in caplog.records if r.name == "lakehouse_ml.alerts"] == []
        for check_def in FRESHNESS:
            dg.materialize([features_table, check_def], instance=instance)
        cursor = _tick(instance, channel, cursor)
        assert json.loads(cursor)["stale"] == []
    assert any("gold_table failed check rows_present: 0 rows" in line for line in first)
    assert any(f"{UI}/assets/prediction_drift_report" in line for line in first)


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_webhook_alerts_are_signed_and_sent_once(instance, receiver, monkeypatch):
    url, received = receiver
    monkeypatch.setenv("LAKEHOUSE_ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("LAKEHOUSE_ALERT_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("LAKEHOUSE_ALERTS", "webhook")
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources.alerts import alert_channel

    channel = alert_channel(Settings.from_env())
    assert isinstance(channel, WebhookAlerts)
    verdict = Verdict("data_drift", True, ["3/5 signal features drifted"], 1.4)
    metadata = persist(verdict, "v1", {}, None)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SIGNAL_ASSETS["data_drift"], metadata=metadata)
    )
    cursor = _tick(instance, channel)
    _tick(instance, channel, cursor)
    assert len(received) == 1
    headers, body = received[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["alert"]["kind"] == "monitoring_breach"
    assert payload["text"].startswith("[monitoring_breach] data_drift breach on model v1")


def test_a_failing_webhook_fails_the_tick_so_the_alert_is_retried(instance):
    channel = WebhookAlerts(ui_url=UI, url="http://127.0.0.1:9/unreachable", timeout_seconds=2)
    metadata = persist(Verdict("performance", True, ["accuracy 0.7 < floor 0.8"], 1.5), None, {}, None)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SIGNAL_ASSETS["performance"], metadata=metadata)
    )
    with pytest.raises(Exception, match="LAKEHOUSE_ALERT_WEBHOOK_URL. unreachable"):
        _tick(instance, channel)


def test_a_failed_run_alerts_once_with_its_link(instance, caplog):
    @dg.op
    def broken():
        raise RuntimeError("disk full")

    @dg.job
    def nightly():
        broken()

    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alerts": LogAlerts(ui_url=UI)},
    ).for_run_failure()
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
        run_failure_alert_sensor(context)
    lines = [r.getMessage() for r in caplog.records if r.name == "lakehouse_ml.alerts"]
    assert len(lines) == 1
    assert f"{UI}/runs/{result.run_id}" in lines[0] and "nightly" in lines[0]


def test_a_first_tick_skips_history_older_than_its_lookback(instance, caplog, monkeypatch):
    import lakehouse_ml.sensors.alerts as module

    _events(instance)
    monkeypatch.setattr(module, "FIRST_TICK_LOOKBACK_SECONDS", -60)  # everything so far counts as old
    channel = LogAlerts(ui_url=UI)
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
        cursor = _tick(instance, channel)
        assert [r for r in caplog.records if r.name == "lakehouse_ml.alerts"] == []
        metadata = persist(Verdict("concept_drift", True, ["AUC dropped"], 1.2), "v1", {}, None)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(SIGNAL_ASSETS["concept_drift"], metadata=metadata)
        )
        _tick(instance, channel, cursor)
    lines = [r.getMessage() for r in caplog.records if r.name == "lakehouse_ml.alerts"]
    assert len(lines) == 1 and "concept_drift breach" in lines[0]


@dg.asset(check_specs=[dg.AssetCheckSpec("rows_counted", asset="broken_table", blocking=True)])
def broken_table():
    raise ValueError("the step fails before its check is evaluated")


def test_a_check_planned_but_not_evaluated_neither_breaks_the_tick_nor_hides_its_later_failure(
    instance, caplog
):
    """A step that fails (or still runs) leaves its check planned, with no evaluation: the tick used to
    fail on it, so alerts sent earlier in that tick were sent again at every later tick."""
    dg.materialize([broken_table], instance=instance, raise_on_error=False)
    defs = dg.Definitions(assets=[broken_table])
    channel = LogAlerts(ui_url=UI)

    def tick(cursor=None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources={"alerts": channel}
        )
        return lakehouse_alerts_sensor.evaluate_tick(context).cursor

    rollback = {"decision": "rollback", "canary_version": "v3", "stable_version": "v2", "reasons": "- PSI"}
    instance.report_runless_asset_event(dg.AssetMaterialization(canary_analysis.key, metadata=rollback))
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
        cursor = tick(tick())
        failed = dg.AssetCheckEvaluation(
            asset_key=broken_table.key, check_name="rows_counted", passed=False, description="0 rows"
        )
        instance.report_runless_asset_event(failed)
        tick(cursor)
    sent = [r.getMessage().split("]")[0].removeprefix("ALERT [") for r in caplog.records]
    assert sent == ["canary_rollback", "check_failure"]


def test_a_backfilled_week_does_not_alert_its_breach_again(instance, caplog):
    """Weeks W and W+1 breach and alert; W recomputed afterwards (a backfill) gives the same breach, which
    was alerted when W first ran; a newer week alerts again."""
    key = SIGNAL_ASSETS["data_drift"]
    channel, cursor = LogAlerts(ui_url=UI), None

    def breach_of(day: str) -> list[str]:
        nonlocal cursor
        verdict = Verdict("data_drift", True, ["share of drifted features 0.6 >= 0.5"], 1.2)
        metadata = persist(verdict, "v1", {}, None, as_of=date.fromisoformat(day))
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata=metadata))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="lakehouse_ml.alerts"):
            cursor = _tick(instance, channel, cursor)
        return [r.getMessage() for r in caplog.records if "monitoring_breach" in r.getMessage()]

    assert len(breach_of("2026-01-07")) == 1
    assert len(breach_of("2026-01-14")) == 1
    assert breach_of("2026-01-07") == [], "a backfilled week alerted its breach again"
    assert len(breach_of("2026-01-21")) == 1
