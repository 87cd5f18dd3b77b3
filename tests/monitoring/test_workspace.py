"""Every drift report is also a snapshot in an Evidently workspace, one project per report kind."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from lakehouse_ml.monitoring.drift import drift_report
from lakehouse_ml.monitoring.workspace import SnapshotTarget, list_snapshots

UI = "http://127.0.0.1:8000"


def _frames(shift: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    side = lambda scale: pd.DataFrame(  # noqa: E731
        {"spend": rng.gamma(2, 10 * scale, 300), "segment": rng.choice(["a", "b"], 300)}
    )
    return side(1.0), side(shift)


def _report(workspace, kind: str, as_of: date, shift: float):
    reference, current = _frames(shift, seed=as_of.toordinal())
    target = SnapshotTarget(str(workspace), UI, kind, f"{as_of} v3", as_of, ("model_version=v3",))
    return drift_report(
        reference,
        current,
        ["spend"],
        ["segment"],
        column_threshold=0.1,
        sample_size=300,
        seed=1,
        snapshot_to=target,
    )


def test_reports_are_listed_per_kind_in_data_time_order_and_linked_in_the_ui(tmp_path):
    from evidently.ui.workspace import Workspace

    workspace = tmp_path / "evidently"
    later = _report(workspace, "feature_drift/recent_active", date(2024, 3, 10), shift=1.5)
    earlier = _report(workspace, "feature_drift/recent_active", date(2024, 3, 3), shift=1.0)
    other = _report(workspace, "prediction_drift", date(2024, 3, 10), shift=1.0)

    snapshots = list_snapshots(str(workspace), "feature_drift/recent_active")
    assert [s["name"] for s in snapshots] == ["2024-03-03 v3", "2024-03-10 v3"]
    assert [s["timestamp"].date() for s in snapshots] == [date(2024, 3, 3), date(2024, 3, 10)]
    assert all(s["tags"] == ["model_version=v3"] for s in snapshots)
    assert [s["name"] for s in list_snapshots(str(workspace), "prediction_drift")] == ["2024-03-10 v3"]

    projects = {p.name: p for p in Workspace(str(workspace)).list_projects()}
    assert set(projects) == {
        "churn-predictor feature_drift/recent_active",
        "churn-predictor prediction_drift",
    }
    project = projects["churn-predictor feature_drift/recent_active"]
    assert later.snapshot_url == f"{UI}/projects/{project.id}/reports/{snapshots[1]['id']}"
    assert earlier.snapshot_url.endswith(snapshots[0]["id"]) and other.snapshot_url != later.snapshot_url
    panels = [p.title for p in project.dashboard.model().panels]
    assert panels == ["Share of drifted columns", "Drift score per column"]
    stored = Workspace(str(workspace)).get_run(project.id, snapshots[1]["id"])
    scores = [
        r for r in stored.metric_results.values() if getattr(r, "display_name", "").startswith("Value drift")
    ]
    assert scores, "the snapshot keeps the per-column drift results the dashboard plots"


def test_without_a_target_nothing_is_written(tmp_path):
    reference, current = _frames(1.0, seed=1)
    result = drift_report(
        reference, current, ["spend"], ["segment"], column_threshold=0.1, sample_size=300, seed=1
    )
    assert result.snapshot_url is None and not list(tmp_path.iterdir())


def test_an_unknown_kind_lists_nothing(tmp_path):
    assert list_snapshots(str(tmp_path / "evidently"), "nothing_here") == []
