"""Persisted monitoring results: one small JSON file per signal that the drift sensor reads.

Written atomically (temp file + rename) so a reader never sees half a result.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from lakehouse_ml.monitoring.policy import SIGNALS, Verdict


def signals_dir(reports_dir: Path) -> Path:
    return reports_dir / "signals"


def write_result(
    reports_dir: Path,
    verdict: Verdict,
    *,
    model_version: str | None,
    summary: dict[str, object],
    report_path: str | None = None,
) -> dict[str, object]:
    payload = {
        "signal": verdict.signal,
        "result_id": uuid.uuid4().hex,
        "computed_at": datetime.now(UTC).isoformat(),
        "model_version": model_version,
        "breach": bool(verdict.breach),
        "reasons": list(verdict.reasons),
        "report_path": report_path,
        "summary": summary,
    }
    directory = signals_dir(reports_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{verdict.signal}.json"
    tmp = directory / f".{verdict.signal}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, target)
    return payload


def read_results(reports_dir: Path) -> dict[str, dict[str, object]]:
    """The latest stored result per signal; a corrupt file is an error naming it."""
    results = {}
    for signal in SIGNALS:
        path = signals_dir(reports_dir) / f"{signal}.json"
        if not path.exists():
            continue
        try:
            results[signal] = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"monitoring result {path} is not valid JSON: {err}") from err
    return results


def new_breaches(results: dict[str, dict[str, object]], seen: dict[str, str]) -> list[dict[str, object]]:
    """Breaching results not yet acted on (``seen`` maps signal -> result_id already handled)."""
    return [
        result
        for signal, result in sorted(results.items())
        if result.get("breach") and seen.get(signal) != result.get("result_id")
    ]
