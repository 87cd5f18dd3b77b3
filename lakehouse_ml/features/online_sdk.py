"""Online feature reads for serving: the churn_v1 features of customers, in request order."""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from lakehouse_ml.features.request_time import CLOCK_ENTITY, as_of_day, at_request
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
    """``customer_id`` plus ``FEATURE_NAMES`` for each requested id, one row per id in request order,
    as of the online store's clock: the day counts computed at request time are moved forward from each
    row's snapshot day (``features.request_time``), as the model server does.

    Unknown customers are not an error: their feature values are missing (None/NaN); see
    ``unknown_customers``.
    """
    from feast.online_response import TIMESTAMP_POSTFIX

    ids = [str(c) for c in customer_ids]
    columns = [ENTITY_KEY, *FEATURE_NAMES]
    if not ids:
        return pd.DataFrame(columns=columns)
    response = store.get_online_features(
        features=_feature_service(store),
        entity_rows=[{ENTITY_KEY: c} for c in [*ids, CLOCK_ENTITY]],
    ).to_dict(include_event_timestamps=True)
    stamps = zip(*(response[name + TIMESTAMP_POSTFIX] for name in FEATURE_NAMES), strict=True)
    days = [_day(max(row_stamps)) for row_stamps in stamps]
    *snapshot_days, clock = days
    rows = []
    for index, day in enumerate(snapshot_days):
        stored = {name: response[name][index] for name in FEATURE_NAMES}
        rows.append({ENTITY_KEY: ids[index], **at_request(stored, day, as_of_day(clock, day))})
    return pd.DataFrame(rows, columns=columns)


def _day(epoch_seconds: int) -> date | None:
    """The day of a Feast response timestamp (0: no row)."""
    return datetime.fromtimestamp(epoch_seconds, UTC).date() if epoch_seconds else None


def unknown_customers(frame: pd.DataFrame) -> list[str]:
    """Customers of an ``online_features`` frame with no feature values at all."""
    return frame.loc[frame[FEATURE_NAMES].isna().all(axis=1), ENTITY_KEY].tolist()
