"""Query engine for the monitoring SQL: DuckDB locally, Trino in prod, one SQL text for both.

SQL templates name tables by placeholder (``{predictions}``, ``{orders}``, ``{features}``,
``{model_versions}``); each engine maps them to its own tables. DuckDB cannot install its Iceberg
extension offline, so the local engine reads the Iceberg tables through pyiceberg into an in-memory
DuckDB and attaches the dbt warehouse read-only.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from lakehouse_ml.platform.catalog_names import identifier
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.trino_connection import TrinoConnection, trino_config

if TYPE_CHECKING:
    from datetime import date

    import pandas as pd

WAREHOUSE_TABLES = {"orders": "fct_orders", "features": "fct_customer_features"}


def _placeholders(sql: str) -> set[str]:
    names = {name for _, name, _, _ in string.Formatter().parse(sql) if name}
    unknown = names - {"predictions", "model_versions", *WAREHOUSE_TABLES}
    if unknown:
        raise ValueError(f"monitoring SQL names unknown tables {sorted(unknown)}")
    return names


class QueryEngine(dg.ConfigurableResource):
    """Runs monitoring SQL and returns a pandas DataFrame. ``predictions_since`` promises that the SQL reads
    no prediction made before that day, so an engine may skip the older day partitions of the table. A
    prediction is made on or after its scoring day, so SQL that reads scoring days from ``since`` on keeps
    the promise."""

    def query(self, sql: str, predictions_since: date | None = None) -> pd.DataFrame:
        raise NotImplementedError


class DuckDBQueryEngine(QueryEngine):
    warehouse_path: str
    iceberg_dir: str
    predictions_table: str = identifier("churn_predictions")

    def query(self, sql: str, predictions_since: date | None = None) -> pd.DataFrame:
        import duckdb

        names = _placeholders(sql)
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            tables: dict[str, str] = {}
            if "predictions" in names:
                con.register("churn_predictions", self._predictions_arrow(predictions_since))
                tables["predictions"] = "churn_predictions"
            if "model_versions" in names:
                con.register("model_versions", self._model_versions_arrow())
                tables["model_versions"] = "model_versions"
            wanted = names & set(WAREHOUSE_TABLES)
            if wanted:
                tables.update(self._attach_warehouse(con, wanted))
            return con.execute(sql.format(**tables)).df()
        finally:
            con.close()

    def _predictions_arrow(self, since: date | None):
        from lakehouse_ml.predictions.catalog import catalog_db, local_catalog

        database = catalog_db(Path(self.iceberg_dir))
        catalog = local_catalog(Path(self.iceberg_dir)) if database.exists() else None
        return predictions_arrow(catalog, self.predictions_table, since, str(database))

    def _model_versions_arrow(self):
        from lakehouse_ml.predictions.catalog import local_catalog
        from lakehouse_ml.registry.catalog_tables import VERSIONS, metadata_table

        return metadata_table(local_catalog(Path(self.iceberg_dir)), VERSIONS).scan().to_arrow()

    def _attach_warehouse(self, con, wanted: set[str]) -> dict[str, str]:
        return attach_warehouse(con, self.warehouse_path, wanted)


def predictions_arrow(catalog, table_name: str, since: date | None, where: str):
    """The prediction log from ``catalog`` (pyiceberg; None: no catalog yet), from day ``since`` on."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import AlwaysTrue, GreaterThanOrEqual

    missing = ValueError(
        f"Iceberg table {table_name} does not exist in catalog {where}; materialize churn_predictions first"
    )
    if catalog is None:
        raise missing
    try:
        table = catalog.load_table(table_name)
    except NoSuchTableError as err:
        raise missing from err
    # a filter on the partition source column: pyiceberg skips the day partitions before `since`
    selection = (
        AlwaysTrue()
        if since is None
        else GreaterThanOrEqual("prediction_timestamp", f"{since}T00:00:00+00:00")
    )
    return table.scan(row_filter=selection).to_arrow()


def attach_warehouse(con, warehouse_path: str, wanted: set[str]) -> dict[str, str]:
    """Attach the DuckDB file read-only as ``wh``; the qualified name of each wanted table."""
    if not Path(warehouse_path).exists():
        raise ValueError(f"DuckDB warehouse {warehouse_path} does not exist; build the dbt models first")
    con.execute(f"ATTACH '{warehouse_path}' AS wh (READ_ONLY)")
    tables = {}
    for key in sorted(wanted):
        name = WAREHOUSE_TABLES[key]
        rows = con.execute(
            "SELECT schema_name FROM duckdb_tables() WHERE database_name = 'wh' AND table_name = ? "
            "UNION ALL "
            "SELECT schema_name FROM duckdb_views() WHERE database_name = 'wh' AND view_name = ?",
            [name, name],
        ).fetchall()
        if not rows:
            raise ValueError(f"table {name} is not in the warehouse {warehouse_path}")
        tables[key] = f'wh."{rows[0][0]}"."{name}"'
    return tables


class TrinoQueryEngine(QueryEngine):
    host: str
    port: int = 8080
    user: str = "lakehouse"
    password: str | None = None
    catalog: str = "iceberg"
    predictions_table: str = identifier("churn_predictions")
    orders_table: str = identifier("fct_orders")
    features_table: str = identifier("fct_customer_features")
    model_versions_table: str = identifier("model_versions")

    def query(self, sql: str, predictions_since: date | None = None) -> pd.DataFrame:
        """Trino prunes Iceberg partitions by the SQL's own predicates: ``predictions_since`` is unused."""
        mapping = {
            "predictions": self.predictions_table,
            "orders": self.orders_table,
            "features": self.features_table,
            "model_versions": self.model_versions_table,
        }
        tables = {key: f"{self.catalog}.{mapping[key]}" for key in _placeholders(sql)}
        connection = TrinoConnection(self.host, self.port, self.user, self.password, self.catalog)
        return connection.frame(sql.format(**tables))


def local_query_engine(settings: Settings) -> DuckDBQueryEngine:
    return DuckDBQueryEngine(
        warehouse_path=str(settings.warehouse_path),
        iceberg_dir=str(settings.iceberg_dir),
    )


def prod_query_engine(settings: Settings) -> TrinoQueryEngine:
    return TrinoQueryEngine(**trino_config())
