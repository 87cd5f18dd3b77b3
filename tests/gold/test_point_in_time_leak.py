"""The point-in-time data test (macros/tests/features_use_only_past_orders.sql) fails on a planted leak: a
feature row of day D computed with an order placed after D + 1 day, the label cutoff, in a tiny gold build."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.support.gold_history import FEATURES, WEEKLY_AS_OF, build, dbt, landed, new_home, simulated_history

pytestmark = pytest.mark.slow  # one dbt build and three runs of one dbt test, 20-60 s on a shared machine

PIT_TEST = "test_name:features_use_only_past_orders"


def pit_test_status(home: Path) -> tuple[str, int]:
    """The point-in-time test's status and failing-row count."""
    done = dbt(home, "test", (PIT_TEST,))
    results = json.loads((home.parent / "dbt-target" / "run_results.json").read_text())["results"]
    results = [r for r in results if r["unique_id"].startswith("test.")]  # not the on-run-start hooks
    assert [r["unique_id"].split(".")[2] for r in results] == [
        "features_use_only_past_orders_fct_customer_features_ref_fct_orders_"
    ], done.stdout[-3000:]
    return results[0]["status"], int(results[0]["failures"] or 0)


LATER_ORDER = """
select f.customer_id, f.event_timestamp, o.amount, o.order_ts
from {features} f
join silver.fct_orders o
  on o.customer_id = f.customer_id
 and o.order_ts >= f.event_timestamp + interval 1 day
 and o.order_ts < f.event_timestamp + interval 8 day
order by f.event_timestamp, f.customer_id, o.order_ts
limit 1
"""


def plant(home: Path, assignments: str) -> tuple:
    """Rewrite one feature row of day D with the first order placed in the week after D + 1 day; returns
    the original row so it can be restored."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        customer, day, amount, order_ts = con.execute(LATER_ORDER.format(features=FEATURES)).fetchone()
        key = f"customer_id = '{customer}' and event_timestamp = timestamp '{day}'"
        original = con.execute(f"select * from {FEATURES} where {key}").fetchone()
        values = {"amount": amount, "order_day": f"date '{order_ts.date()}'", "day": f"date '{day.date()}'"}
        con.execute(f"update {FEATURES} set {assignments.format(**values)} where {key}")
        return key, original


def restore(home: Path, key: str, original: tuple) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(f"delete from {FEATURES} where {key}")
        con.execute(f"insert into {FEATURES} values ({', '.join('?' * len(original))})", list(original))


def test_the_point_in_time_test_fails_on_a_feature_computed_from_a_later_order(tmp_path: Path) -> None:
    customers, orders = simulated_history(customers=40)
    home = new_home(tmp_path, "home", landed(customers, orders, WEEKLY_AS_OF[0]))
    build(home)
    assert pit_test_status(home) == ("pass", 0)

    # The later order counted in the value and the order counts, as a window ending at D + 8 days would.
    key, original = plant(
        home,
        "lifetime_value = lifetime_value + {amount}, order_count_30d = order_count_30d + 1, "
        "order_count_90d = order_count_90d + 1",
    )
    assert pit_test_status(home) == ("fail", 1)
    restore(home, key, original)
    assert pit_test_status(home) == ("pass", 0)

    # Only the recency leaks: days since the later order (negative), the one feature the counts do not show.
    plant(home, "days_since_last_order = {day} - {order_day}")
    assert pit_test_status(home) == ("fail", 1)
