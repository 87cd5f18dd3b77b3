"""Evidently workspace: every monitoring report is also a snapshot, one project per report kind.

``evidently ui --workspace <LAKEHOUSE_EVIDENTLY_WORKSPACE>`` then browses the reports and plots them over
data time (each snapshot's timestamp is the pipeline clock, not the wall clock). The workspace is a
folder (``$LAKEHOUSE_HOME/evidently`` locally) or any fsspec URL Evidently's local workspace accepts
(``s3://bucket/evidently`` in prod; ``evidently ui`` then needs ``FSSPEC_S3_ENDPOINT_URL`` outside AWS).
A project's dashboard is created with the project: the share of
drifted columns and each column's drift score over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from lakehouse_ml.platform.storage import make_endpoint_the_fsspec_default

PROJECT_PREFIX = "churn-predictor"


@dataclass(frozen=True)
class SnapshotTarget:
    """Where and as what a report's snapshot goes."""

    workspace: str
    ui_url: str  # where `evidently ui` serves ``workspace``
    kind: str  # the report kind, e.g. ``feature_drift/recent_active``: one project each
    name: str
    as_of: date
    tags: tuple[str, ...] = ()

    @property
    def project_name(self) -> str:
        return f"{PROJECT_PREFIX} {self.kind}"

    @property
    def timestamp(self) -> datetime:
        return datetime.combine(self.as_of, time())


def add_snapshot(target: SnapshotTarget, snapshot, drift_columns: Sequence[str] = ()) -> str:
    """Add ``snapshot`` (an Evidently ``Snapshot``) to its project; the URL of it in the Evidently UI."""
    from evidently.ui.workspace import Workspace

    if target.workspace.startswith("s3://"):
        make_endpoint_the_fsspec_default()
    workspace = Workspace(target.workspace)
    projects = workspace.search_project(target.project_name)
    if projects:
        project = projects[0]
    else:
        project = workspace.create_project(
            target.project_name, description=f"lakehouse-ml {target.kind} reports, one per monitoring run"
        )
        if drift_columns:
            _drift_dashboard(project, drift_columns)
    ref = workspace.add_run(project.id, snapshot, include_data=False, name=target.name)
    return f"{target.ui_url.rstrip('/')}/projects/{project.id}/reports/{ref.id}"


def list_snapshots(workspace_location: str, kind: str) -> list[dict]:
    """The snapshots of one report kind, oldest first: ``id``, ``name``, ``timestamp``, ``tags``."""
    from evidently.ui.workspace import Workspace

    if workspace_location.startswith("s3://"):
        make_endpoint_the_fsspec_default()
    workspace = Workspace(workspace_location)
    rows = []
    for project in workspace.search_project(f"{PROJECT_PREFIX} {kind}"):
        for snapshot_id in workspace.list_runs(project.id):
            model = workspace.get_run(project.id, snapshot_id)
            rows.append(
                {"id": str(snapshot_id), "name": model.name, "timestamp": model.timestamp, "tags": model.tags}
            )
    return sorted(rows, key=lambda row: row["timestamp"])


def _drift_dashboard(project, columns: Sequence[str]) -> None:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import line_plot_panel

    project.dashboard.add_panel(
        line_plot_panel(
            "Share of drifted columns",
            [
                PanelMetric(
                    legend="share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"}
                )
            ],
        )
    )
    project.dashboard.add_panel(
        line_plot_panel(
            "Drift score per column",
            [PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c}) for c in columns],
        )
    )
