"""Both prod resources that talk to Trino (warehouse, monitoring query engine) connect the same way:
UTC sessions, HTTPS with basic auth when a password is set, one connection per statement, closed."""

from __future__ import annotations

import pytest


@pytest.fixture
def trino_calls(monkeypatch):
    import trino.dbapi

    calls = []

    class Cursor:
        def __init__(self, call):
            self.call = call
            self.description = None

        def execute(self, statement):
            self.call["sql"] = statement
            if statement.startswith("SELECT"):
                self.description = [("as_of",)]

        def fetchall(self):
            return [("2025-05-30",)] if self.description else []

    class Connection:
        def __init__(self, call):
            self.call = call

        def cursor(self):
            return Cursor(self.call)

        def close(self):
            self.call["closed"] = True

    def connect(**kwargs):
        calls.append({"kwargs": kwargs, "closed": False})
        return Connection(calls[-1])

    monkeypatch.setattr(trino.dbapi, "connect", connect)
    return calls


def test_warehouse_and_query_engine_open_the_same_sessions(trino_calls):
    from lakehouse_ml.resources.query_engine import TrinoQueryEngine
    from lakehouse_ml.resources.warehouse import TrinoWarehouse

    endpoint = {"host": "trino.internal", "port": 8443, "user": "ml", "catalog": "lake"}
    warehouse = TrinoWarehouse(**endpoint, password="s3cret", staging_uri="s3://raw/_validated")
    engine = TrinoQueryEngine(**endpoint, password="s3cret")

    assert warehouse.query("SELECT max(day) AS as_of").to_dict("records") == [{"as_of": "2025-05-30"}]
    assert engine.query("SELECT count(*) FROM {predictions}").columns.tolist() == ["as_of"]
    assert warehouse._execute("CREATE SCHEMA IF NOT EXISTS hive.raw") == []

    first, second, ddl = (call["kwargs"] for call in trino_calls)
    assert first.keys() == second.keys() == ddl.keys()
    for kwargs in (first, second, ddl):
        assert (kwargs["http_scheme"], kwargs["timezone"], kwargs["catalog"]) == ("https", "UTC", "lake")
        assert (kwargs["auth"]._username, kwargs["auth"]._password) == ("ml", "s3cret")
    assert trino_calls[1]["sql"] == "SELECT count(*) FROM lake.ml.churn_predictions"
    assert all(call["closed"] for call in trino_calls)


def test_without_a_password_the_session_is_plain_http_without_auth(trino_calls):
    from lakehouse_ml.resources.warehouse import TrinoWarehouse

    TrinoWarehouse(host="trino.internal", staging_uri="s3://raw/_validated").query("SELECT 1 AS as_of")
    (call,) = trino_calls
    assert (call["kwargs"]["http_scheme"], call["kwargs"]["auth"]) == ("http", None)


TRINO_VARIABLES = ("PORT", "USER", "PASSWORD", "CATALOG", "RAW_CATALOG")


@pytest.fixture
def trino_env(monkeypatch, tmp_path):
    from lakehouse_ml.platform.settings import Settings

    for name in TRINO_VARIABLES:
        monkeypatch.delenv(f"LAKEHOUSE_TRINO_{name}", raising=False)
    monkeypatch.setenv("LAKEHOUSE_TRINO_HOST", "trino.internal")
    return Settings.from_env({"LAKEHOUSE_PROFILE": "prod", "LAKEHOUSE_RAW_URI": "s3://raw"})


def test_prod_trino_resources_start_with_only_a_host_and_keep_the_class_defaults(trino_env, trino_calls):
    import dagster as dg

    from lakehouse_ml.resources.query_engine import prod_query_engine
    from lakehouse_ml.resources.warehouse import prod_warehouse

    with dg.build_resources({"engine": prod_query_engine(trino_env), "wh": prod_warehouse(trino_env)}) as res:
        assert (res.wh.port, res.wh.user, res.wh.catalog, res.wh.raw_catalog) == (
            8080,
            "lakehouse",
            "iceberg",
            "hive",
        )
        res.engine.query("SELECT 1 AS as_of")
    (call,) = trino_calls
    assert (call["kwargs"]["host"], call["kwargs"]["http_scheme"], call["kwargs"]["auth"]) == (
        "trino.internal",
        "http",
        None,
    )


def test_prod_trino_password_is_a_secret_env_var_and_switches_to_https(trino_env, trino_calls, monkeypatch):
    import dagster as dg

    from lakehouse_ml.resources.query_engine import prod_query_engine

    monkeypatch.setenv("LAKEHOUSE_TRINO_PASSWORD", "s3cret")
    monkeypatch.setenv("LAKEHOUSE_TRINO_PORT", "8443")
    engine = prod_query_engine(trino_env)
    assert engine.password == dg.EnvVar("LAKEHOUSE_TRINO_PASSWORD")  # not the value itself
    with dg.build_resources({"engine": engine}) as resources:
        resources.engine.query("SELECT 1 AS as_of")
    (call,) = trino_calls
    assert (call["kwargs"]["port"], call["kwargs"]["http_scheme"], call["kwargs"]["auth"]._password) == (
        8443,
        "https",
        "s3cret",
    )
