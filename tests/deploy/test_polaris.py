"""The Polaris bootstrap (apache-polaris SDK clients) against tests/support/standins/polaris_standin.py,
a recording stand-in of Polaris' REST API: it creates the catalog, namespaces, roles and the seed's grants,
and a second run changes nothing."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance.polaris_bootstrap import (
    CATALOG,
    NAMESPACES,
    READ,
    WRITE,
    CatalogStorage,
    access_token,
    bootstrap,
    clients,
    main,
)
from tests.support.standins.polaris_standin import ADMIN, PolarisStandIn

STORAGE = CatalogStorage("s3://lakehouse/warehouse", role_arn="arn:aws:iam::123456789012:role/polaris")


@pytest.fixture
def polaris():
    with PolarisStandIn() as server:
        yield server


def _run(polaris):
    token = access_token(polaris.base_url, *ADMIN)
    return bootstrap(*clients(polaris.base_url, token), STORAGE)


def test_first_run_creates_the_catalog_namespaces_roles_and_grants(polaris):
    report = _run(polaris)
    state = polaris.state
    assert all(outcome == "created" for _, outcome in report.steps)
    catalog = state.catalogs[CATALOG]
    assert catalog["type"] == "INTERNAL"
    assert catalog["storageConfigInfo"]["storageType"] == "S3"
    assert catalog["storageConfigInfo"]["allowedLocations"] == [STORAGE.base_location]
    assert catalog["properties"]["default-base-location"] == STORAGE.base_location
    assert state.namespaces[CATALOG] == {(n,) for n in NAMESPACES}
    assert set(report.credentials) == {"lakehouse-ml", "trino"}
    assert report.credentials["trino"] == "id-trino:secret-trino"
    assert state.principal_assignments == {
        "lakehouse-ml": {"lakehouse_pipeline"},
        "trino": {"lakehouse_pipeline"},
    }


def test_the_server_holds_the_grants_of_catalog_names(polaris):
    _run(polaris)
    state = polaris.state
    browse = {"CATALOG_READ_PROPERTIES", "NAMESPACE_LIST"}
    assert state.privileges("data_scientist") == {
        "*": browse,
        **{namespace: set(READ) for namespace in ("gold", "ml", "models")},
    }
    assert state.privileges("ml_engineer") == {
        "*": browse,
        **{namespace: set(READ) for namespace in ("bronze", "silver", "gold", "ml")},
        "models": set(WRITE),
    }
    assert state.privileges("lakehouse_pipeline") == {"*": browse, **{n: set(WRITE) for n in NAMESPACES}}
    writers = {
        role
        for role in state.principal_roles
        if "TABLE_WRITE_DATA" in state.privileges(role).get("models", set())
    }
    assert writers == {"ml_engineer", "lakehouse_pipeline"}


def test_a_second_run_changes_nothing(polaris):
    _run(polaris)
    state = polaris.state
    before = state.snapshot()
    report = _run(polaris)
    after = state.snapshot()
    assert after == before
    assert report.credentials == {}
    outcomes = dict(report.steps)
    assert outcomes[f"catalog {CATALOG}"] == outcomes["principal trino"] == "exists"
    assert all(outcomes[f"namespace {CATALOG}.{n}"] == "exists" for n in NAMESPACES)
    # Polaris accepts a grant or an assignment that is already in place again; nothing else is created
    assert report.created and {what.split()[0] for what in report.created} == {"grant", "assign"}


def test_the_stand_in_answers_a_duplicate_as_polaris_does(polaris):
    from apache_polaris.sdk.catalog.exceptions import ConflictException as CatalogConflict
    from apache_polaris.sdk.catalog.models import CreateNamespaceRequest
    from apache_polaris.sdk.management.exceptions import ConflictException, NotFoundException
    from apache_polaris.sdk.management.models import CatalogRole, CreateCatalogRoleRequest

    management, iceberg = clients(polaris.base_url, access_token(polaris.base_url, *ADMIN))
    request = CreateCatalogRoleRequest(catalog_role=CatalogRole(name="r"))
    with pytest.raises(NotFoundException):
        management.create_catalog_role("missing", request)
    _run(polaris)
    with pytest.raises(CatalogConflict):
        iceberg.create_namespace(CATALOG, CreateNamespaceRequest(namespace=[NAMESPACES[0]]))
    management.create_catalog_role(CATALOG, request)
    with pytest.raises(ConflictException):
        management.create_catalog_role(CATALOG, request)


def test_wrong_admin_credentials_fail_with_a_clear_error(polaris):
    with pytest.raises(RuntimeError, match="refused the admin credentials"):
        access_token(polaris.base_url, "root-id", "wrong")
    assert polaris.state.catalogs == {}


def test_the_command_needs_admin_credentials_from_the_environment(polaris, monkeypatch, capsys):
    arguments = ["--base-url", polaris.base_url, "--base-location", STORAGE.base_location]
    monkeypatch.delenv("POLARIS_CLIENT_ID", raising=False)
    assert main(arguments) == 2
    assert "POLARIS_CLIENT_ID" in capsys.readouterr().err
    monkeypatch.setenv("POLARIS_CLIENT_ID", ADMIN[0])
    monkeypatch.setenv("POLARIS_CLIENT_SECRET", ADMIN[1])
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "created  catalog lakehouse" in out and "id-lakehouse-ml:secret-lakehouse-ml" in out


def test_the_catalog_must_live_in_s3():
    with pytest.raises(ValueError, match="s3://"):
        CatalogStorage("/tmp/warehouse")
