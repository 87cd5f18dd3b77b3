"""The model server's online lookup reads each feature view with the online store's ``online_read``:
it must answer exactly what ``FeatureStore.get_online_features`` answers, on sqlite and on Redis."""

from __future__ import annotations

import math
import uuid

import pytest

from lakehouse_ml.serving.online_lookup import ENTITY_KEY, OnlineFeatures
from tests.support.model_builders import sample_features, write_feature_repo
from tests.support.redis_keys import delete_project_keys

CUSTOMERS = 60


def _through_feature_store(store, service, customer_ids: list[str], names: list[str]) -> list[list | None]:
    response = store.get_online_features(
        features=service, entity_rows=[{ENTITY_KEY: cid} for cid in customer_ids]
    ).to_dict()
    rows = [[response[name][i] for name in names] for i in range(len(customer_ids))]
    return [None if any(value is None for value in row) else row for row in rows]


def _request(known: list[str]) -> list[str]:
    # unknown ids, a repeated id and the request order must all come back as asked
    return [known[3], "nobody", known[0], known[3], "", *known[10:40]]


def _check(store) -> None:
    features = OnlineFeatures(store)
    known = sample_features(CUSTOMERS)["customer_id"].tolist()
    names = sorted(features.available)
    customer_ids = _request(known)
    rows = features.rows(customer_ids, names)
    assert rows == _through_feature_store(store, features._service, customer_ids, names)
    assert rows[1] is None and rows[4] is None
    assert rows[0] == rows[3] and all(isinstance(v, str) or math.isfinite(v) for v in rows[0])


def test_lookup_matches_feast_get_online_features_on_sqlite(tmp_path):
    from feast import FeatureStore

    _check(FeatureStore(repo_path=str(write_feature_repo(tmp_path / "repo", customers=CUSTOMERS))))


@pytest.mark.redis
def test_lookup_matches_feast_get_online_features_on_redis(tmp_path, redis_url):
    from feast import FeatureStore

    from lakehouse_ml.features.store import redis_connection_string

    project = f"lakehouse_serving_test_{uuid.uuid4().hex[:12]}"  # Redis keys end with the project name
    online_store = {"type": "redis", "connection_string": redis_connection_string(redis_url)}
    try:
        repo = write_feature_repo(tmp_path / "repo", CUSTOMERS, online_store=online_store, project=project)
        _check(FeatureStore(repo_path=str(repo)))
    finally:
        delete_project_keys(redis_url, project)
