"""Loading validated raw tables into the warehouse and reading from it, for DuckDB (local) and Trino (prod).

Local: tables ``raw.customers`` / ``raw.orders`` in the DuckDB file, replaced together in one transaction.

Prod: Trino cannot bulk-insert millions of rows quickly, so the validated rows are written as Parquet to
``<staging_uri>/<dataset>/<load_id>/`` on S3, a Hive external table is created over each folder, and the
views ``<raw_catalog>.raw.customers`` / ``.orders`` (the dbt sources) are switched to the new tables with
``CREATE OR REPLACE VIEW``. Each switch is atomic; the two views switch one after the other only after both
datasets passed validation and were written, so a failed load never changes what dbt reads. Older load
folders and tables are dropped afterwards.

Gold, prod: dbt-trino writes the gold models as Iceberg tables, while Feast's offline store and the training
components read one Parquet file per model under ``LAKEHOUSE_GOLD_URI`` (as dbt-duckdb writes them locally).
``publish_gold_parquet`` copies a gold Iceberg table to that file with pyiceberg. An S3 object only becomes
visible once its upload completes, so readers see the previous file or the new one, never a part.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lakehouse_ml.platform.catalog_names import identifier
from lakehouse_ml.platform.storage import filesystem, s3_filesystem

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

RAW_SCHEMA = "raw"
TRINO_TYPES = {
    "string": "varchar",
    "large_string": "varchar",
    "double": "double",
    "decimal128(18, 2)": "decimal(18,2)",
    "int64": "bigint",
    "timestamp[us]": "timestamp(6)",
}


@contextmanager
def duckdb_connection(path: str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection: other processes open the same file, DuckDB allows one writer."""
    import duckdb

    con = duckdb.connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def duckdb_load_raw(path: str, tables: Mapping[str, pa.Table]) -> None:
    with duckdb_connection(path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        for dataset, table in tables.items():
            con.register("incoming", table)
            con.execute(f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{dataset} AS SELECT * FROM incoming")
            con.unregister("incoming")
        con.execute("COMMIT")


def duckdb_query(path: str, sql: str) -> pd.DataFrame:
    with duckdb_connection(path, read_only=True) as con:
        return con.sql(sql).df()


def new_load_id() -> str:
    # digits only: Trino lower-cases table names, and old loads are recognised by this suffix
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def trino_table_ddl(qualified_name: str, table: pa.Table, location: str) -> str:
    columns = ", ".join(f'"{f.name}" {TRINO_TYPES[str(f.type)]}' for f in table.schema)
    properties = f"external_location = '{location}', format = 'PARQUET'"
    return f"CREATE TABLE {qualified_name} ({columns}) WITH ({properties})"


def trino_load_raw(
    execute: Callable[[str], list[tuple]],
    tables: Mapping[str, pa.Table],
    staging_uri: str,
    raw_catalog: str,
    load_id: str,
) -> None:
    """Write each table to S3 as Parquet, create an external table over it and switch the source view."""
    import pyarrow.parquet as pq

    fs, root = filesystem(staging_uri)
    scheme = staging_uri.split("://", 1)[0]
    schema = f"{raw_catalog}.{RAW_SCHEMA}"
    execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for dataset, table in tables.items():
        folder = f"{root.rstrip('/')}/{dataset}/{load_id}"
        fs.makedirs(folder, exist_ok=True)
        with fs.open(f"{folder}/part-0.parquet", "wb") as handle:
            pq.write_table(table, handle)
        execute(trino_table_ddl(f"{schema}.{dataset}_{load_id}", table, f"{scheme}://{folder}"))
    for dataset in tables:
        execute(f"CREATE OR REPLACE VIEW {schema}.{dataset} AS SELECT * FROM {schema}.{dataset}_{load_id}")
    for dataset in tables:
        for (name,) in execute(f"SHOW TABLES FROM {schema} LIKE '{dataset}\\_%' ESCAPE '\\'"):
            old = re.fullmatch(rf"{dataset}_(\w+)", name)
            if old and old.group(1) != load_id:
                execute(f"DROP TABLE {schema}.{name}")
                fs.rm(f"{root.rstrip('/')}/{dataset}/{old.group(1)}", recursive=True)


def parquet_columns(uri: str, s3_endpoint: str | None = None) -> list[tuple[str, str]]:
    """Name and Arrow type of each column of a Parquet file (a path or ``s3://`` URI), from its footer."""
    import pyarrow.parquet as pq

    if uri.startswith("s3://"):
        with s3_filesystem(s3_endpoint).open(uri.removeprefix("s3://"), "rb") as handle:
            schema = pq.read_schema(handle)
    else:
        schema = pq.read_schema(uri)
    return [(field.name, str(field.type)) for field in schema]


def publish_gold_parquet(
    catalog, model: str, gold_uri: str, s3_endpoint: str | None = None
) -> tuple[str, int]:
    """Write the Iceberg table ``gold.<model>`` (catalog_names) of ``catalog`` (pyiceberg) to
    ``<gold_uri>/<model>.parquet``.

    Returns the file's URI and its row count.
    """
    import pyarrow.parquet as pq
    from pyiceberg.exceptions import NoSuchTableError

    name = identifier(model)
    try:
        table = catalog.load_table(name).scan().to_arrow()
    except NoSuchTableError as err:
        missing = f"gold model {model} is not in the Iceberg catalog as {name}: run dbt first"
        raise LookupError(missing) from err
    # Sorted like the local export (export_gold_parquet in dbt_project/macros/incremental_gold.sql): by
    # snapshot day, so readers skip row groups, and the same table always gives the same bytes.
    keys = ["event_timestamp", "customer_id"]
    table = table.sort_by(
        [(name, "ascending") for name in keys + [c for c in table.column_names if c not in keys]]
    )
    uri = f"{gold_uri.rstrip('/')}/{model}.parquet"
    if uri.startswith("s3://"):
        with s3_filesystem(s3_endpoint).open(uri.removeprefix("s3://"), "wb") as handle:
            pq.write_table(table, handle)
    else:
        pq.write_table(table, f"{uri}.partial")
        os.replace(f"{uri}.partial", uri)
    return uri, table.num_rows
