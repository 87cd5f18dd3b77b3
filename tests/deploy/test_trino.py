"""Trino catalogs under deploy/trino (Iceberg REST on Polaris, Hive for raw tables), and the SQL this project
sends to Trino parsed with sqlglot's Trino dialect: the raw-table DDL and the monitoring queries."""

from __future__ import annotations

import re
from datetime import date

import pyarrow as pa
import pytest

from tests.support.deploy_kit import DEPLOY, load_documents

CATALOGS = DEPLOY / "trino" / "catalog"


def _properties(name: str) -> dict[str, str]:
    lines = (CATALOGS / f"{name}.properties").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert all(len(pair) == 2 for pair in pairs)
    keys = [key.strip() for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"{name}: a property is set twice"
    return {key.strip(): value.strip() for key, value in pairs}


def _config() -> dict[str, str]:
    (config,) = [d for d in load_documents(DEPLOY / "k8s" / "configmap.yaml") if d["kind"] == "ConfigMap"]
    return config["data"]


def _parse(sql: str):
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="trino")
    unknown = [node.name for node in tree.find_all(exp.Anonymous)]
    assert unknown == [], f"functions sqlglot does not know for Trino: {unknown}"
    return tree


def test_the_catalog_files_are_the_catalogs_the_code_uses():
    config = _config()
    assert {path.stem for path in CATALOGS.glob("*.properties")} == {
        config["LAKEHOUSE_TRINO_CATALOG"],
        config["LAKEHOUSE_TRINO_RAW_CATALOG"],
    }


def test_iceberg_catalog_is_the_polaris_rest_catalog():
    from lakehouse_ml.governance.polaris_bootstrap import CATALOG

    iceberg = _properties(_config()["LAKEHOUSE_TRINO_CATALOG"])
    assert (iceberg["connector.name"], iceberg["iceberg.catalog.type"]) == ("iceberg", "rest")
    assert iceberg["iceberg.rest-catalog.uri"] == _config()["LAKEHOUSE_ICEBERG_REST_URI"]
    assert iceberg["iceberg.rest-catalog.warehouse"] == _config()["LAKEHOUSE_ICEBERG_WAREHOUSE"] == CATALOG
    assert iceberg["iceberg.rest-catalog.security"] == "OAUTH2"


def test_hive_catalog_keeps_microseconds():
    hive = _properties(_config()["LAKEHOUSE_TRINO_RAW_CATALOG"])
    assert hive["connector.name"] == "hive"
    assert hive["hive.timestamp-precision"] == "MICROSECONDS"


@pytest.mark.parametrize("name", ["iceberg", "hive"])
def test_catalogs_hold_no_secrets(name):
    for key, value in _properties(name).items():
        if re.search(r"(credential|secret|password|-key)$", key):
            assert value.startswith("${ENV:") and value.endswith("}"), key


def test_raw_ddl_parses_as_trino_with_microsecond_timestamps(tmp_path):
    from sqlglot import exp

    from lakehouse_ml.ingest.warehouse import TRINO_TYPES, trino_load_raw

    special = {"timestamp[us]": pa.timestamp("us"), "decimal128(18, 2)": pa.decimal128(18, 2)}
    types = {name: special.get(name) or pa.type_for_alias(name) for name in TRINO_TYPES}
    table = pa.table({f"c_{i}": pa.array([None], type=t) for i, t in enumerate(types.values())})
    statements = []

    def execute(sql: str) -> list[tuple]:
        statements.append(sql)
        return [("orders_20250101000000000000",)] if sql.startswith("SHOW TABLES") else []

    (tmp_path / "orders" / "20250101000000000000").mkdir(parents=True)  # the older load it replaces
    trino_load_raw(execute, {"orders": table}, tmp_path.as_uri(), "hive", "20250102000000000000")
    assert any(sql.startswith("CREATE TABLE") for sql in statements)
    for sql in statements:
        tree = _parse(sql)
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            timestamps = [t for t in tree.find_all(exp.DataType) if t.this == exp.DataType.Type.TIMESTAMP]
            assert [t.sql(dialect="trino") for t in timestamps] == ["TIMESTAMP(6)"]


def test_monitoring_sql_parses_as_trino(monkeypatch):
    from sqlglot import exp

    from lakehouse_ml.monitoring import sql
    from lakehouse_ml.resources.query_engine import TrinoQueryEngine
    from lakehouse_ml.resources.trino_connection import TrinoConnection

    sent = []
    monkeypatch.setattr(
        TrinoConnection, "fetch", lambda self, statement: (sent.append(statement), ([], []))[1]
    )
    day, later = date(2025, 3, 1), date(2025, 3, 31)
    queries = [
        sql.due_actuals_sql(later, 90),
        sql.snapshot_outcomes_sql(day, 90, 30),
        sql.snapshot_days_sql(),
        sql.latest_labelled_day_sql(later),
        sql.daily_performance_sql(day, later),
        sql.snapshot_sql(day),
        sql.recent_predictions_sql("v3", day, later),
    ]
    engine = TrinoQueryEngine(host="trino", catalog=_config()["LAKEHOUSE_TRINO_CATALOG"])
    for query in queries:
        engine.query(query)
    assert len(sent) == len(queries)
    for statement in sent:
        tree = _parse(statement)
        assert "{" not in statement
        assert all(table.catalog == "iceberg" for table in tree.find_all(exp.Table) if table.db)
        assert _booleans_used_as_numbers(tree) == []


BOOLEAN_COLUMNS = {"prediction", "actual"}  # BOOLEAN in ml.churn_predictions, as in the seed


def _booleans_used_as_numbers(tree) -> list[str]:
    """Trino rejects ``boolean = integer`` and ``sum(boolean)`` (DuckDB casts silently): the prediction log's
    boolean columns must be used as booleans."""
    from sqlglot import exp

    def boolean(node) -> bool:
        return isinstance(node, exp.Column) and node.name in BOOLEAN_COLUMNS

    found = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.LT, exp.GTE, exp.LTE):
        sides = (node.left, node.right)
        if any(boolean(side) for side in sides) and any(isinstance(side, exp.Literal) for side in sides):
            found.append(node.sql(dialect="trino"))
    for node in tree.find_all(exp.Sum, exp.Avg):
        if boolean(node.this):
            found.append(node.sql(dialect="trino"))
    return found


def test_the_boolean_check_catches_what_trino_would_reject():
    import sqlglot

    tree = sqlglot.parse_one(
        "SELECT SUM(actual), SUM(CASE WHEN prediction = 1 THEN 1 ELSE 0 END) FROM t", read="trino"
    )
    assert sorted(_booleans_used_as_numbers(tree)) == ["SUM(actual)", "prediction = 1"]


def test_the_parser_rejects_what_trino_would():
    import sqlglot.errors

    with pytest.raises(sqlglot.errors.ParseError):
        _parse("SELECT FROM WHERE")
