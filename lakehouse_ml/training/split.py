"""Time-based train / evaluation split with a gap of at least the label horizon.

A label for snapshot day D looks at orders in [D + 1 day, D + 1 day + horizon). Training days are
therefore limited to D + horizon <= first evaluation day, so no training label sees an order that
falls inside the evaluation period. Never a random split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd


class TrainingDataError(ValueError):
    """The gold / feature data cannot produce a usable training set."""


@dataclass(frozen=True)
class TimeSplit:
    train_days: tuple[date, ...]
    eval_days: tuple[date, ...]
    horizon_days: int

    @property
    def train_window(self) -> tuple[str, str]:
        return self.train_days[0].isoformat(), self.train_days[-1].isoformat()

    @property
    def eval_window(self) -> tuple[str, str]:
        return self.eval_days[0].isoformat(), self.eval_days[-1].isoformat()

    @property
    def gap_days(self) -> int:
        return (self.eval_days[0] - self.train_days[-1]).days

    def as_dict(self) -> dict[str, object]:
        return {
            "train_window": list(self.train_window),
            "eval_window": list(self.eval_window),
            "train_days": len(self.train_days),
            "eval_days": len(self.eval_days),
            "gap_days": self.gap_days,
            "label_horizon_days": self.horizon_days,
        }


def snapshot_days(timestamps: pd.Series) -> list[date]:
    return sorted({ts.date() for ts in pd.to_datetime(timestamps, utc=True).drop_duplicates()})


def time_split(days: list[date], horizon_days: int, train_snapshots: int, eval_snapshots: int) -> TimeSplit:
    """Evaluate on the latest ``eval_snapshots`` labelled days, train on the ``train_snapshots``
    latest days at least ``horizon_days`` before the first evaluation day."""
    if train_snapshots < 2 or eval_snapshots < 1:
        raise ValueError("train_snapshots must be >= 2 and eval_snapshots >= 1")
    days = sorted(set(days))
    if len(days) < eval_snapshots + 2:
        raise TrainingDataError(
            f"fct_churn_labels has {len(days)} labelled snapshot day(s); the time split needs at least "
            f"{eval_snapshots + 2} (>= 2 to train, {eval_snapshots} to evaluate, {horizon_days} days apart)"
        )
    eval_days = days[-eval_snapshots:]
    last_train_day = eval_days[0] - timedelta(days=horizon_days)
    eligible = [d for d in days if d <= last_train_day]
    if len(eligible) < 2:
        raise TrainingDataError(
            f"too little labelled history: evaluation starts {eval_days[0]}, training days must be on or "
            f"before {last_train_day} (label horizon {horizon_days} days) and only {len(eligible)} "
            f"snapshot day(s) are (first labelled day {days[0]})"
        )
    return TimeSplit(tuple(eligible[-train_snapshots:]), tuple(eval_days), horizon_days)
