"""The one table -> namespace mapping (lakehouse_ml/platform/catalog_names.py) is what dbt, the Iceberg
writers and the query engines use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_ml.platform import catalog_names
from lakehouse_ml.platform.catalog_names import DBT_LAYERS, TABLES, identifier, namespace_of
from lakehouse_ml.platform.settings import project_root

DBT = project_root() / "dbt_project"


def test_dbt_builds_every_layer_in_the_mapped_namespace_by_default():
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert project["vars"]["namespaces"] == DBT_LAYERS  # so no --vars (and no re-parse) on a normal run
    layers = project["models"]["lakehouse_ml"]
    assert {layer: config["+schema"] for layer, config in layers.items() if "+schema" in config} == {
        layer: layer for layer in DBT_LAYERS
    }


def test_every_dbt_model_is_a_mapped_table_in_its_layers_namespace():
    models = {path.stem: path.parent.name for path in Path(DBT / "models").glob("*/*.sql")}
    assert models, "no dbt models found"
    assert {name: TABLES.get(name) for name in models} == {
        name: DBT_LAYERS[layer] for name, layer in models.items()
    }


def test_the_writers_and_readers_take_their_names_from_the_mapping():
    from lakehouse_ml.predictions.table import IDENTIFIER
    from lakehouse_ml.resources.query_engine import DuckDBQueryEngine, TrinoQueryEngine

    assert IDENTIFIER == identifier("churn_predictions") == "ml.churn_predictions"
    trino = TrinoQueryEngine(host="trino")
    assert (trino.predictions_table, trino.features_table, trino.orders_table) == (
        "ml.churn_predictions",
        "gold.fct_customer_features",
        "silver.fct_orders",
    )
    assert DuckDBQueryEngine(warehouse_path="w", iceberg_dir="i").predictions_table == IDENTIFIER


def test_an_unmapped_table_is_refused_by_name(monkeypatch):
    with pytest.raises(KeyError, match="'fct_new' is not in .*catalog_names.py TABLES"):
        namespace_of("fct_new")
    monkeypatch.setitem(catalog_names.TABLES, "fct_new", "gold")
    assert identifier("fct_new") == "gold.fct_new"


def test_dbt_receives_the_mapping_when_it_differs_from_its_defaults(monkeypatch):
    from lakehouse_ml.assets import gold
    from lakehouse_ml.platform.settings import Settings

    settings = Settings.from_env()
    config = gold.DbtBuildConfig()
    assert "namespaces" not in gold.dbt_var_overrides(config, settings)
    monkeypatch.setattr(gold, "DBT_LAYERS", {**DBT_LAYERS, "gold": "features"})
    assert gold.dbt_var_overrides(config, settings)["namespaces"]["gold"] == "features"
