"""Features that grow by one a day for every customer, computed at request time.

``days_since_last_order`` and ``tenure_days`` change every day for everyone, so storing their daily
values would make every online write touch the whole population. They are day counts from a fixed
day: last order day = snapshot day - ``days_since_last_order`` and signup day = snapshot day -
``tenure_days`` do not move while the customer's other values stay put. So the online store keeps each
customer's row as of the snapshot day it last changed (the row's event timestamp) and, under the
reserved entity key ``CLOCK_ENTITY``, the pipeline-clock day it was last written for. A request on
day D reads both and moves the two counts forward by D - snapshot day: exactly the gold row of day D,
because a customer whose anchors or other values changed has been rewritten (``stored_state_hashes``
decides which).

Plain module (no Feast): the model server's lookup, the Feast SDK read of the skew check and the
changed-only write all use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

REQUEST_TIME_FEATURES = ("days_since_last_order", "tenure_days")
# Holds no features, only the event timestamp of the clock; customer ids never start with "__".
CLOCK_ENTITY = "__pipeline_clock__"
ANCHORS = {"days_since_last_order": "last_order_day", "tenure_days": "signup_day"}
_EPOCH = np.datetime64("1970-01-01", "D")


def as_of_day(clock: datetime | date | None, snapshot: datetime | date | None) -> date | None:
    """The day a row's request-time features are computed for: the online store's clock, never before the
    row's own snapshot day (a row written by a later, clock-less write), the row's day without a clock."""
    days = [d.date() if isinstance(d, datetime) else d for d in (clock, snapshot) if d is not None]
    return max(days) if days else None


def at_request(values: dict, snapshot_day: date | None, as_of: date | None) -> dict:
    """``values`` (one customer's stored features, snapshot day ``snapshot_day``) as of day ``as_of``."""
    if snapshot_day is None or as_of is None or as_of == snapshot_day:
        return values
    days = (as_of - snapshot_day).days
    moved = dict(values)
    for name in REQUEST_TIME_FEATURES:
        if moved.get(name) is not None:
            moved[name] = moved[name] + days
    return moved


def stored_state(snapshot: pd.DataFrame, feature_names: Sequence[str], timestamp: str) -> pd.DataFrame:
    """What the online store keeps of each row: the features that are not computed at request time,
    and instead of those two their anchor days (days since 1970-01-01)."""
    day = (snapshot[timestamp].to_numpy().astype("datetime64[D]") - _EPOCH).astype("int64")
    state = {name: snapshot[name] for name in feature_names if name not in ANCHORS}
    for name, anchor in ANCHORS.items():
        state[anchor] = day - snapshot[name].to_numpy()
    return pd.DataFrame(state, index=snapshot.index)


def stored_state_hashes(snapshot: pd.DataFrame, feature_names: Sequence[str], timestamp: str) -> np.ndarray:
    """A 64-bit hash per row of ``stored_state``: equal hashes, equal served features on every later day."""
    state = stored_state(snapshot, feature_names, timestamp)
    return pd.util.hash_pandas_object(state, index=False).to_numpy()
