"""Run ``dbt build --target prod`` (dbt-trino) with no Trino server and record every statement it sends.

A stand-in for the Trino server at the DB-API level that dbt-trino uses (``trino.dbapi.Connection.cursor``):
each statement is recorded and answered like Trino would answer dbt's introspection, from a catalog state
given on the command line: ``fresh`` (no table exists: first build, ``create table as``) or ``built`` (every
model exists: incremental gold with its window delete, and tables replaced). Data tests find no failures.

    python -m tests.support.standins.trino_dbt_offline fresh|built <target-dir> <statements.json>
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR

CATALOG = "iceberg"
# relations of the project by schema (what information_schema.tables lists once everything is built)
BUILT = {
    "bronze": {"stg_customers": "VIEW", "stg_orders": "VIEW"},
    "silver": {"dim_customers": "BASE TABLE", "fct_orders": "BASE TABLE", "snapshot_days": "BASE TABLE"},
    "gold": {
        "fct_customer_features": "BASE TABLE",
        "fct_churn_labels": "BASE TABLE",
        "gold_build_windows": "BASE TABLE",
    },
}
# information_schema.columns of the incremental models (dbt-trino compares them and names them in its insert)
COLUMNS = {
    "fct_customer_features": [
        ("customer_id", "varchar"),
        ("event_timestamp", "timestamp(6)"),
        ("lifetime_value", "double"),
        ("order_count_30d", "bigint"),
        ("order_count_90d", "bigint"),
        ("avg_order_value", "double"),
        ("days_since_last_order", "bigint"),
        ("tenure_days", "bigint"),
        ("customer_segment", "varchar"),
    ],
    "fct_churn_labels": [
        ("customer_id", "varchar"),
        ("event_timestamp", "timestamp(6)"),
        ("churned", "integer"),
    ],
}
WINDOW_START_DAY = 20_000  # what the gold window query answers: a day number (2024-10-04)


class RecordingCursor:
    """The part of ``trino.dbapi.Cursor`` dbt-trino uses."""

    statements: list[str] = []
    state = "fresh"

    def __init__(self) -> None:
        self.description = None
        self._rows: list[list] = []
        self.update_type = None
        self.rowcount = -1
        self.query = None
        self.query_id = "offline"

    def execute(self, operation: str, params=None):
        assert params is None, "dbt-trino sent bound parameters"
        self.statements.append(operation)
        self.query = operation
        columns, self._rows = self._answer(operation)
        self.description = [(name, "varchar", None, None, None, None, None) for name in columns] or None
        return self

    def _answer(self, sql: str) -> tuple[list[str], list[list]]:
        lowered = sql.lower()
        if "information_schema.tables" in lowered:
            schema = re.search(r"t\.table_schema = '(\w+)'", lowered).group(1)
            tables = BUILT.get(schema, {}) if self.state == "built" else {}
            rows = [
                [CATALOG, name, schema, "table" if kind == "BASE TABLE" else "view"]
                for name, kind in tables.items()
            ]
            return ["database", "name", "schema", "table_type"], rows
        if "information_schema" in lowered and "columns" in lowered:
            table = re.search(r"table_name = '(\w+?)(?:__dbt_tmp)?'", lowered).group(1)
            return ["column_name", "data_type"], [list(column) for column in COLUMNS.get(table, [])]
        if "as_of_day_number" in lowered and "least(" in lowered:
            return ["_col0"], [[WINDOW_START_DAY]]
        if "as failures" in lowered:
            return ["failures", "should_warn", "should_error"], [[0, False, False]]
        return [], []

    def fetchall(self):
        return self._rows

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def cancel(self) -> None:
        pass


def run(state: str, target: Path) -> list[str]:
    import trino.dbapi
    from dbt.cli.main import dbtRunner

    RecordingCursor.state = state
    RecordingCursor.statements = []
    trino.dbapi.Connection.cursor = lambda self, *args, **kwargs: RecordingCursor()
    result = dbtRunner().invoke(
        [
            "build",
            "--target",
            "prod",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
            "--threads",
            "1",
        ]  # fmt: skip
    )
    if not result.success:
        raise SystemExit(f"dbt build against the offline Trino failed: {result.exception or result.result}")
    return RecordingCursor.statements


if __name__ == "__main__":
    state, target, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out.write_text(json.dumps(run(state, target)))
