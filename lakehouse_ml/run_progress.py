"""Progress of a run as a person reads it: one line per asset, a bar on a terminal, the failure in brief.

Fed with the run's Dagster event log entries (``instance.add_event_listener``); the full event log
goes to a file, this prints only what someone watching needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# The figure shown on an asset's line: the first of its keys that the materialization carries.
HEADLINE_FIELDS = {
    "raw_orders": ["last_order_ts", "dagster/row_count"],
    "churn_model": ["roc_auc"],
    "model_version": ["git_tag"],
    "churn_predictor_deployment": ["canary_version", "stable_version"],
    "batch_scores": ["scored"],
    "churn_predictions": ["table_rows"],
    "online_features": ["entities_written"],
    "model_performance_metrics": ["accuracy"],
    "feature_drift_report": ["drifted_share"],
    "prediction_drift_report": ["drifted_share"],
    "concept_drift_report": ["breach"],
}
DEFAULT_HEADLINE = ["dagster/row_count"]


def metadata_text(value: object) -> str:
    value = getattr(value, "value", value)
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def headline(asset: str, metadata: dict) -> str:
    for name in HEADLINE_FIELDS.get(asset, DEFAULT_HEADLINE):
        if metadata_text(metadata.get(name, "")):
            return f"{name.removeprefix('dagster/')}={metadata_text(metadata[name])}"
    return ""


def error_paragraph(error) -> str:
    """The innermost cause of a Dagster ``SerializableErrorInfo`` (the user's exception, not the
    framework's wrapper) as ``module.Class: message`` on one line."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return re.sub(r"\s+", " ", error.message).strip()


@dataclass
class Failure:
    step: str
    assets: list[str]
    error: str


@dataclass
class RunProgress:
    """Event listener: prints a line when an asset is materialized or its step fails."""

    assets_by_step: dict[str, list[str]]
    out: IO[str]
    tty: bool
    failures: list[Failure] = field(default_factory=list)
    materialized: int = 0
    # Per step, when it started or last materialized an asset: a multi-asset step (dbt) builds its
    # assets one after another, each line shows the time since the previous one.
    _since: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.console = Console(file=self.out, force_terminal=self.tty, highlight=False, soft_wrap=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            disable=not self.tty,
        )
        total = sum(len(assets) for assets in self.assets_by_step.values())
        self.task = self.bar.add_task("starting", total=total)

    def __enter__(self) -> RunProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def _line(self, mark: str, asset: str, seconds: float, figure: str) -> None:
        self.console.print(f"  {mark} {asset:<28} {seconds:6.1f}s  {figure}".rstrip(), markup=False)

    def __call__(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind = event.event_type_value
        step = event.step_key
        if kind == "STEP_START":
            self._since[step] = entry.timestamp
            self.bar.update(self.task, description=f"running {step}")
        elif kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            asset = materialization.asset_key.to_user_string()
            seconds = entry.timestamp - self._since.get(step, entry.timestamp)
            self._since[step] = entry.timestamp
            self._line("ok  ", asset, seconds, headline(asset, materialization.metadata))
            self.materialized += 1
            self.bar.advance(self.task)
        elif kind == "STEP_FAILURE":
            assets = self.assets_by_step.get(step, [step])
            seconds = entry.timestamp - self._since.get(step, entry.timestamp)
            error = error_paragraph(event.event_specific_data.error)
            self.failures.append(Failure(step, assets, error))
            for asset in assets:
                self._line("FAIL", asset, seconds, "")
        elif kind == "STEP_SKIPPED":
            self.bar.advance(self.task, len(self.assets_by_step.get(step, [])))
