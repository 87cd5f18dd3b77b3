"""Resources per deployment profile, chosen from one mapping (hooli-data-eng style).

Both profiles expose the same resource keys; only the implementations differ.
"""

from __future__ import annotations

from typing import Any

from lakehouse_ml.settings import Settings


def local_resources(settings: Settings) -> dict[str, Any]:
    return {}


def prod_resources(settings: Settings) -> dict[str, Any]:
    return {}


RESOURCES_BY_PROFILE = {"local": local_resources, "prod": prod_resources}


def build_resources(settings: Settings) -> dict[str, Any]:
    return RESOURCES_BY_PROFILE[settings.profile](settings)
