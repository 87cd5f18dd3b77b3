"""Iceberg catalog: pyiceberg SQL catalog on sqlite locally; in prod the REST catalog (Polaris) or,
with ``LAKEHOUSE_ICEBERG_CATALOG=sql``, pyiceberg's SQL catalog on a database every pod reaches
(PostgreSQL, ``LAKEHOUSE_ICEBERG_SQL_URI``) with the warehouse in object storage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse_ml.platform.settings import POLARIS_SCOPE, Settings
from lakehouse_ml.predictions.catalog import CATALOG_NAME, local_catalog
from lakehouse_ml.resources.env import optional_env


class IcebergCatalog(dg.ConfigurableResource):
    """Interface: ``catalog()`` returns a pyiceberg catalog; ``load_table`` / ``predictions_table`` use it."""

    def catalog(self):
        raise NotImplementedError

    def load_table(self, identifier: str):
        return self.catalog().load_table(identifier)

    def predictions_table(self):
        """``ml.churn_predictions``, created on first use."""
        from lakehouse_ml.predictions.catalog import ensure_predictions_table

        return ensure_predictions_table(self.catalog())


class LocalIcebergCatalog(IcebergCatalog):
    """``SqlCatalog`` at ``<iceberg_dir>/catalog.db`` with the warehouse in ``<iceberg_dir>/warehouse``."""

    iceberg_dir: str

    def catalog(self):
        return local_catalog(Path(self.iceberg_dir))


class RestIcebergCatalog(IcebergCatalog):
    """A REST catalog (Polaris); OAuth2 client credentials ``<client_id>:<secret>`` requested with
    ``scope``, and S3 settings."""

    uri: str
    warehouse: str | None = None
    credential: str | None = None
    scope: str = POLARIS_SCOPE
    s3_endpoint: str | None = None

    def catalog(self):
        from pyiceberg.catalog.rest import RestCatalog

        properties = {"uri": self.uri, "scope": self.scope}
        if self.warehouse:
            properties["warehouse"] = self.warehouse
        if self.credential:
            properties["credential"] = self.credential
        if self.s3_endpoint:
            properties["s3.endpoint"] = self.s3_endpoint
        return RestCatalog(CATALOG_NAME, **properties)


class SqlIcebergCatalog(IcebergCatalog):
    """pyiceberg's ``SqlCatalog`` on a shared database (SQLAlchemy URL) with an ``s3://`` warehouse."""

    uri: str
    warehouse: str
    s3_endpoint: str | None = None

    def catalog(self):
        from pyiceberg.catalog.sql import SqlCatalog

        properties = {"uri": self.uri, "warehouse": self.warehouse}
        if self.s3_endpoint:
            properties["s3.endpoint"] = self.s3_endpoint
        return SqlCatalog(CATALOG_NAME, **properties)


def local_iceberg(settings: Settings) -> LocalIcebergCatalog:
    return LocalIcebergCatalog(iceberg_dir=str(settings.iceberg_dir))


def prod_iceberg(settings: Settings) -> IcebergCatalog:
    if settings.iceberg_catalog == "sql":
        if not settings.iceberg_warehouse:
            raise ValueError(
                "LAKEHOUSE_ICEBERG_WAREHOUSE (s3://...) is required with LAKEHOUSE_ICEBERG_CATALOG=sql"
            )
        return SqlIcebergCatalog(
            uri=dg.EnvVar("LAKEHOUSE_ICEBERG_SQL_URI"),
            warehouse=settings.iceberg_warehouse,
            s3_endpoint=settings.s3_endpoint,
        )
    return RestIcebergCatalog(
        uri=dg.EnvVar("LAKEHOUSE_ICEBERG_REST_URI"),
        warehouse=settings.iceberg_warehouse,
        scope=settings.iceberg_scope,
        **optional_env("credential", "LAKEHOUSE_ICEBERG_CREDENTIAL"),
        s3_endpoint=settings.s3_endpoint,
    )
