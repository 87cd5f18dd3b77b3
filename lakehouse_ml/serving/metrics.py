"""Prometheus metrics of the churn-predictor server, labelled with the model version and its role.

KServe's own histograms (``request_predict_seconds``...) carry only ``model_name``, which is the same
for the stable and the canary version; these carry ``model_version`` and ``role`` (``stable`` or
``canary``) so a dashboard or a canary analysis can compare the two. KServe's ``/metrics`` serves them
(prometheus_client's default registry).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from lakehouse_ml.serving.names import MODEL_NAME

VERSION_LABELS = ("model_name", "model_version", "role")

REQUESTS = Counter(
    "churn_predictor_requests",
    "Predict requests, by model version, role and outcome (ok, or error: the model failed)",
    [*VERSION_LABELS, "outcome"],
)
PREDICTIONS = Counter(
    "churn_predictor_predictions",
    "Instances answered, by model version, role and outcome (scored, unknown_customer)",
    [*VERSION_LABELS, "outcome"],
)
SCORE_SECONDS = Histogram(
    "churn_predictor_score_seconds",
    "Time to look up the features of one request and score it, by model version and role",
    VERSION_LABELS,
)
SERVED = Gauge(
    "churn_predictor_served",
    "1 for each model version serving now, with its role and runtime",
    [*VERSION_LABELS, "runtime"],
)
CANARY_TRAFFIC_PERCENT = Gauge(
    "churn_predictor_canary_traffic_percent", "Share of unpinned requests routed to the canary version"
)


_ever_served: set[tuple[str, str, str]] = set()


def record_served(served: list[tuple[str, str, str]], canary_percent: int) -> None:
    """The versions serving now as ``(version, role, runtime)``; versions served before drop to 0.

    Set to 0 rather than removed: prometheus_client cannot remove labels in its multi-process mode,
    which importing Feast switches on when it comes first."""
    for labels in _ever_served - set(served):
        SERVED.labels(MODEL_NAME, *labels).set(0)
    for labels in served:
        SERVED.labels(MODEL_NAME, *labels).set(1)
    _ever_served.update(served)
    CANARY_TRAFFIC_PERCENT.set(canary_percent)


def record_request(version: str, role: str, scored: int, unknown: int, seconds: float) -> None:
    labels = (MODEL_NAME, version, role)
    REQUESTS.labels(*labels, "ok").inc()
    SCORE_SECONDS.labels(*labels).observe(seconds)
    if scored:
        PREDICTIONS.labels(*labels, "scored").inc(scored)
    if unknown:
        PREDICTIONS.labels(*labels, "unknown_customer").inc(unknown)


def record_failure(version: str, role: str) -> None:
    """A request the model failed to score (answered 503)."""
    REQUESTS.labels(MODEL_NAME, version, role, "error").inc()
