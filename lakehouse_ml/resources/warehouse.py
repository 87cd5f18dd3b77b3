"""The warehouse behind the dbt gold layer, one interface for both profiles.

Other stages call ``query(sql)`` (a pandas DataFrame), ``gold_uri(model)`` (where a gold model can be read)
and ``pipeline_clock()`` (the data-time ``as_of``: max ``event_timestamp`` of ``fct_customer_features``).
The raw assets call ``load_raw(tables)``.
"""

from __future__ import annotations

import sys
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from lakehouse_ml.ingest import warehouse as backend
from lakehouse_ml.orchestration.dagster_private import OfflineDbtCliResource
from lakehouse_ml.platform.catalog_names import namespace_of
from lakehouse_ml.platform.settings import Settings, project_root
from lakehouse_ml.resources.trino_connection import TrinoConnection, trino_config

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd
    import pyarrow as pa

DBT_PROJECT_DIR = project_root() / "dbt_project"
GOLD_SCHEMA = namespace_of("fct_customer_features")
ENGINES = {"local": "duckdb", "prod": "trino"}


class VenvDbtProjectPreparer(DagsterDbtProjectPreparer):
    """Parses with the dbt next to this interpreter (dagster-dbt's own preparer runs ``dbt`` from PATH)."""

    def prepare(self, project: DbtProject) -> None:
        parse = OfflineDbtCliResource(project_dir=project, dbt_executable=dbt_executable())
        parse.cli(["parse", "--quiet"], target_path=project.target_path).wait()


@cache  # the code location asks twice (dbt assets, dbt resource); each build parses dbt_project.yml
def build_dbt_project(profile: str) -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=profile)


def dbt_executable() -> str:
    """The dbt next to this interpreter: the venv's bin is not always on PATH (e.g. `.venv/bin/dagster`)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_resource(settings: Settings) -> DbtCliResource:
    return OfflineDbtCliResource(
        project_dir=build_dbt_project(settings.profile),
        target=settings.profile,
        dbt_executable=dbt_executable(),
    )


class Warehouse(dg.ConfigurableResource):
    """Interface shared by the local (DuckDB) and prod (Trino) warehouses."""

    def query(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def gold_uri(self, model: str) -> str:
        raise NotImplementedError

    def load_raw(self, tables: Mapping[str, pa.Table]) -> None:
        raise NotImplementedError

    def pipeline_clock(self) -> date:
        frame = self.query(f"select max(event_timestamp) as as_of from {GOLD_SCHEMA}.fct_customer_features")
        value = frame["as_of"].iloc[0] if len(frame) else None
        if value is None or value != value:
            raise LookupError("fct_customer_features is empty: materialize the gold models first")
        return value.date() if hasattr(value, "date") else value


class DuckDBWarehouse(Warehouse):
    """Local: the DuckDB file written by dbt-duckdb; gold models are also Parquet files in ``gold_dir``."""

    path: str
    gold_dir: str

    def query(self, sql: str) -> pd.DataFrame:
        return backend.duckdb_query(self.path, sql)

    def gold_uri(self, model: str) -> str:
        return str(Path(self.gold_dir) / f"{model}.parquet")

    def load_raw(self, tables: Mapping[str, pa.Table]) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        backend.duckdb_load_raw(self.path, tables)


class TrinoWarehouse(Warehouse):
    """Prod: Trino; gold models are Iceberg tables ``<catalog>.gold.<model>``, raw data Hive tables."""

    host: str
    port: int = 8080
    user: str = "lakehouse"
    password: str | None = None
    catalog: str = "iceberg"
    raw_catalog: str = "hive"
    staging_uri: str

    def _trino(self) -> TrinoConnection:
        return TrinoConnection(self.host, self.port, self.user, self.password, self.catalog)

    def _execute(self, sql: str) -> list[tuple]:
        return self._trino().fetch(sql)[0]

    def query(self, sql: str) -> pd.DataFrame:
        return self._trino().frame(sql)

    def gold_uri(self, model: str) -> str:
        return f"{self.catalog}.{GOLD_SCHEMA}.{model}"

    def load_raw(self, tables: Mapping[str, pa.Table]) -> None:
        backend.trino_load_raw(
            self._execute, tables, self.staging_uri, self.raw_catalog, backend.new_load_id()
        )


def local_warehouse(settings: Settings) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(settings.warehouse_path), gold_dir=str(settings.gold_dir))


def prod_warehouse(settings: Settings) -> TrinoWarehouse:
    return TrinoWarehouse(
        **trino_config(raw_catalog="LAKEHOUSE_TRINO_RAW_CATALOG"),
        staging_uri=f"{settings.raw_uri.rstrip('/')}/_validated",
    )
