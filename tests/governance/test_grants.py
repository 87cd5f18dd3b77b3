"""The Polaris grants, derived from the bootstrap's definitions alone (CATALOG_ROLES, PRINCIPAL_ROLES,
NAMESPACES), cover every table the code writes (catalog_names.TABLES) with the seed's rules; and on the
Polaris stand-in a table outside the governed namespaces cannot be created."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance import polaris_bootstrap as bootstrap
from lakehouse_ml.platform import catalog_names
from lakehouse_ml.platform.catalog_names import DATA_SCIENTIST, ML_ENGINEER, PEOPLE, PIPELINE
from tests.support.standins.polaris_standin import ADMIN, TOKEN, PolarisStandIn

READ_DATA, WRITE_DATA = "TABLE_READ_DATA", "TABLE_WRITE_DATA"


def table_access(tables: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """table -> {"read": principal roles, "write": principal roles}, from the bootstrap's grants; fails
    naming every table whose namespace the bootstrap does not create or no role may write."""
    access = {}
    for table, namespace in tables.items():
        held: dict[str, set[str]] = {"read": set(), "write": set()}
        for principal_role, catalog_roles in bootstrap.PRINCIPAL_ROLES.items():
            for catalog_role in catalog_roles:
                scope, privileges = bootstrap.CATALOG_ROLES[catalog_role]
                if scope in (None, namespace):
                    if READ_DATA in privileges:
                        held["read"].add(principal_role)
                    if WRITE_DATA in privileges:
                        held["write"].add(principal_role)
        access[table] = held
    ungoverned = sorted(
        f"{namespace}.{table}"
        for table, namespace in tables.items()
        if namespace not in bootstrap.NAMESPACES or not access[table]["write"]
    )
    assert not ungoverned, f"tables in namespaces no Polaris grant covers: {ungoverned}"
    return access


def test_the_seeds_rules_hold_for_every_table_the_code_writes():
    access = table_access(catalog_names.TABLES)
    kind = {
        "features": ("fct_customer_features", "fct_churn_labels"),
        "predictions": ("churn_predictions",),
        "models": ("model_versions", "model_stage_history"),
    }
    for table in kind["features"] + kind["predictions"]:
        assert DATA_SCIENTIST in access[table]["read"], table
        assert PIPELINE in access[table]["write"], table
    for table in kind["predictions"]:
        assert not access[table]["write"] & set(PEOPLE), "no person writes predictions"
    for table in kind["models"]:
        assert access[table]["write"] == {ML_ENGINEER, PIPELINE}
        assert DATA_SCIENTIST in access[table]["read"]
    assert not any(DATA_SCIENTIST in held["write"] for held in access.values()), (
        "data scientists write nothing"
    )
    for table, held in access.items():
        assert held["write"] <= held["read"], f"{table}: a writer that cannot read"


def test_no_role_holds_catalog_wide_write_or_namespace_creation():
    for role, (scope, privileges) in bootstrap.CATALOG_ROLES.items():
        if scope is None:
            assert set(privileges) <= {"CATALOG_READ_PROPERTIES", "NAMESPACE_LIST"}, role
        assert not {"CATALOG_MANAGE_CONTENT", "NAMESPACE_CREATE"} & set(privileges), role


def test_a_table_in_a_namespace_no_grant_covers_fails_the_check(monkeypatch):
    monkeypatch.setitem(catalog_names.TABLES, "scratch_scores", "scratch")
    with pytest.raises(AssertionError, match=r"no Polaris grant covers: \['scratch.scratch_scores'\]"):
        table_access(catalog_names.TABLES)


def test_an_ungoverned_write_fails_loudly_on_polaris(monkeypatch):
    """The prod writers create tables through catalog_names.create_table; on Polaris (here its stand-in,
    bootstrapped) a table whose namespace the bootstrap did not create gets 404 NoSuchNamespaceException,
    and the writer neither creates the namespace nor swallows the error."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.exceptions import NoSuchTableError

    from lakehouse_ml.registry.catalog_tables import versions_schema

    with PolarisStandIn() as polaris:
        token = bootstrap.access_token(polaris.base_url, *ADMIN)
        bootstrap.bootstrap(*bootstrap.clients(polaris.base_url, token), bootstrap.CatalogStorage("s3://b/w"))
        catalog = RestCatalog("lakehouse", uri=f"{polaris.base_url}/api/catalog", token=TOKEN)
        calls_before = len(polaris.state.calls)
        monkeypatch.setitem(catalog_names.TABLES, "scratch_scores", "scratch")
        with pytest.raises(
            catalog_names.UngovernedNamespaceError, match="namespace 'scratch' does not exist.*bootstrap"
        ):
            catalog_names.create_table(catalog, "scratch_scores", versions_schema())
        with pytest.raises(NoSuchTableError):
            catalog.load_table("scratch.scratch_scores")
        made = [(method, path) for method, path, _ in polaris.state.calls[calls_before:]]
        assert ("POST", "/api/catalog/v1/lakehouse/namespaces/scratch/tables") in made
        assert not [call for call in made if call[1].endswith("/namespaces")], (
            "the writer created a namespace"
        )
        assert ("scratch",) not in polaris.state.namespaces["lakehouse"]
