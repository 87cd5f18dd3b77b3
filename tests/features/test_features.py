"""Feature store stage on the local profile: definitions vs gold, apply, point-in-time training sets,
materialization, online reads and the online/offline consistency check, on hand-made gold data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from lakehouse_ml.platform.settings import Settings
from tests.support.features_fixtures import (
    expected_as_of,
    gold_frame,
    latest_values,
    weekly_snapshots,
    write_gold,
)

SNAPSHOTS = weekly_snapshots(datetime(2024, 1, 21, tzinfo=UTC), 3)  # 2024-01-07, -14, -21
CUSTOMERS = 6  # c0..c5, c5 only on the last snapshot


@pytest.fixture
def settings(lakehouse_home) -> Settings:
    return Settings.from_env()


@pytest.fixture
def gold(lakehouse_home) -> pd.DataFrame:
    frame = gold_frame(SNAPSHOTS, CUSTOMERS)
    write_gold(lakehouse_home, frame)
    return frame


@pytest.fixture
def store(settings, gold):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    store = feature_store(settings)
    apply_definitions(store, gold_source(settings))
    return store


def test_feature_names_are_the_views_features_in_order(settings):
    from lakehouse_ml.features.definitions import build
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import ENTITY_KEY, FEATURE_NAMES, FEATURE_SERVICE, FEATURE_VIEW

    entity, _, view, service = build(gold_source(settings))
    assert [f.name for f in view.features] == FEATURE_NAMES
    assert entity.join_key == ENTITY_KEY
    assert view.name == FEATURE_VIEW
    assert service.name == FEATURE_SERVICE
    assert [p.name for p in service.feature_view_projections] == [FEATURE_VIEW]


def test_apply_creates_then_reports_unchanged(settings, gold):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    store = feature_store(settings)
    first = apply_definitions(store, gold_source(settings))
    assert {(c.kind, c.name, c.change) for c in first} >= {
        ("ENTITY", "customer", "CREATE"),
        ("FEATURE_VIEW", "customer_features", "CREATE"),
        ("FEATURE_SERVICE", "churn_v1", "CREATE"),
    }
    second = apply_definitions(feature_store(settings), gold_source(settings))
    assert second and all(c.change == "UNCHANGED" for c in second)
    assert (settings.feast_dir / "registry.db").exists()


@pytest.mark.parametrize(
    ("breakage", "column"),
    [
        (lambda f: f.drop(columns=["tenure_days"]), "tenure_days"),
        (lambda f: f.rename(columns={"customer_segment": "segment"}), "customer_segment"),
        (lambda f: f.assign(order_count_30d=f["order_count_30d"].astype(str)), "order_count_30d"),
    ],
    ids=["missing", "renamed", "retyped"],
)
def test_apply_refuses_a_view_that_does_not_match_gold(settings, lakehouse_home, breakage, column):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import FeatureDefinitionError, gold_source
    from lakehouse_ml.features.store import feature_store

    write_gold(lakehouse_home, breakage(gold_frame(SNAPSHOTS, CUSTOMERS)))
    store = feature_store(settings)
    with pytest.raises(FeatureDefinitionError, match=column):
        apply_definitions(store, gold_source(settings))
    assert store.list_feature_views() == []


def test_training_set_is_point_in_time_and_keeps_entity_order(store, gold):
    from lakehouse_ml.features.store import FEATURE_NAMES
    from lakehouse_ml.features.training_set import build_training_set

    entity_df = pd.DataFrame(
        {
            "customer_id": ["c3", "c1", "c5", "c1", "nobody", "c0", "c3"],
            "event_timestamp": pd.to_datetime(
                [
                    "2024-01-21",
                    "2024-01-10",
                    "2024-01-15",
                    "2024-01-06",
                    "2024-01-21",
                    "2024-03-30",
                    "2024-01-14",
                ]
            ),
            "churned": [1, 0, 1, 0, 1, 0, 1],
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    result = build_training_set(store, entity_df)

    assert list(result.columns) == ["customer_id", "event_timestamp", "churned", *FEATURE_NAMES]
    pd.testing.assert_frame_equal(result[entity_df.columns], entity_df.reset_index(drop=True))
    ttl = store.get_feature_view("customer_features").ttl
    for _, row in result.iterrows():
        expected = expected_as_of(gold, row["customer_id"], row["event_timestamp"], ttl)
        if expected is None:  # unknown customer, before the first snapshot, or older than the ttl
            assert row[FEATURE_NAMES].isna().all(), row.to_dict()
        else:
            assert row[FEATURE_NAMES].tolist() == pytest.approx([expected[f] for f in FEATURE_NAMES])
    assert result.loc[0, "tenure_days"] == 100 + 7 * 2 + 3  # c3 on the third snapshot
    assert result[FEATURE_NAMES].isna().all(axis=1).tolist() == [False, False, True, True, True, True, False]


def test_training_set_fails_when_feast_loses_or_duplicates_rows(store, monkeypatch):
    from lakehouse_ml.features.training_set import TrainingSetError, build_training_set

    real = store.get_historical_features

    class Lossy:
        def __init__(self, job, mangle):
            self.job, self.mangle = job, mangle

        def to_df(self):
            return self.mangle(self.job.to_df())

    entity_df = pd.DataFrame(
        {"customer_id": ["c1", "c2", "c3"], "event_timestamp": pd.Timestamp("2024-01-21")}
    )
    for mangle, message in [
        (lambda df: df.iloc[1:], "1 dropped"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "1 duplicated"),
    ]:
        monkeypatch.setattr(store, "get_historical_features", lambda m=mangle, **kw: Lossy(real(**kw), m))
        with pytest.raises(TrainingSetError, match=message):
            build_training_set(store, entity_df)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"customer_id": ["c1"]}), "event_timestamp"),
        (pd.DataFrame({"customer_id": [None], "event_timestamp": [pd.Timestamp("2024-01-21")]}), "null"),
        (pd.DataFrame({"customer_id": ["c1"], "event_timestamp": ["2024-01-21"]}), "datetime"),
        (
            pd.DataFrame(
                {"customer_id": ["c1"], "event_timestamp": [pd.Timestamp("2024-01-21")], "tenure_days": [1]}
            ),
            "tenure_days",
        ),
    ],
    ids=["no-timestamp", "null-key", "string-timestamp", "feature-clash"],
)
def test_training_set_rejects_bad_entity_frames(frame, message):
    from lakehouse_ml.features.training_set import TrainingSetError, build_training_set

    with pytest.raises(TrainingSetError, match=message):
        build_training_set(object(), frame)


def test_materialize_then_online_reads_latest_values_in_request_order(store, gold, settings):
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features, unknown_customers
    from lakehouse_ml.features.store import FEATURE_NAMES

    result = materialize_online(store, gold_source(settings))
    assert result.end == SNAPSHOTS[-1].replace(tzinfo=UTC)
    assert result.start == result.end - store.get_feature_view("customer_features").ttl
    assert not result.incremental
    assert (result.rows, result.entities) == (len(gold), CUSTOMERS)

    frame = online_features(store, ["c3", "nobody", "c5", "c3"])
    assert frame["customer_id"].tolist() == ["c3", "nobody", "c5", "c3"]
    assert unknown_customers(frame) == ["nobody"]
    for position, customer in [(0, "c3"), (2, "c5"), (3, "c3")]:
        expected = latest_values(gold, customer, FEATURE_NAMES)
        assert frame.loc[position, FEATURE_NAMES].tolist() == pytest.approx(expected)
    assert online_features(store, []).empty


def test_materialize_is_incremental_once_the_clock_advances(store, gold, settings, lakehouse_home):
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features

    first = materialize_online(store, gold_source(settings))
    snapshots = weekly_snapshots(SNAPSHOTS[-1] + timedelta(days=7), 4)
    newer = gold_frame(snapshots, CUSTOMERS)
    write_gold(lakehouse_home, newer)
    second = materialize_online(store, gold_source(settings))
    assert second.incremental
    assert (second.start, second.end) == (first.end, first.end + timedelta(days=7))
    in_window = newer[newer["event_timestamp"] >= SNAPSHOTS[-1]]  # both ends of the window are inclusive
    assert (second.rows, second.entities) == (len(in_window), CUSTOMERS)
    assert online_features(store, ["c2"]).loc[0, "tenure_days"] == 100 + 7 * 3 + 2


def test_consistency_check_passes_then_names_skewed_entities_and_features(store, gold, settings):
    from lakehouse_ml.features.consistency import online_offline_mismatches, sample_customers
    from lakehouse_ml.features.gold import gold_source, pipeline_clock
    from lakehouse_ml.features.materialize import materialize_online

    source = gold_source(settings)
    materialize_online(store, source)
    as_of = pipeline_clock(source)
    ttl = store.get_feature_view("customer_features").ttl
    sample = sample_customers(source, as_of, ttl, size=4, seed=7)
    assert len(sample) == 4 and set(sample) <= set(gold["customer_id"])
    assert sample == sample_customers(source, as_of, ttl, size=4, seed=7)
    everyone = sample_customers(source, as_of, ttl, size=100, seed=7)
    assert everyone == [f"c{i}" for i in range(CUSTOMERS)]
    assert online_offline_mismatches(store, everyone, as_of) == []

    skewed = gold[
        (gold["customer_id"] == "c2") & (gold["event_timestamp"] == gold["event_timestamp"].max())
    ].copy()
    skewed["lifetime_value"] += 1.0
    skewed["customer_segment"] = "tampered"
    store.write_to_online_store("customer_features", skewed)
    mismatches = online_offline_mismatches(store, everyone, as_of)
    assert {(m.customer_id, m.feature) for m in mismatches} == {
        ("c2", "lifetime_value"),
        ("c2", "customer_segment"),
    }


def test_feast_cli_default_home_is_the_project_folder(monkeypatch):
    from lakehouse_ml.features.feast_plugins import default_feast_dir
    from lakehouse_ml.platform.settings import project_root

    monkeypatch.delenv("LAKEHOUSE_HOME", raising=False)
    assert default_feast_dir() == project_root() / ".lakehouse" / "feast"
    monkeypatch.setenv("LAKEHOUSE_HOME", "state/here")
    assert default_feast_dir() == project_root() / "state" / "here" / "feast"


def test_redis_url_becomes_feast_connection_string():
    from lakehouse_ml.features.store import FeatureStoreConfigError, redis_connection_string

    timeouts = "socket_timeout=2,socket_connect_timeout=2"
    assert redis_connection_string("redis://127.0.0.1:6379/15") == f"127.0.0.1:6379,db=15,{timeouts}"
    assert (
        redis_connection_string("rediss://u:p%40ss@cache:6380")
        == f"cache:6380,username=u,password=p@ss,ssl=true,{timeouts}"
    )
    with pytest.raises(FeatureStoreConfigError, match="redis://"):
        redis_connection_string("127.0.0.1:6379")


def test_prod_profile_names_missing_settings(monkeypatch):
    from lakehouse_ml.features.store import FeatureStoreConfigError, store_config

    monkeypatch.setenv("LAKEHOUSE_PROFILE", "prod")
    monkeypatch.delenv("LAKEHOUSE_FEAST_REGISTRY_URL", raising=False)
    with pytest.raises(FeatureStoreConfigError, match="LAKEHOUSE_FEAST_REGISTRY_URL"):
        store_config(Settings.from_env())
    monkeypatch.setenv("LAKEHOUSE_FEAST_REGISTRY_URL", "postgresql://u@db/feast")
    monkeypatch.delenv("LAKEHOUSE_REDIS_URL", raising=False)
    with pytest.raises(FeatureStoreConfigError, match="LAKEHOUSE_REDIS_URL"):
        store_config(Settings.from_env())
    monkeypatch.setenv("LAKEHOUSE_REDIS_URL", "redis://cache:6379/2")
    config = store_config(Settings.from_env())
    assert config["registry"] == {
        "registry_type": "sql",
        "path": "postgresql+psycopg2://u@db/feast",
        "cache_ttl_seconds": 60,
    }
    assert config["online_store"] == {
        "type": "redis",
        "connection_string": "cache:6379,db=2,socket_timeout=2,socket_connect_timeout=2",
    }
