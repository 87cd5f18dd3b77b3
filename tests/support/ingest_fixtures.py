"""A small hand-made landing zone (not written by the simulator) shared by the ingestion and gold tests.

Customers are CSV (two files, one without the optional columns, one signup with a +02:00 offset), orders
are Parquet with UTC timestamps, zero amounts, a refund, a customer without orders and orders after the
pipeline clock. Expected feature values in tests/gold/test_gold.py are worked out by hand from these rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = "2024-05-15"

CUSTOMERS_WITH_COUNTRY = """customer_id,signup_ts,country,acquisition_channel
A,2024-01-02T09:00:00Z,DE,search
B,2024-01-21T01:30:00+02:00,FR,
C,2024-02-01T12:00:00Z,,social
"""

CUSTOMERS_MINIMAL = """customer_id,signup_ts
D,2024-05-14T10:00:00Z
E,2024-05-16T08:00:00Z
F,2024-01-01T00:00:00Z
"""

ORDERS = [
    ("o01", "A", datetime(2024, 1, 3, 10, tzinfo=UTC), 100.0, 2),
    ("o02", "A", datetime(2024, 1, 10, 12, tzinfo=UTC), 0.0, 1),
    ("o03", "A", datetime(2024, 2, 20, 8, tzinfo=UTC), 50.0, None),
    ("o04", "A", datetime(2024, 2, 21, 9, tzinfo=UTC), -20.0, 1),
    ("o05", "A", datetime(2024, 5, 15, 23, 59, 59, tzinfo=UTC), 30.0, 1),
    ("o06", "A", datetime(2024, 5, 16, 0, 0, 0, tzinfo=UTC), 1000.0, 9),
    ("o07", "B", datetime(2024, 1, 21, 0, 0, 0, tzinfo=UTC), 40.0, 1),
    ("o08", "B", datetime(2024, 3, 1, 15, tzinfo=UTC), 60.0, 3),
    ("o09", "D", datetime(2024, 5, 15, 11, tzinfo=UTC), 25.0, 1),
    ("o10", "B", datetime(2024, 5, 17, 10, tzinfo=UTC), 10.0, 1),
    ("o11", "F", datetime(2024, 1, 5, 12, tzinfo=UTC), 15.5, 1),
    ("o12", "F", datetime(2024, 4, 10, 9, tzinfo=UTC), 22.0, 2),
]


def orders_table(rows=ORDERS) -> pa.Table:
    order_id, customer_id, order_ts, amount, items = zip(*rows, strict=True)
    return pa.table(
        {
            "order_id": pa.array(order_id, pa.string()),
            "customer_id": pa.array(customer_id, pa.string()),
            "order_ts": pa.array(order_ts, pa.timestamp("us", tz="UTC")),
            "amount": pa.array(amount, pa.float64()),
            "items": pa.array(items, pa.int64()),
        }
    )


def write_landing_zone(raw: Path) -> Path:
    (raw / "customers").mkdir(parents=True)
    (raw / "orders").mkdir(parents=True)
    (raw / "customers" / "part-1.csv").write_text(CUSTOMERS_WITH_COUNTRY)
    (raw / "customers" / "part-2.csv").write_text(CUSTOMERS_MINIMAL)
    pq.write_table(orders_table(ORDERS[:6]), raw / "orders" / "2024-a.parquet")
    pq.write_table(orders_table(ORDERS[6:]), raw / "orders" / "2024-b.parquet")
    (raw / "orders" / "_SUCCESS").write_text("")
    return raw


def materialize_raw_and_gold(raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """raw_customers, raw_orders and every dbt asset, with resources built from the current environment."""
    from lakehouse_ml.assets import gold, raw
    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.resources import build_resources

    settings = Settings.from_env()
    resources = {
        k: v
        for k, v in build_resources(settings).items()
        if k in {"landing_zone", "warehouse", "dbt", "iceberg"}
    }
    return dg.materialize(
        [raw.raw_landing_zone, gold.lakehouse_dbt_models], resources=resources, raise_on_error=raise_on_error
    )


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        evaluation.check_name for evaluation in result.get_asset_check_evaluations() if not evaluation.passed
    ]
