"""Load the latest features into the online store, up to the pipeline clock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lakehouse_ml.features.gold import GoldSource, customers_between, pipeline_clock
from lakehouse_ml.features.store import FEATURE_VIEW

if TYPE_CHECKING:
    import feast


@dataclass(frozen=True)
class Materialization:
    start: datetime
    end: datetime
    rows: int  # gold rows in [start, end] read from the offline store
    entities: int  # customers written to the online store (their latest row in the window)
    seconds: float
    incremental: bool

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def entities_per_second(self) -> float:
        return self.entities / self.seconds if self.seconds > 0 else 0.0


def materialize_online(
    store: feast.FeatureStore, gold: GoldSource, end: datetime | None = None
) -> Materialization:
    """Materialize ``customer_features`` up to ``end`` (default: the pipeline clock).

    Incremental from the previous materialization when there is one before ``end``. Otherwise (first
    run, or a clock that did not advance or went back) the whole ttl window before ``end``: Feast's
    own first incremental run would start at wall-clock now - ttl, which misses data-time snapshots.
    """
    end = end or pipeline_clock(gold)
    view = store.get_feature_view(FEATURE_VIEW)
    previous = view.most_recent_end_time
    incremental = previous is not None and previous < end
    start = previous if incremental else end - view.ttl
    began = time.perf_counter()
    if incremental:
        store.materialize_incremental(end_date=end, feature_views=[FEATURE_VIEW])
    else:
        store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])
    seconds = time.perf_counter() - began
    customers = customers_between(gold, start, end)
    return Materialization(start, end, len(customers), len(set(customers)), seconds, incremental)
