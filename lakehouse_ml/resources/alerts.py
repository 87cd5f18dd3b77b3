"""Where alerts go (``LAKEHOUSE_ALERTS``): the log (local default) or a webhook (Slack-compatible JSON).

The webhook URL and its signing secret are secrets: ``dg.EnvVar("LAKEHOUSE_ALERT_WEBHOOK_URL")`` and,
when set, ``LAKEHOUSE_ALERT_WEBHOOK_SECRET`` (the body's HMAC-SHA256 in ``X-Lakehouse-Signature``).
A delivery that fails raises, so the sensor's tick fails and the alert is sent again on the next one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import asdict, dataclass

import dagster as dg

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.env import optional_env

logger = logging.getLogger("lakehouse_ml.alerts")
SIGNATURE_HEADER = "X-Lakehouse-Signature"


@dataclass(frozen=True)
class Alert:
    # run_failure, check_failure, freshness, monitoring_breach, retraining_not_fixing, canary_rollback
    kind: str
    event_id: str  # unique per event: the same event is never sent twice
    title: str
    text: str
    link: str

    def line(self) -> str:
        return f"[{self.kind}] {self.title}: {self.text} ({self.link})"


class AlertChannel(dg.ConfigurableResource):
    """Sends alerts; ``ui_url`` is the Dagster UI that links point to."""

    ui_url: str = "http://127.0.0.1:3000"

    def run_link(self, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}"

    def asset_link(self, key: dg.AssetKey) -> str:
        return f"{self.ui_url.rstrip('/')}/assets/{'/'.join(key.path)}"

    def send(self, alert: Alert) -> None:
        raise NotImplementedError


class LogAlerts(AlertChannel):
    """Local runs: every alert is a warning in the ``lakehouse_ml.alerts`` log."""

    def send(self, alert: Alert) -> None:
        logger.warning("ALERT %s", alert.line())


class WebhookAlerts(AlertChannel):
    """POSTs ``{"text": ..., "alert": {...}}`` (Slack incoming-webhook compatible) to ``url``."""

    url: str
    secret: str | None = None
    timeout_seconds: float = 10.0

    def send(self, alert: Alert) -> None:
        import httpx

        body = json.dumps({"text": alert.line(), "alert": asdict(alert)}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_seconds)
        except httpx.HTTPError as err:  # the URL itself is a secret: name the variable, not the value
            raise RuntimeError(f"alert webhook (LAKEHOUSE_ALERT_WEBHOOK_URL) unreachable: {err!r}") from err
        if response.is_error:
            answer = f"{response.status_code}: {response.text[:200]}"
            raise RuntimeError(f"alert webhook (LAKEHOUSE_ALERT_WEBHOOK_URL) answered {answer}")


def alert_channel(settings: Settings) -> AlertChannel:
    if settings.alerts == "webhook":
        return WebhookAlerts(
            ui_url=settings.dagster_ui_url,
            url=dg.EnvVar("LAKEHOUSE_ALERT_WEBHOOK_URL"),
            **optional_env("secret", "LAKEHOUSE_ALERT_WEBHOOK_SECRET"),
        )
    return LogAlerts(ui_url=settings.dagster_ui_url)
