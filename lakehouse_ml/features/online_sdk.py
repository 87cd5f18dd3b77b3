"""Online feature reads for serving: the churn_v1 features of customers, in request order."""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from lakehouse_ml.features.store import ENTITY_KEY, FEATURE_NAMES, FEATURE_SERVICE

if TYPE_CHECKING:
    import feast


# Looking the service up in the registry costs milliseconds even from Feast's cache, far more than the
# online read itself: keep it per store, refreshed as often as Feast refreshes its registry cache.
_services: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _feature_service(store: feast.FeatureStore):
    fetched = _services.get(store)
    ttl = store.config.registry.cache_ttl_seconds or float("inf")
    if fetched is None or time.monotonic() - fetched[0] > ttl:
        fetched = (time.monotonic(), store.get_feature_service(FEATURE_SERVICE, allow_cache=True))
        _services[store] = fetched
    return fetched[1]


def online_features(store: feast.FeatureStore, customer_ids: Sequence[str]) -> pd.DataFrame:
    """``customer_id`` plus ``FEATURE_NAMES`` for each requested id, one row per id in request order.

    Unknown customers are not an error: their feature values are missing (None/NaN); see
    ``unknown_customers``.
    """
    ids = [str(c) for c in customer_ids]
    columns = [ENTITY_KEY, *FEATURE_NAMES]
    if not ids:
        return pd.DataFrame(columns=columns)
    response = store.get_online_features(
        features=_feature_service(store),
        entity_rows=[{ENTITY_KEY: c} for c in ids],
    ).to_dict()
    return pd.DataFrame({name: response[name] for name in columns})


def unknown_customers(frame: pd.DataFrame) -> list[str]:
    """Customers of an ``online_features`` frame with no feature values at all."""
    return frame.loc[frame[FEATURE_NAMES].isna().all(axis=1), ENTITY_KEY].tolist()
