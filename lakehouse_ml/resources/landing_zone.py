"""Where the raw landing zone is and whether an empty one may be filled by the simulator (local only)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse_ml.platform.settings import Settings


class LandingZone(dg.ConfigurableResource):
    """The raw landing zone: a local folder or an ``s3://`` URI holding ``customers/`` and ``orders/``."""

    uri: str
    fill_when_empty: bool = False
    simulator_seed: int = 7

    def fill_if_empty(self) -> bool:
        """Run the built-in simulator into an empty local landing zone; True when it wrote data."""
        if not self.fill_when_empty:
            return False
        from lakehouse_ml.simulator import fill_landing_zone_if_empty

        return fill_landing_zone_if_empty(Path(self.uri), seed=self.simulator_seed)


def local_landing_zone(settings: Settings) -> LandingZone:
    return LandingZone(uri=settings.raw_uri, fill_when_empty=settings.raw_is_local)


def prod_landing_zone(settings: Settings) -> LandingZone:
    return LandingZone(uri=settings.raw_uri)
