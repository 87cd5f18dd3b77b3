"""Monitoring results: the small verdict record each monitoring asset stores with its materialization
(in the Dagster instance, so that ``drift_retrain_sensor`` sees it from any pod) and the rule that
picks the breaches not yet acted on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from lakehouse_ml.monitoring.policy import Verdict

RESULT_FIELDS = ("signal", "result_id", "breach")


def verdict_record(
    verdict: Verdict,
    *,
    model_version: str | None,
    summary: dict[str, object],
    report_uri: str | None = None,
    data_week: str | None = None,
) -> dict[str, object]:
    """A JSON-ready record of ``verdict`` with a fresh ``result_id`` (numpy values become plain ones);
    ``data_week`` names the week of the pipeline clock it judged (``monitoring.weeks.data_week``)."""
    record = {
        "signal": verdict.signal,
        "result_id": uuid.uuid4().hex,
        "computed_at": datetime.now(UTC).isoformat(),
        "data_week": data_week,
        "model_version": model_version,
        "breach": bool(verdict.breach),
        "severity": float(verdict.severity),
        "reasons": list(verdict.reasons),
        "report_uri": report_uri,
        "summary": summary,
    }
    return json.loads(json.dumps(record, default=str))


def check_record(record: object, source: str) -> dict[str, object]:
    """``record`` if it is a verdict record; else a ValueError naming ``source`` and what is wrong."""
    if not isinstance(record, dict) or any(name not in record for name in RESULT_FIELDS):
        raise ValueError(
            f"monitoring result of {source} is not a verdict record with {RESULT_FIELDS}: {record!r}"
        )
    return record


def new_breaches(
    results: dict[str, dict[str, object]], seen: dict[str, str], newest_weeks: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """Breaching results not yet acted on (``seen`` maps signal -> result_id already handled). A result of
    a data week older than the newest one seen for its signal (``newest_weeks``) is a recomputed past week,
    never a reason to act now."""
    newest_weeks = newest_weeks or {}
    return [
        result
        for signal, result in sorted(results.items())
        if result.get("breach")
        and seen.get(signal) != result.get("result_id")
        and not _older_week(result.get("data_week"), newest_weeks.get(signal))
    ]


def newest_data_weeks(results: dict[str, dict[str, object]], known: dict[str, str]) -> dict[str, str]:
    """``known`` (signal -> newest data week seen) updated with the weeks of ``results``."""
    newest = dict(known)
    for signal, result in results.items():
        week = result.get("data_week")
        if isinstance(week, str) and not _older_week(week, newest.get(signal)):
            newest[signal] = week
    return newest


def _older_week(week: object, newest: str | None) -> bool:
    return isinstance(week, str) and newest is not None and week < newest  # YYYY-MM-DD sorts by date
