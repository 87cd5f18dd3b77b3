"""Feast definitions of the churn model's features: entity ``customer``, feature view
``customer_features`` over the gold table ``fct_customer_features``, feature service ``churn_v1``.

Plain module with Feast imported inside ``build``: the same definitions serve ``feast apply`` (through
``feast_repo/customer_features.py``) and the ``feast_definitions`` asset, each with its profile's
gold location.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from lakehouse_ml.features.gold import GoldSource

if TYPE_CHECKING:
    from feast import Entity, FeatureService, FeatureView, FileSource

# Snapshots are weekly (plus the as-of day): three intervals tolerate one missed snapshot run.
FEATURE_TTL = timedelta(days=21)


def build(gold: GoldSource) -> tuple[Entity, FileSource, FeatureView, FeatureService]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    customer = Entity(
        name="customer",
        join_keys=["customer_id"],
        value_type=ValueType.STRING,
        description="An e-commerce customer",
    )
    source = FileSource(
        name="fct_customer_features",
        path=gold.uri,
        timestamp_field="event_timestamp",
        s3_endpoint_override=gold.s3_endpoint,
        description="dbt gold model: one row per customer per snapshot day",
    )
    customer_features = FeatureView(
        name="customer_features",
        entities=[customer],
        ttl=FEATURE_TTL,
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="lifetime_value", dtype=Float64),
            Field(name="order_count_30d", dtype=Int64),
            Field(name="order_count_90d", dtype=Int64),
            Field(name="avg_order_value", dtype=Float64),
            Field(name="days_since_last_order", dtype=Int64),
            Field(name="tenure_days", dtype=Int64),
            Field(name="customer_segment", dtype=String),
        ],
        source=source,
        online=True,
        tags={"owner": "lakehouse-ml", "gold_model": "fct_customer_features"},
    )
    churn_v1 = FeatureService(
        name="churn_v1",
        features=[customer_features],
        description="Features of the churn model, version 1",
    )
    return customer, source, customer_features, churn_v1
