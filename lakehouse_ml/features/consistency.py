"""Train/serve skew check: online features must equal the offline point-in-time features."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from lakehouse_ml.features.gold import GoldSource, customers_between
from lakehouse_ml.features.online_sdk import online_features
from lakehouse_ml.features.store import ENTITY_KEY, FEATURE_NAMES
from lakehouse_ml.features.training_set import build_training_set

if TYPE_CHECKING:
    import feast


@dataclass(frozen=True)
class FeatureMismatch:
    customer_id: str
    feature: str
    online: object
    offline: object


def sample_customers(gold: GoldSource, as_of: datetime, window: timedelta, size: int, seed: int) -> list[str]:
    """A seeded sample of customers with a gold row in [as_of - window, as_of] (all if fewer)."""
    customers = sorted(set(customers_between(gold, as_of - window, as_of)))
    return sorted(random.Random(seed).sample(customers, min(size, len(customers))))


def _same(online: object, offline: object) -> bool:
    if pd.isna(online) and pd.isna(offline):
        return True
    if pd.isna(online) or pd.isna(offline):
        return False
    if isinstance(online, int | float) and isinstance(offline, int | float):
        return math.isclose(online, offline, rel_tol=1e-9, abs_tol=1e-12)
    return online == offline


def online_offline_mismatches(
    store: feast.FeatureStore, customer_ids: list[str], as_of: datetime
) -> list[FeatureMismatch]:
    """Every (customer, feature) whose online value differs from the offline value as of ``as_of``."""
    offline = build_training_set(store, pd.DataFrame({ENTITY_KEY: customer_ids, "event_timestamp": as_of}))
    online = online_features(store, customer_ids)
    mismatches = []
    for (_, off_row), (_, on_row) in zip(offline.iterrows(), online.iterrows(), strict=True):
        for feature in FEATURE_NAMES:
            online_value, offline_value = on_row[feature], off_row[feature]
            if not _same(online_value, offline_value):
                mismatches.append(FeatureMismatch(on_row[ENTITY_KEY], feature, online_value, offline_value))
    return mismatches
