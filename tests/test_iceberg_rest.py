"""The prod REST catalog (Polaris) resource: the OAuth scope is configurable, the credential optional."""

from __future__ import annotations

import dagster as dg
import pytest

from lakehouse_ml.resources.iceberg import POLARIS_SCOPE, prod_iceberg
from lakehouse_ml.settings import Settings


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
