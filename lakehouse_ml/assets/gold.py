"""The dbt project (bronze -> silver -> gold) as assets: one asset per model, one asset check per dbt test."""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from lakehouse_ml.resources.iceberg import IcebergCatalog
from lakehouse_ml.resources.warehouse import ENGINES, build_dbt_project, dbt_executable
from lakehouse_ml.settings import Settings

PROFILE = Settings.from_env().profile
ENGINE = ENGINES[PROFILE]

dbt_project = build_dbt_project(PROFILE)
GOLD_MODELS = ("fct_customer_features", "fct_churn_labels")
DEFAULT_VARS = yaml.safe_load((dbt_project.project_dir / "dbt_project.yml").read_text())["vars"]
# dagster-dbt's preparer runs `dbt` from PATH; `.venv/bin/dagster dev` does not put the venv's bin there.
os.environ["PATH"] = os.pathsep.join([str(Path(dbt_executable()).parent), os.environ.get("PATH", "")])
dbt_project.prepare_if_dev()
if PROFILE == "local" and not dbt_project.manifest_path.exists():
    # Fresh local checkout without `tasks.py setup`; prod never parses at load (the image ships the manifest).
    dbt_project.preparer.prepare(dbt_project)


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
    as_of: str = ""
    """Pipeline clock YYYY-MM-DD; empty: LAKEHOUSE_AS_OF, else the day before the latest order day."""
    label_horizon_days: int = DEFAULT_VARS["label_horizon_days"]
    snapshot_interval_days: int = DEFAULT_VARS["snapshot_interval_days"]
    full_refresh: bool = False
    """Rebuild every snapshot day of the incremental gold models (`dbt build --full-refresh`) instead of the
    last gold_lookback_days; needed after orders arrive later than that, or after the vars above change."""


def dbt_var_overrides(config: DbtBuildConfig, settings: Settings) -> dict[str, object]:
    """The dbt vars that differ from dbt_project.yml's defaults.

    Only those are passed: changed --vars make dbt re-parse the whole project instead of reusing the partial
    parse that dagster-dbt copies from next to the manifest.
    """
    wanted = {
        "as_of": config.as_of or (settings.as_of.isoformat() if settings.as_of else ""),
        "label_horizon_days": config.label_horizon_days,
        "snapshot_interval_days": config.snapshot_interval_days,
    }
    return {name: value for name, value in wanted.items() if value != DEFAULT_VARS[name]}


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LakehouseDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
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

    gold_uri = os.environ.get("LAKEHOUSE_GOLD_URI")
    if not gold_uri:
        raise dg.Failure("LAKEHOUSE_GOLD_URI (e.g. s3://lakehouse/gold) is required in prod")
    uri, rows = publish_gold_parquet(
        iceberg.catalog(), model, gold_uri, os.environ.get("LAKEHOUSE_S3_ENDPOINT")
    )
    return {"dagster/row_count": dg.MetadataValue.int(rows), "parquet": dg.MetadataValue.url(uri)}


def gold_file_metadata(settings: Settings, model: str) -> dict[str, dg.MetadataValue]:
    """Row count, path and time range of a local gold Parquet file (what Feast and training read)."""
    import duckdb

    path = settings.gold_dir / f"{model}.parquet"
    with duckdb.connect() as con:
        rows, first, last = con.sql(
            f"select count(*), min(event_timestamp), max(event_timestamp) from read_parquet('{path}')"
        ).fetchall()[0]
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "parquet": dg.MetadataValue.path(str(path)),
        "first_snapshot_day": dg.MetadataValue.text(str(first)),
        "last_snapshot_day": dg.MetadataValue.text(str(last)),
    }
