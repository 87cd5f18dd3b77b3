"""Set up the Polaris catalog the prod profile uses, with the seed's access rules, idempotently.

Creates the Iceberg catalog ``lakehouse``, one namespace per entry of
``lakehouse_ml/platform/catalog_names.py`` (``gold``: features, ``ml``: predictions, ``models``: registry
metadata, and dbt's ``bronze`` / ``silver``), and per namespace a ``<namespace>_reader`` and
``<namespace>_writer`` catalog role granted to the principal roles that mapping names: data scientists
read features, predictions and models and write nothing; ML engineers also read bronze and silver and
write models; the pipeline's and Trino's principals (``lakehouse_pipeline``) write every namespace, and
every role lists the namespaces (``catalog_browser``), but no role may create one, so a table outside the
mapping cannot be written. People are given a principal role with Polaris' own tools
(``polaris principal-roles grant``); this module creates only the service principals and prints their
credentials once, for the secrets ``LAKEHOUSE_ICEBERG_CREDENTIAL`` and ``POLARIS_TRINO_CREDENTIAL``.

Every step tolerates "already exists" (HTTP 409), so running it again changes nothing. Run it with an
admin principal's credentials in ``POLARIS_CLIENT_ID`` / ``POLARIS_CLIENT_SECRET``:

    python -m lakehouse_ml.governance.polaris_bootstrap --base-url https://polaris.example.com \\
        --base-location s3://lakehouse/warehouse --role-arn arn:aws:iam::123456789012:role/polaris
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

from lakehouse_ml.platform.catalog_names import CATALOG
from lakehouse_ml.platform.catalog_names import NAMESPACES as NAMESPACE_ACCESS
from lakehouse_ml.platform.catalog_names import PRINCIPAL_ROLES as ROLES

NAMESPACES = tuple(NAMESPACE_ACCESS)
READ = (
    "NAMESPACE_READ_PROPERTIES",
    "TABLE_LIST",
    "TABLE_READ_PROPERTIES",
    "TABLE_READ_DATA",
    "VIEW_LIST",
    "VIEW_READ_PROPERTIES",
)
# dbt replaces tables and views; maintenance expires snapshots: full metadata, but no namespace creation
WRITE = READ + (
    "TABLE_CREATE",
    "TABLE_DROP",
    "TABLE_WRITE_PROPERTIES",
    "TABLE_WRITE_DATA",
    "TABLE_FULL_METADATA",
    "VIEW_CREATE",
    "VIEW_DROP",
    "VIEW_WRITE_PROPERTIES",
)


def _catalog_role(namespace: str, principal_role: str) -> str:
    return f"{namespace}_{'writer' if principal_role in NAMESPACE_ACCESS[namespace].writers else 'reader'}"


BROWSER = "catalog_browser"
# principal role -> catalog roles, and catalog role -> (namespace, or None for the whole catalog,
# privileges): all from catalog_names
PRINCIPAL_ROLES: dict[str, tuple[str, ...]] = {
    role: (
        BROWSER,
        *(
            _catalog_role(namespace, role)
            for namespace, access in NAMESPACE_ACCESS.items()
            if role in access.readers + access.writers
        ),
    )
    for role in ROLES
}
CATALOG_ROLES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    BROWSER: (None, ("CATALOG_READ_PROPERTIES", "NAMESPACE_LIST")),
    **{
        name: (name.rsplit("_", 1)[0], WRITE if name.endswith("_writer") else READ)
        for name in sorted({name for names in PRINCIPAL_ROLES.values() for name in names} - {BROWSER})
    },
}
SERVICE_PRINCIPALS: dict[str, str] = {"lakehouse-ml": "lakehouse_pipeline", "trino": "lakehouse_pipeline"}


@dataclass(frozen=True)
class CatalogStorage:
    """Where the catalog keeps its tables; ``role_arn``: the IAM role Polaris assumes to vend credentials."""

    base_location: str
    role_arn: str | None = None
    region: str | None = None
    endpoint: str | None = None  # S3-compatible storage (MinIO): path-style access, no STS

    def __post_init__(self):
        if not self.base_location.startswith("s3://"):
            raise ValueError(f"base_location must be an s3:// URI, got {self.base_location!r}")


@dataclass
class BootstrapReport:
    # (what, "created" | "exists"); a grant or assignment already in place is accepted again: "created"
    steps: list[tuple[str, str]] = field(default_factory=list)
    credentials: dict[str, str] = field(default_factory=dict)  # principal -> "<client_id>:<client_secret>"

    @property
    def created(self) -> list[str]:
        return [what for what, outcome in self.steps if outcome == "created"]


def _step(report: BootstrapReport, what: str, call, conflict: type[Exception]):
    try:
        result = call()
    except conflict:
        report.steps.append((what, "exists"))
        return None
    report.steps.append((what, "created"))
    return result


def bootstrap(management, catalog_api, storage: CatalogStorage) -> BootstrapReport:
    """Apply the set-up with a Polaris management API and Iceberg catalog API (apache-polaris SDK clients)."""
    from apache_polaris.sdk.catalog.exceptions import ConflictException as CatalogConflict
    from apache_polaris.sdk.catalog.models import CreateNamespaceRequest
    from apache_polaris.sdk.management import models
    from apache_polaris.sdk.management.exceptions import ConflictException

    report = BootstrapReport()
    s3 = models.AwsStorageConfigInfo(
        storage_type="S3",
        allowed_locations=[storage.base_location],
        role_arn=storage.role_arn,
        region=storage.region,
        endpoint=storage.endpoint,
        path_style_access=bool(storage.endpoint),
        sts_unavailable=True if storage.endpoint else None,
    )
    catalog = models.PolarisCatalog(
        type="INTERNAL",
        name=CATALOG,
        properties=models.CatalogProperties(default_base_location=storage.base_location),
        storage_config_info=s3,
    )
    _step(
        report,
        f"catalog {CATALOG}",
        lambda: management.create_catalog(models.CreateCatalogRequest(catalog=catalog)),
        ConflictException,
    )
    for namespace in NAMESPACES:
        _step(
            report,
            f"namespace {CATALOG}.{namespace}",
            lambda n=namespace: catalog_api.create_namespace(CATALOG, CreateNamespaceRequest(namespace=[n])),
            CatalogConflict,
        )
    for role, (namespace, privileges) in CATALOG_ROLES.items():
        _step(
            report,
            f"catalog role {role}",
            lambda r=role: management.create_catalog_role(
                CATALOG, models.CreateCatalogRoleRequest(catalog_role=models.CatalogRole(name=r))
            ),
            ConflictException,
        )
        for privilege in privileges:
            if namespace is None:
                grant = models.CatalogGrant(type="catalog", privilege=models.CatalogPrivilege(privilege))
            else:
                grant = models.NamespaceGrant(
                    type="namespace", namespace=[namespace], privilege=models.NamespacePrivilege(privilege)
                )
            _step(
                report,
                f"grant {privilege} on {CATALOG}{'.' + namespace if namespace else ''} to {role}",
                lambda r=role, g=grant: management.add_grant_to_catalog_role(
                    CATALOG, r, models.AddGrantRequest(grant=g)
                ),
                ConflictException,
            )
    for principal_role, catalog_roles in PRINCIPAL_ROLES.items():
        _step(
            report,
            f"principal role {principal_role}",
            lambda p=principal_role: management.create_principal_role(
                models.CreatePrincipalRoleRequest(principal_role=models.PrincipalRole(name=p))
            ),
            ConflictException,
        )
        for catalog_role in catalog_roles:
            _step(
                report,
                f"assign catalog role {catalog_role} to principal role {principal_role}",
                lambda p=principal_role, c=catalog_role: management.assign_catalog_role_to_principal_role(
                    p, CATALOG, models.GrantCatalogRoleRequest(catalog_role=models.CatalogRole(name=c))
                ),
                ConflictException,
            )
    for principal, principal_role in SERVICE_PRINCIPALS.items():
        created = _step(
            report,
            f"principal {principal}",
            lambda p=principal: management.create_principal(
                models.CreatePrincipalRequest(principal=models.Principal(name=p))
            ),
            ConflictException,
        )
        if created is not None:
            secret = created.credentials.client_secret.get_secret_value()
            report.credentials[principal] = f"{created.credentials.client_id}:{secret}"
        _step(
            report,
            f"assign principal role {principal_role} to principal {principal}",
            lambda p=principal, r=principal_role: management.assign_principal_role(
                p, models.GrantPrincipalRoleRequest(principal_role=models.PrincipalRole(name=r))
            ),
            ConflictException,
        )
    return report


def access_token(base_url: str, client_id: str, client_secret: str) -> str:
    """An OAuth2 client-credentials token from Polaris' token endpoint."""
    from apache_polaris.sdk.management import ApiClient, Configuration

    response = ApiClient(Configuration(host=f"{base_url}/api/management/v1")).call_api(
        "POST",
        f"{base_url}/api/catalog/v1/oauth/tokens",
        header_params={"Content-Type": "application/x-www-form-urlencoded"},
        post_params={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "PRINCIPAL_ROLE:ALL",
        },
    )
    data = json.loads(response.read())
    if "access_token" not in data:
        raise RuntimeError(f"Polaris refused the admin credentials: {data.get('error_description') or data}")
    return data["access_token"]


def clients(base_url: str, token: str):
    """(management API, Iceberg catalog API) of the apache-polaris SDK, authenticated with ``token``."""
    from apache_polaris.sdk import catalog, management

    manage = management.PolarisDefaultApi(
        management.ApiClient(
            management.Configuration(host=f"{base_url}/api/management/v1", access_token=token)
        )
    )
    iceberg = catalog.IcebergCatalogAPI(
        catalog.ApiClient(catalog.Configuration(host=f"{base_url}/api/catalog", access_token=token))
    )
    return manage, iceberg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="Polaris, e.g. https://polaris.example.com")
    parser.add_argument("--base-location", required=True, help="s3:// folder of the catalog's tables")
    parser.add_argument("--role-arn", help="IAM role Polaris assumes to vend S3 credentials (AWS)")
    parser.add_argument("--region")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint (MinIO), instead of AWS")
    args = parser.parse_args(argv)
    client_id, client_secret = os.environ.get("POLARIS_CLIENT_ID"), os.environ.get("POLARIS_CLIENT_SECRET")
    if not client_id or not client_secret:
        print(
            "polaris_bootstrap: set POLARIS_CLIENT_ID and POLARIS_CLIENT_SECRET (an admin principal)",
            file=sys.stderr,
        )
        return 2
    base_url = args.base_url.rstrip("/")
    storage = CatalogStorage(args.base_location, args.role_arn, args.region, args.s3_endpoint)
    report = bootstrap(*clients(base_url, access_token(base_url, client_id, client_secret)), storage)
    for what, outcome in report.steps:
        print(f"{outcome:8} {what}")
    for principal, credential in report.credentials.items():
        print(f"credential of new principal {principal} (shown once; store it in a secret): {credential}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
