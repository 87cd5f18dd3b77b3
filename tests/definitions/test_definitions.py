"""The code location loads, stays light, and wires raw -> bronze -> silver -> gold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.platform.settings import project_root

# pandas too: importing it at load added about 0.6 s, 15% of the code location's load time.
HEAVY = ["feast", "evidently", "kserve", "kfp", "pyiceberg", "pandas"]


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=project_root(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_definitions_resolve_with_layered_lineage(lakehouse_home: Path) -> None:
    from lakehouse_ml.definitions import defs

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    assert "raw_customers" in parents["stg_customers"] and "raw_orders" in parents["stg_orders"]
    assert "stg_customers" in parents["dim_customers"] and "stg_orders" in parents["fct_orders"]
    assert {"dim_customers", "fct_orders"} <= parents["fct_customer_features"]
    assert {"dim_customers", "fct_orders"} <= parents["fct_churn_labels"]
    groups = {name: graph.get(key(name)).group_name for name in parents}
    assert groups["raw_customers"] == groups["raw_orders"] == "ingestion"
    assert groups["stg_orders"] == "bronze" and groups["fct_orders"] == "silver"
    assert groups["fct_customer_features"] == groups["fct_churn_labels"] == "gold"
    assert graph.get(key("fct_customer_features")).kinds == {"dbt", "duckdb"}
    checks = {c.name for c in graph.asset_check_keys if c.asset_key == key("fct_customer_features")}
    assert any(name.startswith("features_use_only_past_orders") for name in checks)
    assert any(name.startswith("accepted_values_fct_customer_features_customer_segment") for name in checks)
    assert any(name.startswith("unique_combination_fct_customer_features") for name in checks)
    resources = defs.resources
    assert {"landing_zone", "warehouse", "dbt"} <= set(resources)


def test_loading_definitions_imports_no_heavy_library(lakehouse_home: Path) -> None:
    code = (
        "import json, sys; import lakehouse_ml.definitions; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert json.loads(_python(code, dict(os.environ)).strip().splitlines()[-1]) == []


def test_prod_profile_loads_without_parsing_dbt(lakehouse_home: Path) -> None:
    manifest = project_root() / "dbt_project" / "target" / "manifest.json"
    if not manifest.exists():
        pytest.skip("no dbt manifest yet (tasks.py setup writes it)")
    before = manifest.stat().st_mtime_ns
    env = dict(os.environ, LAKEHOUSE_PROFILE="prod")
    env.pop("DAGSTER_IS_DEV_CLI", None)
    code = (
        "import json; from lakehouse_ml.definitions import defs; import dagster as dg; "
        "g = defs.resolve_asset_graph(); "
        "print(json.dumps([sorted(g.get(dg.AssetKey('fct_customer_features')).kinds), "
        "sorted(g.get(dg.AssetKey('raw_orders')).kinds), type(defs.resources['warehouse']).__name__]))"
    )
    gold_kinds, raw_kinds, warehouse = json.loads(_python(code, env).strip().splitlines()[-1])
    assert gold_kinds == ["dbt", "trino"] and raw_kinds == ["parquet", "trino"]
    assert warehouse == "TrinoWarehouse"
    assert manifest.stat().st_mtime_ns == before
