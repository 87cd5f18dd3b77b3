"""The Feast feature store, one interface for both profiles.

Local: the repo's feature_store.yaml with registry and sqlite online store under ``$LAKEHOUSE_HOME/feast``
and the gold Parquet under ``$LAKEHOUSE_HOME/gold``. Prod: SQL registry (Postgres), Redis online store,
gold Parquet on S3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from lakehouse_ml.features.gold import GOLD_TABLE, GoldSource
from lakehouse_ml.platform.settings import Settings

if TYPE_CHECKING:
    import feast


class FeatureStoreResource(dg.ConfigurableResource):
    """Opens the project's Feast store and says where its gold source lives."""

    def store_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def gold_source(self) -> GoldSource:
        raise NotImplementedError

    def open(self) -> feast.FeatureStore:
        from lakehouse_ml.features.store import store_from_config

        return store_from_config(self.store_config())


class LocalFeatureStore(FeatureStoreResource):
    lakehouse_home: str

    def store_config(self) -> dict[str, Any]:
        from lakehouse_ml.features.store import local_store_config

        return local_store_config(Path(self.lakehouse_home) / "feast")

    def gold_source(self) -> GoldSource:
        return GoldSource(str(Path(self.lakehouse_home) / "gold" / f"{GOLD_TABLE}.parquet"))


class ProdFeatureStore(FeatureStoreResource):
    registry_url: str
    redis_url: str
    gold_uri: str
    s3_endpoint: str | None = None

    def store_config(self) -> dict[str, Any]:
        from lakehouse_ml.features.store import prod_store_config

        return prod_store_config(self.registry_url, self.redis_url)

    def gold_source(self) -> GoldSource:
        from lakehouse_ml.features.gold import prod_gold_source

        return prod_gold_source(self.gold_uri, self.s3_endpoint)


def local_feature_store(settings: Settings) -> LocalFeatureStore:
    return LocalFeatureStore(lakehouse_home=str(settings.home))


def prod_feature_store(settings: Settings) -> ProdFeatureStore:
    return ProdFeatureStore(
        registry_url=dg.EnvVar("LAKEHOUSE_FEAST_REGISTRY_URL"),
        redis_url=dg.EnvVar("LAKEHOUSE_REDIS_URL"),
        gold_uri=settings.gold_uri or "",
        s3_endpoint=settings.s3_endpoint,
    )
