"""The dbt project (bronze -> silver -> gold) as assets: one asset per model, one asset check per dbt test."""

import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from pydantic import Field

from lakehouse_ml.orchestration.pools import WAREHOUSE_POOL
from lakehouse_ml.platform.catalog_names import DBT_LAYERS
from lakehouse_ml.platform.domain import LABEL_HORIZON_DAYS
from lakehouse_ml.platform.settings import GOLD_URI_REQUIRED, Settings
from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.warehouse import ENGINES, VenvDbtProjectPreparer, build_dbt_project

PROFILE = Settings.from_env().profile
ENGINE = ENGINES[PROFILE]

dbt_project = build_dbt_project(PROFILE)
GOLD_MODELS = ("fct_customer_features", "fct_churn_labels")
# libyaml's loader: a third of the pure-Python parse time, paid on every code-location load.
with (dbt_project.project_dir / "dbt_project.yml").open() as project_file:
    DEFAULT_VARS = yaml.load(project_file, Loader=yaml.CSafeLoader)["vars"]
VenvDbtProjectPreparer().prepare_if_dev(dbt_project)
if not dbt_project.manifest_path.exists():
    raise FileNotFoundError(
        f"{dbt_project.manifest_path} is missing: run `python3 tasks.py setup` (or `dagster dev`, which "
        "parses the dbt project); prod images ship it"
    )


class LakehouseDbtTranslator(DagsterDbtTranslator):
    """Models keep their bare names as asset keys (other stages depend on AssetKey("fct_customer_features"))
    and their layer folder (bronze, silver, gold) as group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]
        return super().get_group_name(dbt_resource_props)

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        return spec.replace_attributes(kinds={"dbt", ENGINE})


class DbtBuildConfig(dg.Config):
    as_of: str = Field(
        "",
        description="pipeline clock YYYY-MM-DD; empty: LAKEHOUSE_AS_OF, else the day before the last order",
    )
    label_horizon_days: int = Field(
        LABEL_HORIZON_DAYS, description="a customer churned as of D with no order in this many days after D"
    )
    snapshot_interval_days: int = Field(
        DEFAULT_VARS["snapshot_interval_days"], description="days between feature snapshots on the fixed grid"
    )
    full_refresh: bool = Field(
        False,
        description="rebuild every snapshot day of the incremental gold models (dbt --full-refresh) "
        "instead of the last gold_lookback_days; needed after orders arrive later than that, or after "
        "the vars change",
    )


def dbt_var_overrides(config: DbtBuildConfig, settings: Settings) -> dict[str, object]:
    """The dbt vars that differ from dbt_project.yml's defaults.

    Only those are passed: changed --vars make dbt re-parse the whole project instead of reusing the partial
    parse that dagster-dbt copies from next to the manifest.
    """
    wanted = {
        "as_of": config.as_of or (settings.as_of.isoformat() if settings.as_of else ""),
        "label_horizon_days": config.label_horizon_days,
        "snapshot_interval_days": config.snapshot_interval_days,
        "namespaces": DBT_LAYERS,
    }
    return {name: value for name, value in wanted.items() if value != DEFAULT_VARS[name]}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LakehouseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
    pool=WAREHOUSE_POOL,
)
def lakehouse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig, iceberg: IcebergCatalog
):
    """bronze staging views, silver dim_customers / fct_orders / snapshot_days, gold fct_customer_features and
    fct_churn_labels, built and tested with `dbt build`. Gold is incremental by snapshot day: a weekly run
    rebuilds only its last weeks (config full_refresh rebuilds all). Each gold model is also one Parquet file,
    what Feast and training read: in $LAKEHOUSE_HOME/gold locally (dbt-duckdb writes it), under
    LAKEHOUSE_GOLD_URI in prod (published from the Iceberg table once dbt-trino has built and tested it)."""
    settings = Settings.from_env()
    # profiles.yml reads LAKEHOUSE_HOME; dbt must see the same (resolved) home as this process.
    os.environ["LAKEHOUSE_HOME"] = str(settings.home)
    if settings.profile == "local":
        settings.gold_dir.mkdir(parents=True, exist_ok=True)
    args = ["build"]
    overrides = dbt_var_overrides(config, settings)
    if overrides:
        args += ["--vars", json.dumps(overrides)]
    if config.full_refresh:
        args.append("--full-refresh")
    for event in dbt.cli(args, context=context).stream():
        if isinstance(event, dg.Output) and event.output_name in GOLD_MODELS:
            model = event.output_name
            extra = (
                gold_file_metadata(settings, model)
                if settings.profile == "local"
                else publish_gold(model, iceberg)
            )
            event = event.with_metadata({**event.metadata, **extra})
        yield event


def publish_gold(model: str, iceberg: IcebergCatalog) -> dict[str, dg.MetadataValue]:
    """Prod: write the gold model's Iceberg table to ``<LAKEHOUSE_GOLD_URI>/<model>.parquet``."""
    from lakehouse_ml.ingest.warehouse import publish_gold_parquet

    settings = Settings.from_env()
    if not settings.gold_uri:
        raise dg.Failure(GOLD_URI_REQUIRED)
    uri, rows = publish_gold_parquet(iceberg.catalog(), model, settings.gold_uri, settings.s3_endpoint)
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            column_schema(model, uri, settings.s3_endpoint)
        ),
        "parquet": dg.MetadataValue.url(uri),
    }


def column_schema(model: str, uri: str, s3_endpoint: str | None = None) -> dg.TableSchema:
    """The gold file's columns, typed as readers see them (its Parquet footer), described by the dbt docs.

    Read from the file rather than through dagster-dbt's ``fetch_column_metadata``: that opens a second
    adapter connection while dbt's own process still holds the DuckDB file.
    """
    from lakehouse_ml.ingest.warehouse import parquet_columns

    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    (node,) = [n for n in nodes if n["resource_type"] == "model" and n["name"] == model]
    docs = {name: column.get("description") or None for name, column in node["columns"].items()}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, data_type, description=docs.get(name))
            for name, data_type in parquet_columns(uri, s3_endpoint)
        ]
    )


def gold_file_metadata(settings: Settings, model: str) -> dict[str, dg.MetadataValue]:
    """Row count, column schema, path and time range of a local gold Parquet file (what Feast and training
    read)."""
    import duckdb

    path = settings.gold_dir / f"{model}.parquet"
    with duckdb.connect() as con:
        rows, first, last = con.sql(
            f"select count(*), min(event_timestamp), max(event_timestamp) from read_parquet('{path}')"
        ).fetchall()[0]
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(model, str(path))),
        "parquet": dg.MetadataValue.path(str(path)),
        "first_snapshot_day": dg.MetadataValue.text(str(first)),
        "last_snapshot_day": dg.MetadataValue.text(str(last)),
    }
