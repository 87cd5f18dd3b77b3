"""Iceberg table ``ml.churn_predictions`` (docs/ARCHITECTURE.md "Predictions table")."""

from __future__ import annotations

NAMESPACE = "ml"
TABLE_NAME = "churn_predictions"
IDENTIFIER = f"{NAMESPACE}.{TABLE_NAME}"
PREDICTION_FIELDS = (
    "prediction_id",
    "customer_id",
    "prediction",
    "confidence",
    "model_version",
    "prediction_timestamp",
)
COLUMNS = (*PREDICTION_FIELDS, "actual", "actual_timestamp")


def predictions_schema():
    """``prediction_id`` is the identifier field (upserts join on it); actuals arrive later, so nullable."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import DoubleType, IntegerType, NestedField, StringType, TimestamptzType

    return Schema(
        NestedField(1, "prediction_id", StringType(), required=True),
        NestedField(2, "customer_id", StringType(), required=True),
        NestedField(3, "prediction", IntegerType(), required=True),
        NestedField(4, "confidence", DoubleType(), required=True),
        NestedField(5, "model_version", StringType(), required=True),
        NestedField(6, "prediction_timestamp", TimestamptzType(), required=True),
        NestedField(7, "actual", IntegerType(), required=False),
        NestedField(8, "actual_timestamp", TimestamptzType(), required=False),
        identifier_field_ids=[1],
    )


def ensure_predictions_table(catalog):
    """Load ``ml.churn_predictions``, creating the namespace and table on first use."""
    from pyiceberg.exceptions import NoSuchTableError

    catalog.create_namespace_if_not_exists(NAMESPACE)
    try:
        return catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        return catalog.create_table_if_not_exists(IDENTIFIER, schema=predictions_schema())
