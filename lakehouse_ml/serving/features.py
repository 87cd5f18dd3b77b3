"""Online feature lookup for the model server (KServe's transformer step, done in-process)."""

from __future__ import annotations

from collections.abc import Sequence

FEATURE_SERVICE = "churn_v1"
ENTITY_KEY = "customer_id"


class OnlineStoreUnavailable(RuntimeError):
    """The online store could not be read (down, locked, missing): answered with 503 until it returns."""


class OnlineFeatures:
    """Reads feature rows from the Feast online store through the ``churn_v1`` feature service."""

    def __init__(self, store, feature_service: str = FEATURE_SERVICE):
        self._store = store
        _fail_fast_on_redis(store)
        self._service = store.get_feature_service(feature_service)
        self.available = {
            feature.name
            for projection in self._service.feature_view_projections
            for feature in projection.features
        }

    def missing(self, feature_names: Sequence[str]) -> list[str]:
        """Feature names the model needs that the feature service does not serve."""
        return [name for name in feature_names if name not in self.available]

    def rows(self, customer_ids: Sequence[str], feature_names: Sequence[str]) -> list[list | None]:
        """One row per customer in ``feature_names`` order; ``None`` where the store has no values."""
        try:
            response = self._store.get_online_features(
                features=self._service, entity_rows=[{ENTITY_KEY: cid} for cid in customer_ids]
            ).to_dict()
        except Exception as err:  # any store failure (connection, timeout, lock, missing table) is a 503
            raise OnlineStoreUnavailable(f"online store unavailable: {type(err).__name__}: {err}") from err
        columns = [response[name] for name in feature_names]
        rows: list[list | None] = []
        for index in range(len(customer_ids)):
            row = [column[index] for column in columns]
            rows.append(None if any(value is None for value in row) else row)
        return rows


def _fail_fast_on_redis(store) -> None:
    """One attempt per Redis command. redis-py retries a failed command 3 times with backoff of up to
    10 s, so with Redis away a request hung well past the socket timeouts (12 s measured) and then
    succeeded once Redis was back; with one attempt it is a 503 within the timeout, and the next request
    reconnects by itself."""
    online_store = store._get_provider().online_store
    if type(online_store).__name__ != "RedisOnlineStore":
        return
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    online_store._get_client(store.config.online_store).set_retry(Retry(NoBackoff(), 0))


def open_feature_store(repo_path: str | None):
    """The project's Feast store, or the one at ``repo_path`` (a folder with ``feature_store.yaml``)."""
    if repo_path:
        from feast import FeatureStore

        return FeatureStore(repo_path=repo_path)
    from lakehouse_ml.features.store import feature_store
    from lakehouse_ml.settings import Settings

    return feature_store(Settings.from_env())
