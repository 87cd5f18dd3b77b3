"""Where every table the code writes lives in the catalog, and who may read or write each namespace.

The one mapping that dbt (the ``namespaces`` var, passed by ``assets/gold.py``), the Iceberg writers
(``predictions/``, ``registry/catalog_tables.py``, ``ingest/warehouse.py``), the query engines and the
Polaris bootstrap (``governance/polaris_bootstrap.py``) all read, so their namespaces cannot drift apart.

The grants follow the namespaces the code has always written (``gold``, ``ml``) rather than the seed's
``features`` / ``predictions``: ``ml.churn_predictions`` and ``gold.*`` are names users, Trino queries and
dbt tests rely on, and granting where the tables already are moves no row (docs/prod.md, "Governance").
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOG = "lakehouse"
DATA_SCIENTIST = "data_scientist"
ML_ENGINEER = "ml_engineer"
PIPELINE = "lakehouse_pipeline"  # the Dagster run pods' and Trino's service principals
PEOPLE = (DATA_SCIENTIST, ML_ENGINEER)
PRINCIPAL_ROLES = (*PEOPLE, PIPELINE)


@dataclass(frozen=True)
class NamespaceAccess:
    """Principal roles that read, and that write (and read), the tables of one namespace."""

    purpose: str
    readers: tuple[str, ...]
    writers: tuple[str, ...]


NAMESPACES: dict[str, NamespaceAccess] = {
    "bronze": NamespaceAccess("dbt staging views of the raw extracts", (ML_ENGINEER,), (PIPELINE,)),
    "silver": NamespaceAccess("dbt cleaned customers, orders, snapshot grid", (ML_ENGINEER,), (PIPELINE,)),
    "gold": NamespaceAccess("gold feature and label tables (features)", PEOPLE, (PIPELINE,)),
    "ml": NamespaceAccess("the prediction log (predictions)", PEOPLE, (PIPELINE,)),
    "models": NamespaceAccess("model registry metadata", PEOPLE, (ML_ENGINEER, PIPELINE)),
}

# table -> namespace, for every table the code writes
TABLES: dict[str, str] = {
    "stg_customers": "bronze",
    "stg_orders": "bronze",
    "dim_customers": "silver",
    "fct_orders": "silver",
    "snapshot_days": "silver",
    "fct_customer_features": "gold",
    "fct_churn_labels": "gold",
    "gold_build_windows": "gold",
    "churn_predictions": "ml",
    "model_versions": "models",
    "model_stage_history": "models",
}
# dbt model folder (layer) -> the namespace its models are built in (dbt var ``namespaces``)
DBT_LAYERS: dict[str, str] = {"bronze": "bronze", "silver": "silver", "gold": "gold"}


def namespace_of(table: str) -> str:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(
            f"table {table!r} is not in lakehouse_ml/platform/catalog_names.py TABLES: add it with its "
            "namespace so the catalog grants cover it"
        ) from None


def identifier(table: str) -> str:
    """``<namespace>.<table>``, e.g. ``ml.churn_predictions``."""
    return f"{namespace_of(table)}.{table}"


class UngovernedNamespaceError(LookupError):
    pass


def create_table(catalog, table: str, schema, **options):
    """Load ``table`` (by its mapped identifier), creating it on first use. A SQL catalog (local, or
    pyiceberg's on PostgreSQL) gets the namespace created too; a REST catalog (Polaris) only ever has the
    namespaces the bootstrap created, so a table outside them fails here, naming the fix."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.exceptions import NoSuchNamespaceError

    namespace = namespace_of(table)
    if not isinstance(catalog, RestCatalog):
        catalog.create_namespace_if_not_exists(namespace)
    try:
        return catalog.create_table_if_not_exists(identifier(table), schema=schema, **options)
    except NoSuchNamespaceError as err:
        raise UngovernedNamespaceError(
            f"cannot create {identifier(table)}: namespace {namespace!r} does not exist in catalog "
            f"{catalog.name}; only the Polaris bootstrap creates namespaces, with their grants "
            "(python -m lakehouse_ml.governance.polaris_bootstrap, docs/prod.md)"
        ) from err
