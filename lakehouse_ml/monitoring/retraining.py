"""When a monitoring breach may start a retraining: the rules that keep drift that never stops from
retraining on every refresh (docs/trigger-policy.md, "No retraining storm").

Time is the data's own clock (the last order day of the landed data), like every other rule of the
pipeline, so replays and drills behave as production does. In order:

1. a candidate trained on the current data that failed the gate is not retrained on the same data;
2. a signal that breaches again on a model trained since the last drift retraining (a fresh model that
   did not fix it) raises an alert instead of another retraining;
3. within ``cooldown_days`` of data time since the last drift retraining, only a breach at least
   ``growth_factor`` times as severe as the one that started it retrains;
4. otherwise the breach retrains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lakehouse_ml.platform.settings import Settings

Action = Literal["retrain", "alert", "skip"]


@dataclass(frozen=True)
class RetrainingPolicy:
    """Defaults: the ``retrain_*`` settings (``from_settings``)."""

    cooldown_days: int
    growth_factor: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainingPolicy:
        return cls(settings.retrain_cooldown_days, settings.retrain_growth_factor)


@dataclass(frozen=True)
class DataState:
    """The landed data the sensor sees: an identity (changes with every landing) and its clock."""

    identity: str | None = None
    day: date | None = None


@dataclass(frozen=True)
class LastRetraining:
    """What started the last drift retraining; kept in the sensor's cursor."""

    data: str | None
    day: str | None  # ISO date of the data clock
    severity: float
    signals: tuple[str, ...]
    monitored_version: str | None

    @classmethod
    def from_dict(cls, values: dict) -> LastRetraining:
        return cls(**{**values, "signals": tuple(values.get("signals") or ())})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetrainingDecision:
    action: Action
    reasons: tuple[str, ...]


def severity(breach: dict) -> float:
    """A breach record's severity; 1.0 (at its threshold) for records written before severities existed."""
    value = breach.get("severity")
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def decide_retraining(
    breaches: list[dict],
    data: DataState,
    gate_failed_data: str | None,
    last: LastRetraining | None,
    policy: RetrainingPolicy,
) -> RetrainingDecision:
    """``breaches``: new breach records (``signal``, ``model_version``, ``severity``); ``gate_failed_data``:
    the data identity of the last retraining whose candidate failed the gate, if it did."""
    worst = max(severity(b) for b in breaches)
    signals = sorted({str(b["signal"]) for b in breaches})
    if data.identity is not None and gate_failed_data == data.identity:
        return RetrainingDecision(
            "skip",
            (f"the candidate trained on this data ({data.identity}) failed the gate: waiting for new data",),
        )
    if last is not None:
        unfixed = [
            b
            for b in breaches
            if b["signal"] in last.signals
            and b.get("model_version") is not None
            and last.monitored_version is not None
            and b["model_version"] != last.monitored_version
        ]
        if unfixed:
            return RetrainingDecision(
                "alert",
                tuple(
                    f"{b['signal']} breaches again on {b['model_version']}, trained after the retraining for "
                    f"{last.monitored_version}: retraining did not fix it"
                    for b in unfixed
                ),
            )
        elapsed = _days_between(last.day, data.day)
        if elapsed is not None and elapsed < policy.cooldown_days:
            needed = last.severity * policy.growth_factor
            if worst < needed:
                return RetrainingDecision(
                    "skip",
                    (
                        f"cool-down: last drift retraining {elapsed} data day(s) ago "
                        f"(< {policy.cooldown_days}); "
                        f"breach severity {worst:.2f} < {needed:.2f} ({policy.growth_factor}x the last one)",
                    ),
                )
            return RetrainingDecision(
                "retrain",
                (f"breach grew within the cool-down: severity {worst:.2f} >= {needed:.2f} of {signals}",),
            )
    return RetrainingDecision("retrain", (f"new breach of {signals} (severity {worst:.2f})",))


def _days_between(first: str | None, then: date | None) -> int | None:
    if first is None or then is None:
        return None
    return (then - date.fromisoformat(first)).days
