"""The raw landing zone contract (DESIGN.md) and its validation.

Validation runs in an in-memory DuckDB over the Arrow tables read from the landing zone. It collects every
violation (dataset, column, rule, count, example rows) before failing, and on success returns the rows with
the contract's types: ids and text as strings, timestamps as naive UTC, amounts as DECIMAL(18,2), items as
integers.

Money is exact from here to the gold aggregation: an amount is rounded once, to cents, when it is typed
(``MONEY_TYPE``), so sums never depend on the order in which a parallel aggregation adds them. An amount
that does not fit (|amount| >= 10^16) or is not finite breaks the rule "parsable as number".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakehouse_ml.ingest.landing import SOURCE_FILE_COLUMN

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

EXAMPLES = 5
MONEY_TYPE = "DECIMAL(18,2)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "text", "timestamp", "number" or "integer"
    required: bool
    unique: bool = False


CONTRACT: dict[str, tuple[Column, ...]] = {
    "customers": (
        Column("customer_id", "id", required=True, unique=True),
        Column("signup_ts", "timestamp", required=True),
        Column("country", "text", required=False),
        Column("acquisition_channel", "text", required=False),
    ),
    "orders": (
        Column("order_id", "id", required=True, unique=True),
        Column("customer_id", "id", required=True),
        Column("order_ts", "timestamp", required=True),
        Column("amount", "number", required=True),
        Column("items", "integer", required=False),
    ),
}

WAREHOUSE_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "number": MONEY_TYPE,
    "integer": "BIGINT",
}


@dataclass(frozen=True)
class Violation:
    dataset: str
    column: str
    rule: str
    count: int
    examples: list[dict[str, object]] = field(default_factory=list)

    def __str__(self) -> str:
        shown = "; ".join(str(example) for example in self.examples)
        return f"{self.dataset}.{self.column}: rule '{self.rule}' broken by {self.count} row(s); e.g. {shown}"


class ContractViolationError(ValueError):
    """The landing zone breaks the contract; nothing was loaded."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        lines = "\n".join(f"  - {violation}" for violation in violations)
        super().__init__(f"raw landing zone breaks the contract ({len(violations)} violation(s)):\n{lines}")


def _allowed(kind: str, arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if kind in ("id", "text"):
        return text or pa.types.is_integer(arrow_type)
    if kind == "timestamp":
        return text or pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
    if kind == "number":
        return (
            text
            or pa.types.is_integer(arrow_type)
            or pa.types.is_floating(arrow_type)
            or pa.types.is_decimal(arrow_type)
        )
    return text or pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _typed_expression(column: Column, arrow_type: pa.DataType) -> str:
    """SQL turning the source column into its contract type; NULL where a value does not parse."""
    import pyarrow as pa

    source = f'"{column.name}"'
    if column.kind in ("id", "text"):
        return f"CAST({source} AS VARCHAR)"
    if column.kind == "timestamp":
        # The connection's time zone is UTC: naive values are read as UTC, offsets are converted to it.
        return f"timezone('UTC', TRY_CAST({source} AS TIMESTAMPTZ))"
    if column.kind == "number":
        # text is cast to DECIMAL directly (exact); isfinite keeps NaN and infinity out
        return f"CASE WHEN isfinite(TRY_CAST({source} AS DOUBLE)) THEN TRY_CAST({source} AS {MONEY_TYPE}) END"
    if pa.types.is_floating(arrow_type):
        return f"CASE WHEN {source} = trunc({source}) THEN CAST({source} AS BIGINT) END"
    if pa.types.is_integer(arrow_type):
        return f"CAST({source} AS BIGINT)"
    # text: DuckDB would round '2.5' to 2 in a cast, so only whole-number text counts as an integer
    whole = f"regexp_full_match(trim({source}), '[+-]?[0-9]+')"
    return f"CASE WHEN {whole} THEN TRY_CAST(trim({source}) AS BIGINT) END"


def _examples(
    con: duckdb.DuckDBPyConnection, relation: str, where: str
) -> tuple[int, list[dict[str, object]]]:
    count = con.sql(f"SELECT count(*) FROM {relation} WHERE {where}").fetchall()[0][0]
    if not count:
        return 0, []
    rows = con.sql(f"SELECT * FROM {relation} WHERE {where} LIMIT {EXAMPLES}")
    names = rows.columns
    examples = [
        {
            ("file" if name == SOURCE_FILE_COLUMN else name): (None if value is None else str(value))
            for name, value in zip(names, row, strict=True)
        }
        for row in rows.fetchall()
    ]
    return count, examples


def _check_dataset(con: duckdb.DuckDBPyConnection, dataset: str, table: pa.Table) -> list[Violation]:
    violations: list[Violation] = []
    source = f"source_{dataset}"
    con.register(source, table)
    present = set(table.column_names)
    typed_columns = []
    for column in CONTRACT[dataset]:
        if column.name not in present:
            if column.required:
                violations.append(
                    Violation(
                        dataset,
                        column.name,
                        "required column present",
                        table.num_rows,
                        [{"columns found": sorted(present - {SOURCE_FILE_COLUMN})}],
                    )
                )
            typed_columns.append(f'CAST(NULL AS {WAREHOUSE_TYPES[column.kind]}) AS "{column.name}"')
            continue
        arrow_type = table.schema.field(column.name).type
        if not _allowed(column.kind, arrow_type):
            violations.append(
                Violation(
                    dataset,
                    column.name,
                    f"type {column.kind}",
                    table.num_rows,
                    [{"type found": str(arrow_type)}],
                )
            )
            typed_columns.append(f'CAST(NULL AS {WAREHOUSE_TYPES[column.kind]}) AS "{column.name}"')
            continue
        expression = _typed_expression(column, arrow_type)
        typed_columns.append(f'{expression} AS "{column.name}"')
        if column.required:
            count, examples = _examples(con, source, f'"{column.name}" IS NULL')
            if count:
                violations.append(Violation(dataset, column.name, "not null", count, examples))
        count, examples = _examples(con, source, f'"{column.name}" IS NOT NULL AND ({expression}) IS NULL')
        if count:
            violations.append(Violation(dataset, column.name, f"parsable as {column.kind}", count, examples))
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW typed_{dataset} AS SELECT {', '.join(typed_columns)}, "
        f'"{SOURCE_FILE_COLUMN}" FROM {source}'
    )
    for column in CONTRACT[dataset]:
        if column.unique and column.name in present:
            duplicated = (
                f'"{column.name}" IN (SELECT "{column.name}" FROM typed_{dataset} '
                f'GROUP BY 1 HAVING count(*) > 1 AND "{column.name}" IS NOT NULL)'
            )
            count, examples = _examples(con, f"typed_{dataset}", duplicated)
            if count:
                violations.append(Violation(dataset, column.name, "unique", count, examples))
    return violations


def validate_landing_zone(customers: pa.Table, orders: pa.Table) -> dict[str, pa.Table]:
    """Check both datasets against the contract; return them typed (``{"customers": ..., "orders": ...}``).

    Raises ContractViolationError listing every violation found.
    """
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        violations = _check_dataset(con, "customers", customers) + _check_dataset(con, "orders", orders)
        orphan = (
            "customer_id IS NOT NULL AND customer_id NOT IN "
            "(SELECT customer_id FROM typed_customers WHERE customer_id IS NOT NULL)"
        )
        unusable = {"required column present", "type id"}
        ids_usable = not any(
            v.dataset == "customers" and v.column == "customer_id" and v.rule in unusable for v in violations
        )
        count, examples = _examples(con, "typed_orders", orphan) if ids_usable else (0, [])
        if count:
            violations.append(
                Violation("orders", "customer_id", "exists in customers.customer_id", count, examples)
            )
        if violations:
            raise ContractViolationError(violations)
        return {
            dataset: con.sql(
                "SELECT "
                + ", ".join(f'"{column.name}"' for column in CONTRACT[dataset])
                + f" FROM typed_{dataset}"
            ).to_arrow_table()
            for dataset in CONTRACT
        }
