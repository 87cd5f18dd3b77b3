"""Deterministic canary traffic split: exactly ``percent`` of every 100 consecutive requests."""

from __future__ import annotations


class TrafficSplit:
    """Sends request n to the canary when floor(n * p / 100) steps up, so the share never drifts."""

    def __init__(self, canary_percent: int):
        if not 0 <= canary_percent <= 100:
            raise ValueError(f"canary_traffic_percent must be in [0, 100], got {canary_percent}")
        self.canary_percent = canary_percent
        self._count = 0

    def to_canary(self) -> bool:
        self._count += 1
        return (self._count * self.canary_percent) // 100 > ((self._count - 1) * self.canary_percent) // 100
