"""Batch scoring in process: the deployed versions' registered artifacts score the active customers'
newest gold features in batches, and the predictions go to the prediction log in one append.

A batch prediction's id is a function of its customer and scoring day (``batch_prediction_ids``), and the
append skips the ids the log already holds (``append_new_scores``): scoring a day again (a run re-executed
after its worker was killed, perhaps after its append had committed) adds nothing, so each active customer
has one batch prediction per scoring day.

The model server scores the same artifact through ``lakehouse_ml.serving.servable`` (onnxruntime on a
compiled version), so a batch score equals the server's answer for the same feature row
(``tests/predictions/test_batch_parity.py``). The split between stable and canary is the server's:
exactly ``canary_percent`` of every 100 consecutive customers go to the canary
(``lakehouse_ml.serving.traffic.TrafficSplit``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from lakehouse_ml.serving.servable import ServableModel

DEFAULT_BATCH_SIZE = 65_536
# uuid5 namespace of batch prediction ids (server predictions have random ids: serving/spool.py)
BATCH_ID_NAMESPACE = uuid.UUID("7c0e4d0a-5b7e-4a53-9a6c-2f4f1d8e0b91")


@dataclass
class BatchSummary:
    customers: int = 0
    scored: int = 0
    predicted_churners: int = 0
    probability_sum: float = 0.0
    batches: int = 0
    canary_errors: int = 0  # rows the canary failed to score: scored by the stable version instead
    canary_error: str = ""
    versions: Counter = field(default_factory=Counter)

    @property
    def mean_probability(self) -> float:
        return self.probability_sum / self.scored if self.scored else 0.0


def active_customers_sql(gold_schema: str, columns: tuple[str, ...] = ()) -> str:
    """Customers with an order in the 90 days up to the pipeline clock (the newest feature snapshot), with
    their ``columns`` of that snapshot."""
    table = f"{gold_schema}.fct_customer_features"
    selected = ", ".join(("customer_id", *columns))
    return (
        f"select {selected} from {table} "
        f"where event_timestamp = (select max(event_timestamp) from {table}) and order_count_90d > 0 "
        "order by customer_id"
    )


def canary_mask(count: int, canary_percent: int) -> np.ndarray:
    """Which of ``count`` consecutive customers the canary scores: ``TrafficSplit``'s rule, vectorized."""
    if not 0 <= canary_percent <= 100:
        raise ValueError(f"canary_traffic_percent must be in [0, 100], got {canary_percent}")
    n = np.arange(1, count + 1, dtype=np.int64)
    return (n * canary_percent) // 100 > ((n - 1) * canary_percent) // 100


def score_batches(model: ServableModel, frame, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Churn probabilities of every row of ``frame`` (a pandas frame holding the model's feature columns),
    ``batch_size`` rows per call of the model."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    missing = [name for name in model.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"version {model.version}: the feature rows lack {missing}")
    names = list(model.feature_names)
    nulls = frame[names].isna().sum()
    if nulls.any():
        raise ValueError(f"version {model.version}: null feature values {nulls[nulls > 0].to_dict()}")
    parts = [
        model.predict_columns({name: frame[name].to_numpy()[start : start + batch_size] for name in names})
        for start in range(0, len(frame), batch_size)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def score_customers(
    frame,
    stable: ServableModel,
    canary: ServableModel | None,
    canary_percent: int,
    scored_at: datetime,
    scoring_day: date,
    batch_size: int = DEFAULT_BATCH_SIZE,
):
    """Score ``frame`` (``customer_id`` and the feature columns, one row per customer) with the deployed
    versions. Rows the canary fails to score go to the stable version and are counted in the summary's
    ``canary_errors``, so a failing canary does not stop the refresh that judges it. Returns the
    predictions as columns of the prediction log (``PREDICTION_FIELDS`` and ``scoring_day``, the pipeline
    clock's day) and a summary. Ids are ``batch_prediction_ids``: the same customer and day, the same id."""
    if scored_at.tzinfo is None:
        raise ValueError(f"scored_at must be timezone-aware, got {scored_at!r}")
    count = len(frame)
    to_canary = canary_mask(count, canary_percent if canary is not None else 0)
    probabilities = np.empty(count, dtype=np.float64)
    labels = np.empty(count, dtype=bool)
    versions = np.empty(count, dtype=object)
    summary = BatchSummary(customers=count)

    def assign(model: ServableModel, rows: np.ndarray) -> None:
        scores = score_batches(model, frame[rows], batch_size)
        probabilities[rows] = scores
        labels[rows] = scores >= model.threshold
        versions[rows] = model.version
        summary.versions[model.version] += int(rows.sum())
        summary.batches += -(-len(scores) // batch_size)

    assign(stable, ~to_canary)
    if canary is not None and to_canary.any():
        try:
            assign(canary, to_canary)
        except Exception as err:  # judged by the canary analysis, not fatal to the refresh
            summary.canary_errors, summary.canary_error = int(to_canary.sum()), f"{type(err).__name__}: {err}"
            assign(stable, to_canary)
    summary.scored = count
    summary.predicted_churners = int(labels.sum())
    summary.probability_sum = float(probabilities.sum())
    customer_ids = frame["customer_id"].astype(str).to_numpy()
    columns = {
        "prediction_id": batch_prediction_ids(customer_ids, scoring_day),
        "customer_id": customer_ids,
        "prediction": labels,
        "confidence": probabilities,
        "model_version": versions,
        "prediction_timestamp": scored_at,
        "scoring_day": scoring_day,
    }
    return columns, summary


def batch_prediction_ids(customer_ids, scoring_day: date) -> bytes:
    """The 16-byte ids of the batch predictions of ``customer_ids`` on ``scoring_day``, in one buffer: uuid5
    of the day and the customer, so a prediction's id is its natural key (one per customer and day)."""
    day = scoring_day.isoformat()
    return b"".join(uuid.uuid5(BATCH_ID_NAMESPACE, f"{day}/{customer}").bytes for customer in customer_ids)


def append_new_scores(table, rows, scoring_day: date) -> int:
    """Append the ``rows`` (an Arrow table of batch predictions made on ``scoring_day``) whose
    ``prediction_id`` the log does not hold yet; returns how many. Looks the ids up among the stored rows of
    that scoring day and commits on top of the snapshot it read, so a concurrent writer fails the commit
    rather than a duplicate being inserted."""
    import pyarrow.compute as pc
    from pyiceberg.expressions import EqualTo

    from lakehouse_ml.predictions.table import SCORING_DAY, id_storage

    if not rows.num_rows:
        return 0
    with table.transaction() as transaction:
        stored = table.scan(
            row_filter=EqualTo(SCORING_DAY, scoring_day.isoformat()), selected_fields=("prediction_id",)
        ).to_arrow()
        known = id_storage(stored.column("prediction_id"))
        fresh = rows.filter(pc.invert(pc.is_in(id_storage(rows.column("prediction_id")), value_set=known)))
        if fresh.num_rows:
            transaction.append(fresh)
    return fresh.num_rows
