"""Feast definitions of the churn model's features: entity ``customer``, feature view
``customer_features`` over the gold table ``fct_customer_features``, feature service ``churn_v1``.

Plain module with Feast imported inside ``build``: the same definitions serve ``feast apply`` (through
``feast_repo/customer_features.py``) and the ``feast_definitions`` asset, each with its profile's
gold location. Descriptions and owners come from the gold model's dbt docs (``gold_docs``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from lakehouse_ml.features.gold import GOLD_TABLE, GoldSource
from lakehouse_ml.features.gold_docs import GoldModelDocs, gold_model_docs
from lakehouse_ml.features.store import ENTITY_KEY

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView, FileSource

# Snapshots are weekly (plus the as-of day): three intervals tolerate one missed snapshot run.
FEATURE_TTL = timedelta(days=21)


def build(
    gold: GoldSource, docs: GoldModelDocs | None = None
) -> tuple[Entity, FileSource, FeatureView, FeatureService]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    docs = docs or gold_model_docs(GOLD_TABLE)
    customer = Entity(
        name="customer",
        join_keys=[ENTITY_KEY],
        value_type=ValueType.STRING,
        description=docs.column(ENTITY_KEY),
        owner=docs.owner,
    )
    source = FileSource(
        name=GOLD_TABLE,
        path=gold.uri,
        timestamp_field="event_timestamp",
        s3_endpoint_override=gold.s3_endpoint,
        description=f"dbt gold model {GOLD_TABLE}: {docs.description}",
        owner=docs.owner,
    )
    types = {
        "customer_id": String,
        "lifetime_value": Float64,
        "order_count_30d": Int64,
        "order_count_90d": Int64,
        "avg_order_value": Float64,
        "days_since_last_order": Int64,
        "tenure_days": Int64,
        "customer_segment": String,
    }
    customer_features = FeatureView(
        name="customer_features",
        entities=[customer],
        ttl=FEATURE_TTL,
        schema=[
            Field(name=name, dtype=dtype, description=docs.column(name), tags={"owner": docs.owner})
            for name, dtype in types.items()
        ],
        source=source,
        online=True,
        description=docs.description,
        owner=docs.owner,
        tags={"owner": docs.owner, "gold_model": GOLD_TABLE},
    )
    churn_v1 = FeatureService(
        name="churn_v1",
        features=[customer_features],
        description="Features of the churn model, version 1",
    )
    return customer, source, customer_features, churn_v1
