"""The lakehouse-ml code location: one ``dg.Definitions`` for both profiles."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.resources import build_resources
from lakehouse_ml.settings import Settings

settings = Settings.from_env()

ASSET_MODULES: list = []

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    resources=build_resources(settings),
    executor=dg.in_process_executor if settings.profile == "local" else None,
)
