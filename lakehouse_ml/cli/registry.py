"""``lakehouse-ml registry``: the model registry's catalog tables (``models.model_versions``,
``models.model_stage_history``): rebuild them from the git + DVC registry, or query them with DuckDB
(logic in ``lakehouse_ml.registry.catalog_tables``)."""

from __future__ import annotations

import argparse

HELP = "Rebuild the model registry's catalog tables from the registry, or query them with SQL."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "rebuild-catalog",
        help="replace the rows of models.model_versions and models.model_stage_history with the registry's",
    )
    ask = actions.add_parser(
        "query", help="run SQL (DuckDB) over model_versions, model_stage_history and the view models"
    )
    ask.add_argument("sql", nargs="?", help="default: SELECT version, roc_auc, stage FROM models")


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from lakehouse_ml.platform.settings import Settings
    from lakehouse_ml.registry import catalog_tables
    from lakehouse_ml.resources.registry import local_model_registry, prod_model_registry

    settings = Settings.from_env()
    opener = local_model_registry if settings.profile == "local" else prod_model_registry
    with dg.build_resources({"model_registry": opener(settings)}) as resources:  # resolves dg.EnvVar
        resource = resources.model_registry
        catalog = resource.iceberg.catalog()
        if args.action == "rebuild-catalog":
            written = catalog_tables.rebuild(catalog, resource.open())
            for name, rows in written.items():
                print(f"{catalog_tables.identifier(name)}: {rows} rows from the registry")
            return 0
        try:
            frame = catalog_tables.query(catalog, args.sql or catalog_tables.DEFAULT_QUERY)
        except LookupError as err:
            print(f"error: {err}")
            return 2
    print(frame.to_string(index=False))
    return 0
