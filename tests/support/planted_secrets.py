"""Secrets planted in the environment, so that a test can look for them where they must not appear."""

from __future__ import annotations

SECRETS = {
    "LAKEHOUSE_TRINO_PASSWORD": "planted-trino-Zq81",
    "LAKEHOUSE_REDIS_URL": "redis://:planted-redis-Zq82@127.0.0.1:9/0",
    "LAKEHOUSE_FEAST_REGISTRY_URL": "postgresql://feast:planted-pg-Zq83@127.0.0.1:9/feast",
    "LAKEHOUSE_DAGSTER_PG_PASSWORD": "planted-dagster-pg-Zq84",
    "AWS_SECRET_ACCESS_KEY": "planted-s3-Zq85",
    "LAKEHOUSE_ICEBERG_CREDENTIAL": "client:planted-polaris-Zq86",
}


PLANTED = ["Zq81", "Zq82", "Zq83", "Zq84", "Zq85", "Zq86"]


SETTINGS = {
    "LAKEHOUSE_PROFILE": "prod",
    "LAKEHOUSE_TRINO_HOST": "127.0.0.1",
    "LAKEHOUSE_TRINO_PORT": "9",
    "LAKEHOUSE_TRINO_USER": "svc",
    "LAKEHOUSE_TRINO_CATALOG": "iceberg",
    "LAKEHOUSE_TRINO_RAW_CATALOG": "hive",
    "LAKEHOUSE_ICEBERG_REST_URI": "http://127.0.0.1:9/api/catalog",
    "LAKEHOUSE_ICEBERG_WAREHOUSE": "warehouse",
    "AWS_ACCESS_KEY_ID": "svc-key",
    "LAKEHOUSE_S3_ENDPOINT": "http://127.0.0.1:9",
    "LAKEHOUSE_RAW_URI": "s3://raw/landing",
    "LAKEHOUSE_GOLD_URI": "s3://lake/gold",
    "LAKEHOUSE_MODEL_STORE_URI": "s3://lake/models",
    "LAKEHOUSE_DVC_REMOTE_URL": "s3://lake/dvc",
    "LAKEHOUSE_KFP_HOST": "http://127.0.0.1:9",
    "LAKEHOUSE_KSERVE_NAMESPACE": "ml",
    "LAKEHOUSE_IMAGE": "lakehouse-ml:test",
}
