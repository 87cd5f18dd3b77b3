"""Progress of a run as a person reads it: one line per asset, begun when the asset starts and completed
when it ends, a bar on a terminal, the failure in brief.

Fed with the run's Dagster event log entries (``instance.add_event_listener``); the full event log
goes to a file, this prints only what someone watching needs. An asset's line appears as its step
starts (on a terminal as the live line above the bar, with its running time; elsewhere, e.g. CI, as the
line's beginning, flushed) and is completed with state, duration and figure when it ends, so the
whole run stays one line per asset. A step that builds several assets (the dbt models) gets one start
line naming them, then one line per asset as dbt finishes it.
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
    "model_performance_metrics": ["accuracy", "labelled_rows"],
    "feast_definitions": ["changed"],
    "prediction_actuals": ["updated_rows"],
    "churn_predictions_maintenance": ["files_compacted"],
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
    """Event listener: an asset's line begins when its step starts and ends when the asset is
    materialized or the step fails."""

    assets_by_step: dict[str, list[str]]
    out: IO[str]
    tty: bool
    failures: list[Failure] = field(default_factory=list)
    materialized: int = 0
    # Per step, when it started or last materialized an asset: a multi-asset step (dbt) builds its
    # assets one after another, each line shows the time since the previous one.
    _since: dict[str, float] = field(default_factory=dict)
    # The single-asset step whose line is begun but not yet completed (not on a terminal).
    _open: str | None = None
    _done: set[str] = field(default_factory=set)

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
        self._close_open_line()
        self.bar.stop()

    @staticmethod
    def _name(asset: str) -> str:
        return f"  {asset:<30}"

    @staticmethod
    def _result(mark: str, seconds: float, figure: str) -> str:
        return f" {mark:<4} {seconds:6.1f}s  {figure}".rstrip()

    def _begin(self, step: str) -> None:
        """Asset steps only: a step that runs asset checks alone, or a plain op, has no line."""
        assets = self.assets_by_step.get(step)
        if not assets:
            return
        if len(assets) > 1:
            text = f"{self._name(step)} ...  {len(assets)} assets: {', '.join(assets)}"
            self.console.print(text, markup=False)
        elif self.tty:
            self.bar.update(self.task, description=f"{self._name(assets[0])} ...")
            self.bar.refresh()
        else:
            self.out.write(self._name(assets[0]))
            self.out.flush()
            self._open = step

    def _end(self, step: str, asset: str, mark: str, seconds: float, figure: str) -> None:
        if self._open == step:
            self.out.write(self._result(mark, seconds, figure) + "\n")
            self.out.flush()
            self._open = None
        else:
            self.console.print(self._name(asset) + self._result(mark, seconds, figure), markup=False)

    def _close_open_line(self) -> None:
        """End a begun line whose step ended without a word (e.g. the run was interrupted)."""
        if self._open is not None:
            self.out.write("\n")
            self.out.flush()
            self._open = None

    def __call__(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind = event.event_type_value
        step = event.step_key
        if kind == "STEP_START":
            self._close_open_line()
            self._since[step] = entry.timestamp
            self._begin(step)
        elif kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            asset = materialization.asset_key.to_user_string()
            seconds = entry.timestamp - self._since.get(step, entry.timestamp)
            self._since[step] = entry.timestamp
            self._end(step, asset, "ok", seconds, headline(asset, materialization.metadata))
            self._done.add(asset)
            self.materialized += 1
            self.bar.advance(self.task)
        elif kind == "STEP_SUCCESS" and self._open == step:
            seconds = entry.timestamp - self._since.get(step, entry.timestamp)
            self._end(step, step, "done", seconds, "nothing materialized")
        elif kind == "STEP_FAILURE":
            assets = self.assets_by_step.get(step, [step])
            seconds = entry.timestamp - self._since.get(step, entry.timestamp)
            error = error_paragraph(event.event_specific_data.error)
            self.failures.append(Failure(step, assets, error))
            for asset in assets:
                if asset not in self._done:
                    self._end(step, asset, "FAIL", seconds, "")
        elif kind == "STEP_SKIPPED":
            self.bar.advance(self.task, len(self.assets_by_step.get(step, [])))
