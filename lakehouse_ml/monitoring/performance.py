"""Performance over a window: the per-day rows of ``sql.daily_performance_sql`` pooled per model version."""

from __future__ import annotations

import pandas as pd


def pooled_by_version(daily: pd.DataFrame) -> list[dict]:
    """Window totals per model version; ROC AUC is the labelled-count weighted mean of the daily AUCs.

    Plain records, so that a metric without labelled rows stays ``None`` (a frame would make it NaN).
    """
    rows = []
    for version, frame in daily.groupby("model_version"):
        labelled = int(frame["labelled_count"].sum())
        tp, fp, fn = (int(frame[c].sum()) for c in ("tp", "fp", "fn"))
        aucs = frame.dropna(subset=["roc_auc"])
        rows.append(
            {
                "model_version": str(version),
                "prediction_count": int(frame["prediction_count"].sum()),
                "labelled_count": labelled,
                "accuracy": float(frame["correct"].sum()) / labelled if labelled else None,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
                "roc_auc": float(
                    (aucs["roc_auc"] * aucs["labelled_count"]).sum() / aucs["labelled_count"].sum()
                )
                if len(aucs)
                else None,
            }
        )
    return rows


def weekly_by_version(daily: pd.DataFrame, metric: str = "accuracy") -> tuple[list[str], dict[str, list]]:
    """``metric`` per ISO week (``YYYY-Www``) and model version, pooled like ``pooled_by_version``;
    ``None`` where a version has no labelled rows that week. Returns (weeks, {version: values})."""
    if daily.empty:
        return [], {}
    iso = pd.to_datetime(daily["day"]).dt.isocalendar()
    week = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    weeks = sorted(week.unique())
    series: dict[str, list] = {}
    for (version, label), frame in daily.groupby(["model_version", week]):
        pooled = pooled_by_version(frame)[0][metric]
        series.setdefault(str(version), [None] * len(weeks))[weeks.index(label)] = pooled
    return weeks, series
