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


PARTITION_FIELD = "prediction_day"


def predictions_partition_spec(schema):
    """Partitioned by day of ``prediction_timestamp``: monitoring reads the last days, maintenance compacts
    per day, and the spool's small appends land in today's partition only."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform

    source = schema.find_field("prediction_timestamp").field_id
    return PartitionSpec(PartitionField(source, 1000, DayTransform(), PARTITION_FIELD))


def ensure_predictions_table(catalog):
    """Load ``ml.churn_predictions``, creating the namespace and table on first use. A table created before
    it was partitioned gets the day partition in place (metadata only: its files keep their unpartitioned
    spec and are still read; new files and compactions are written per day)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.transforms import DayTransform

    catalog.create_namespace_if_not_exists(NAMESPACE)
    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        schema = predictions_schema()
        return catalog.create_table_if_not_exists(
            IDENTIFIER, schema=schema, partition_spec=predictions_partition_spec(schema)
        )
    if not table.spec().fields:
        with table.update_spec() as spec:
            spec.add_field("prediction_timestamp", DayTransform(), PARTITION_FIELD)
    return table
