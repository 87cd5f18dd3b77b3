"""Feast extension classes named in ``feast_repo/feature_store.yaml``.

Paths. Feast expands ``$VARS`` in feature_store.yaml with ``os.path.expandvars``, which has no default
syntax: an unset ``LAKEHOUSE_HOME`` would stay a literal ``$LAKEHOUSE_HOME`` path. These subclasses
of Feast's sqlite online store and file registry store default their paths to
``$LAKEHOUSE_HOME/feast/...`` (``LAKEHOUSE_HOME`` defaulting to ``.lakehouse``; a relative value is
taken from the project root, because ``feast apply`` changes directory into the repo) so that the
``feast`` CLI works on its own. Explicit ``path`` values in the YAML still win.

Materialization. ``LakehouseComputeEngine`` is Feast's local compute engine (same read, filter and
dedup steps) whose final step hands the deduplicated Arrow table to the sqlite online store's
``online_write_arrow`` instead of converting every value to a protobuf object and upserting row by
row (``lakehouse_ml.features.sqlite_online_write``). Other online stores, and views that path does
not take, get Feast's own step unchanged.

Offline store. Feast's duckdb store writes the feature view's ttl into its point-in-time join as an
ibis interval literal. ibis 12's DuckDB compiler gives sqlglot a plain string as the interval unit,
which the compiled sqlglot (``sqlglotc``, pulled in by dagster-dbt's ``sqlglot[rs]``) rejects:
"TypeError: ... Expr or None object expected; got str". (Feast's other hook, an SQL cut-off through
``Table.sql``, fails on duckdb 2's missing ``fetch_arrow_table``.) ``LakehouseDuckDBOfflineStore``
makes the compiler wrap the unit in ``sge.Var`` as ibis's base compiler does (a process-wide fix of
that one method, applied on first use), then joins as Feast does. ``s3://`` Parquet sources (the
prod gold file) are read through s3fs rather than DuckDB's ``httpfs`` extension: the endpoint and
credentials come from ``lakehouse_ml.platform.storage`` like every other S3 reader, and no DuckDB extension
has to be installed (or downloaded) in the pods.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pyarrow as pa
from feast import FeatureView
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import LocalComputeEngine, LocalComputeEngineConfig
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import LocalOutputNode
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig, _table_id
from feast.infra.registry.base_registry import BaseRegistry
from feast.infra.registry.file import FileRegistryStore
from feast.repo_config import RegistryConfig, RepoConfig
from pydantic import Field, StrictStr

from lakehouse_ml.features import sqlite_online_write
from lakehouse_ml.platform.settings import project_root

ONLINE_STORE_TYPE = "lakehouse_ml.features.feast_plugins.LakehouseSqliteOnlineStore"


def default_feast_dir() -> Path:
    home = Path(os.environ.get("LAKEHOUSE_HOME") or ".lakehouse").expanduser()
    if not home.is_absolute():
        home = project_root() / home
    return home.resolve() / "feast"


def _default_online_path() -> str:
    return str(default_feast_dir() / "online.db")


class LakehouseSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    type: Literal["lakehouse_ml.features.feast_plugins.LakehouseSqliteOnlineStore"] = ONLINE_STORE_TYPE
    path: StrictStr = Field(default_factory=_default_online_path)


def join_key_types(view: FeatureView) -> dict[str, object]:
    return {column.name: column.dtype.to_value_type() for column in view.entity_columns}


class LakehouseSqliteOnlineStore(SqliteOnlineStore):
    """Feast's sqlite online store with a default path and a column-wise write of Arrow tables."""

    def can_write_arrow(self, config: RepoConfig, view: FeatureView) -> bool:
        store = config.online_store
        return (
            not store.vector_enabled
            and not getattr(store, "enable_openai_compatible_store", False)
            and sqlite_online_write.supports(view, join_key_types(view))
        )

    def online_write_arrow(self, config: RepoConfig, view: FeatureView, data: pa.Table) -> int:
        """Upsert the latest row per entity in ``data``; the same rows as ``online_write_batch``."""
        table_name = _table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
        return sqlite_online_write.write(
            self._get_conn(config),
            table_name,
            data,
            view,
            join_key_types(view),
            config.entity_key_serialization_version,
        )


class LakehouseRegistryStore(FileRegistryStore):
    """Feast's file registry store at ``$LAKEHOUSE_HOME/feast/registry.db`` unless a path is given."""

    def __init__(self, registry_config: RegistryConfig, repo_path: Path):
        if not registry_config.path:
            registry_config = registry_config.model_copy(
                update={"path": str(default_feast_dir() / "registry.db")}
            )
        Path(registry_config.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(registry_config, repo_path)


class ArrowOnlineOutputNode(LocalOutputNode):
    """Feast's output step, writing Arrow straight to an online store that can take it."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        data = self.get_single_table(context).data
        store = context.online_store
        direct = (
            isinstance(store, LakehouseSqliteOnlineStore)
            and self.feature_view.online
            and not self.feature_view.offline
            and store.can_write_arrow(context.repo_config, self.feature_view)
        )
        if not direct:
            return super().execute(context)
        output = ArrowTableValue(data=data)
        context.node_outputs[self.name] = output
        if data.num_rows:
            store.online_write_arrow(context.repo_config, self.feature_view, data)
        return output


class ArrowOutputFeatureBuilder(LocalFeatureBuilder):
    def build_output_nodes(self, view, input_node):
        node = ArrowOnlineOutputNode("output", self.dag_root.view, inputs=[input_node])
        self.nodes.append(node)
        return node


class LakehouseComputeEngineConfig(LocalComputeEngineConfig):
    type: StrictStr = "lakehouse_ml.features.feast_plugins.LakehouseComputeEngine"


class LakehouseComputeEngine(LocalComputeEngine):
    """Feast's local compute engine with ``ArrowOnlineOutputNode`` as the final step."""

    def _materialize_one(
        self, registry: BaseRegistry, task: MaterializationTask, **kwargs
    ) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        context = self.get_execution_context(registry, task)
        try:
            builder = ArrowOutputFeatureBuilder(registry, task, backend=self._get_backend(context))
            builder.build().execute(context)
        except Exception as error:  # Feast reports a failed job through its status, as its own engine does
            return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.ERROR, error=error)
        return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)


def _wrap_interval_units() -> None:
    from ibis.backends.sql.compilers.duckdb import DuckDBCompiler
    from sqlglot import expressions as sge

    original = DuckDBCompiler.visit_NonNullLiteral
    if getattr(original, "wraps_interval_units", False):
        return

    def visit_non_null_literal(self, op, *, value, dtype):
        if dtype.is_interval() and dtype.unit.short != "ns":
            return sge.Interval(this=sge.convert(str(value)), unit=sge.Var(this=dtype.resolution.upper()))
        return original(self, op, value=value, dtype=dtype)

    visit_non_null_literal.wraps_interval_units = True
    DuckDBCompiler.visit_NonNullLiteral = visit_non_null_literal


class LakehouseDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: StrictStr = "lakehouse_ml.features.feast_plugins.LakehouseDuckDBOfflineStore"


def read_source(data_source, repo_path: str):
    """An ``s3://`` Parquet source read through s3fs (``lakehouse_ml.platform.storage``: the one S3 endpoint
    setting, the AWS credential chain) into an ibis memtable; anything else as Feast reads it."""
    from feast.infra.offline_stores import duckdb as feast_duckdb

    path = getattr(data_source, "path", "") or ""
    if not path.startswith("s3://"):
        return feast_duckdb._read_data_source(data_source, repo_path)
    import ibis
    import pyarrow.parquet as pq

    from lakehouse_ml.platform.storage import s3_endpoint, s3_filesystem

    endpoint = getattr(data_source, "s3_endpoint_override", None) or s3_endpoint()
    with s3_filesystem(endpoint).open(path.removeprefix("s3://"), "rb") as handle:
        return ibis.memtable(pq.read_table(handle))


def _source_io(config) -> dict:
    """How every offline read finds and stages its data: ``read_source``, Feast's duckdb writer."""
    from feast.infra.offline_stores import duckdb as feast_duckdb

    return {
        "data_source_reader": read_source,
        "data_source_writer": feast_duckdb._write_data_source,
        "staging_location": config.offline_store.staging_location,
        "staging_location_endpoint_override": config.offline_store.staging_location_endpoint_override,
    }


class LakehouseDuckDBOfflineStore(DuckDBOfflineStore):
    """Feast's duckdb offline store, with ttl intervals that compile and S3 sources read through s3fs
    (see the module docstring)."""

    @staticmethod
    def get_historical_features(
        config,
        feature_views,
        feature_refs,
        entity_df,
        registry,
        project,
        full_feature_names=False,
        filter_by_created_timestamp=False,
    ):
        from feast.infra.offline_stores.ibis import get_historical_features_ibis

        _wrap_interval_units()
        return get_historical_features_ibis(
            config=config,
            feature_views=feature_views,
            feature_refs=feature_refs,
            entity_df=entity_df,
            registry=registry,
            project=project,
            full_feature_names=full_feature_names,
            **_source_io(config),
            filter_by_created_timestamp=filter_by_created_timestamp,
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config,
        data_source,
        join_key_columns,
        feature_name_columns,
        timestamp_field,
        created_timestamp_column,
        start_date,
        end_date,
    ):
        from feast.infra.offline_stores.ibis import pull_latest_from_table_or_query_ibis

        return pull_latest_from_table_or_query_ibis(
            config=config,
            data_source=data_source,
            join_key_columns=join_key_columns,
            feature_name_columns=feature_name_columns,
            timestamp_field=timestamp_field,
            created_timestamp_column=created_timestamp_column,
            start_date=start_date,
            end_date=end_date,
            **_source_io(config),
        )

    @staticmethod
    def pull_all_from_table_or_query(
        config,
        data_source,
        join_key_columns,
        feature_name_columns,
        timestamp_field,
        created_timestamp_column=None,
        start_date=None,
        end_date=None,
    ):
        from feast.infra.offline_stores.ibis import pull_all_from_table_or_query_ibis

        return pull_all_from_table_or_query_ibis(
            config=config,
            data_source=data_source,
            join_key_columns=join_key_columns,
            feature_name_columns=feature_name_columns,
            timestamp_field=timestamp_field,
            created_timestamp_column=created_timestamp_column,
            start_date=start_date,
            end_date=end_date,
            **_source_io(config),
        )
