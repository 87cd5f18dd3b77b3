"""Named drift scenarios: how each one changes the simulated process from its start day.

A scenario stays active once it has started: later advances keep applying it, with or without
``--drift``. Several scenarios can be active at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DRIFT_SCENARIOS: dict[str, str] = {
    "basket_shift": (
        "Data drift: prices rise about 40% and baskets hold about 1.5 more items, so order amounts "
        "and items jump for every customer."
    ),
    "channel_shift": (
        "Data drift: a paid-social campaign surge; new customers arrive 40% faster and most of them "
        "come through paid_social, whose customers order less and churn more."
    ),
    "concept_shift": (
        "Concept drift: frequent, engaged customers now churn at a much higher rate and infrequent "
        "ones at a lower rate; the overall churn rate rises only a little and feature distributions "
        "move only slowly, while their relation to churn flips."
    ),
}


@dataclass(frozen=True)
class ActiveDrift:
    name: str
    start: date

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "start": self.start.isoformat()}

    @classmethod
    def from_json(cls, payload: dict[str, str]) -> ActiveDrift:
        return cls(name=payload["name"], start=date.fromisoformat(payload["start"]))


@dataclass(frozen=True)
class Adjustments:
    """Process parameters one day of simulation runs with; the defaults are the undrifted process."""

    price_multiplier: float = 1.0
    extra_items: float = 0.0
    arrival_multiplier: float = 1.0
    paid_social_share: float | None = None
    concept_shift: bool = False


def validate_scenario(name: str) -> None:
    if name not in DRIFT_SCENARIOS:
        raise ValueError(f"unknown drift scenario {name!r}; choose one of {sorted(DRIFT_SCENARIOS)}")


def adjustments_for(active: list[ActiveDrift], day: date) -> Adjustments:
    started = {drift.name for drift in active if drift.start <= day}
    return Adjustments(
        price_multiplier=1.4 if "basket_shift" in started else 1.0,
        extra_items=1.5 if "basket_shift" in started else 0.0,
        arrival_multiplier=1.4 if "channel_shift" in started else 1.0,
        paid_social_share=0.6 if "channel_shift" in started else None,
        concept_shift="concept_shift" in started,
    )
