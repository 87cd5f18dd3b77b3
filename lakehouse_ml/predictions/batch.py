"""Batch scoring through the deployed endpoint (real HTTP, keep-alive, batched requests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

DEFAULT_BATCH_SIZE = 500
# A 503 is a model that failed to predict (or a lost online store). Retried, because the traffic split
# sends the next request to the stable version (below a 50% canary share no two consecutive requests
# go to the canary): a failing canary then costs retries, counted by the server for the canary analysis,
# instead of failing every refresh before the analysis can roll it back.
RETRIES_ON_UNAVAILABLE = 2


@dataclass
class BatchSummary:
    customers: int = 0
    scored: int = 0
    unknown: int = 0
    predicted_churners: int = 0
    probability_sum: float = 0.0
    requests: int = 0
    retried: int = 0
    versions: Counter = field(default_factory=Counter)

    @property
    def mean_probability(self) -> float:
        return self.probability_sum / self.scored if self.scored else 0.0


def active_customers_sql(gold_schema: str) -> str:
    """Customers with an order in the 90 days up to the pipeline clock (the newest feature snapshot)."""
    table = f"{gold_schema}.fct_customer_features"
    return (
        f"select customer_id from {table} "
        f"where event_timestamp = (select max(event_timestamp) from {table}) and order_count_90d > 0 "
        "order by customer_id"
    )


def score_customers(
    predict_url: str, customer_ids: list[str], batch_size: int = DEFAULT_BATCH_SIZE, timeout: float = 60.0
) -> BatchSummary:
    """POST the customers in batches of ``batch_size`` V1 instances; every answer is checked. A batch
    answered 503 is sent again up to ``RETRIES_ON_UNAVAILABLE`` times."""
    import httpx

    summary = BatchSummary(customers=len(customer_ids))
    with httpx.Client(timeout=timeout) as client:
        for start in range(0, len(customer_ids), batch_size):
            batch = customer_ids[start : start + batch_size]
            body = {"instances": [{"customer_id": c} for c in batch]}
            response = client.post(predict_url, json=body)
            for _ in range(RETRIES_ON_UNAVAILABLE):
                if response.status_code != 503:
                    break
                summary.retried += 1
                response = client.post(predict_url, json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{predict_url} answered {response.status_code}: {response.text[:500]}")
            predictions = response.json()["predictions"]
            if len(predictions) != len(batch):
                raise RuntimeError(
                    f"{predict_url} answered {len(predictions)} predictions for {len(batch)} customers"
                )
            summary.requests += 1
            for prediction in predictions:
                summary.versions[prediction["model_version"]] += 1
                if prediction.get("churn_probability") is None:
                    summary.unknown += 1
                    continue
                summary.scored += 1
                summary.probability_sum += prediction["churn_probability"]
                summary.predicted_churners += prediction["churn"]
    return summary
