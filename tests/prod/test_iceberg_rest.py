"""The prod REST catalog (Polaris) resource: the OAuth scope is configurable, the credential optional."""

from __future__ import annotations

import dagster as dg
import pytest

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.iceberg import POLARIS_SCOPE, prod_iceberg


@pytest.fixture
def rest_env(monkeypatch):
    for name in ("WAREHOUSE", "CREDENTIAL", "SCOPE"):
        monkeypatch.delenv(f"LAKEHOUSE_ICEBERG_{name}", raising=False)
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_REST_URI", "http://polaris:8181/api/catalog")
    return Settings.from_env({"LAKEHOUSE_PROFILE": "prod"})


def properties_sent(monkeypatch, resource) -> dict:
    import pyiceberg.catalog.rest

    sent = {}
    monkeypatch.setattr(pyiceberg.catalog.rest, "RestCatalog", lambda name, **props: sent.update(props))
    with dg.build_resources({"iceberg": resource}) as resources:
        resources.iceberg.catalog()
    return sent


def test_polaris_scope_is_the_default_and_no_credential_is_required(rest_env, monkeypatch):
    sent = properties_sent(monkeypatch, prod_iceberg(rest_env))
    assert sent == {"uri": "http://polaris:8181/api/catalog", "scope": POLARIS_SCOPE}


def test_scope_and_credential_come_from_the_environment(rest_env, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_SCOPE", "PRINCIPAL_ROLE:ml_writer")
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_CREDENTIAL", "client:secret")
    resource = prod_iceberg(Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert resource.credential == dg.EnvVar("LAKEHOUSE_ICEBERG_CREDENTIAL")
    sent = properties_sent(monkeypatch, resource)
    assert (sent["scope"], sent["credential"]) == ("PRINCIPAL_ROLE:ml_writer", "client:secret")


def test_the_sql_catalog_is_a_configuration_choice_with_its_url_a_secret(monkeypatch):
    import pyiceberg.catalog.sql

    from lakehouse_ml.resources.iceberg import SqlIcebergCatalog

    monkeypatch.delenv("LAKEHOUSE_ICEBERG_WAREHOUSE", raising=False)
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_CATALOG", "sql")
    with pytest.raises(ValueError, match="LAKEHOUSE_ICEBERG_WAREHOUSE"):
        prod_iceberg(Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_WAREHOUSE", "s3://lakehouse/iceberg")
    monkeypatch.setenv("LAKEHOUSE_ICEBERG_SQL_URI", "postgresql+psycopg2://user:pw@db/iceberg")
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", "http://minio:9000")
    resource = prod_iceberg(Settings.from_env({"LAKEHOUSE_PROFILE": "prod"}))
    assert isinstance(resource, SqlIcebergCatalog)
    assert resource.uri == dg.EnvVar("LAKEHOUSE_ICEBERG_SQL_URI")
    sent = {}
    monkeypatch.setattr(pyiceberg.catalog.sql, "SqlCatalog", lambda name, **props: sent.update(props))
    with dg.build_resources({"iceberg": resource}) as resources:
        resources.iceberg.catalog()
    assert sent == {
        "uri": "postgresql+psycopg2://user:pw@db/iceberg",
        "warehouse": "s3://lakehouse/iceberg",
        "s3.endpoint": "http://minio:9000",
    }
