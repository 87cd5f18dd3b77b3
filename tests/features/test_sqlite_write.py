"""The column-wise sqlite write path of materialization (``LakehouseComputeEngine``) writes exactly the
rows Feast's own local engine writes, on the first materialization and on an incremental one."""

from __future__ import annotations

import math
import sqlite3
import struct
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse_ml.platform.settings import Settings
from tests.support.features_fixtures import gold_frame, weekly_snapshots, write_gold

SNAPSHOTS = weekly_snapshots(datetime(2024, 1, 21, tzinfo=UTC), 3)
CUSTOMERS = 40


def awkward_gold(snapshots: list[datetime]) -> pd.DataFrame:
    """Gold rows with what a column-wise encoder can get wrong: nulls, NaN, negatives, large and
    repeated values, unicode, keys of different lengths."""
    frame = gold_frame(snapshots, CUSTOMERS)
    frame["customer_id"] = frame["customer_id"].map(lambda c: c if int(c[1:]) % 3 else f"customer-é-{c}")
    frame["order_count_30d"] = frame["order_count_30d"].astype("Int64")
    frame.loc[frame.index % 7 == 0, "order_count_30d"] = pd.NA
    frame.loc[frame.index % 5 == 0, "avg_order_value"] = np.nan
    frame.loc[frame.index % 4 == 1, "lifetime_value"] = -0.0
    frame.loc[frame.index % 6 == 2, "lifetime_value"] = 1e300
    frame["tenure_days"] = frame["tenure_days"] * -(2**40)
    frame.loc[frame.index % 9 == 0, "customer_segment"] = "à risque 🙂"
    return frame


def open_store(home, engine: str | None):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import local_store_config, store_from_config

    settings = Settings.from_env()
    config = local_store_config(home / f"feast-{engine or 'lakehouse'}")
    if engine:
        config["batch_engine"] = engine
    store = store_from_config(config)
    apply_definitions(store, gold_source(settings))
    return store


def online_rows(store) -> list[tuple]:
    path = store.config.online_store.path
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "select entity_key, feature_name, value, value_text, event_ts, created_ts"
            " from lakehouse_ml_customer_features order by entity_key, feature_name"
        ).fetchall()


def test_materialization_writes_the_rows_feasts_own_engine_writes(lakehouse_home):
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features
    from lakehouse_ml.features.store import FEATURE_NAMES

    write_gold(lakehouse_home, awkward_gold(SNAPSHOTS))
    ours, feasts = open_store(lakehouse_home, None), open_store(lakehouse_home, "local")
    assert type(ours._provider.batch_engine).__name__ == "LakehouseComputeEngine"
    assert type(feasts._provider.batch_engine).__name__ == "LocalComputeEngine"

    gold = gold_source(Settings.from_env())
    for store in (ours, feasts):
        materialize_online(store, gold)
    first = online_rows(feasts)
    assert len(first) == CUSTOMERS * len(FEATURE_NAMES)
    assert online_rows(ours) == first

    newer = awkward_gold(weekly_snapshots(SNAPSHOTS[-1] + timedelta(days=7), 4))
    newer["lifetime_value"] += 1.5
    write_gold(lakehouse_home, newer)
    for store in (ours, feasts):
        assert materialize_online(store, gold).incremental
    second = online_rows(feasts)
    assert second != first
    assert online_rows(ours) == second

    customers = newer["customer_id"].iloc[-3:].tolist() + ["nobody"]
    pd.testing.assert_frame_equal(online_features(ours, customers), online_features(feasts, customers))
    assert online_features(ours, customers)[FEATURE_NAMES].iloc[:3].notna().any(axis=None)


def test_a_write_that_fails_midway_leaves_the_previous_values_and_the_window_open(
    lakehouse_home, monkeypatch
):
    from lakehouse_ml.features import sqlite_online_write
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online

    write_gold(lakehouse_home, awkward_gold(SNAPSHOTS))
    store = open_store(lakehouse_home, None)
    gold = gold_source(Settings.from_env())
    first = materialize_online(store, gold)
    before = online_rows(store)

    write_gold(lakehouse_home, awkward_gold(weekly_snapshots(SNAPSHOTS[-1] + timedelta(days=7), 4)))
    real_batches = sqlite_online_write.parameter_batches

    def first_batch_then_fail(*args):
        yield next(real_batches(*args))
        raise OSError("disk full")

    monkeypatch.setattr(sqlite_online_write, "ENTITIES_PER_BATCH", 8)
    monkeypatch.setattr(sqlite_online_write, "parameter_batches", first_batch_then_fail)
    with pytest.raises(OSError, match="disk full"):
        materialize_online(store, gold)
    assert online_rows(store) == before
    assert store.get_feature_view("customer_features").most_recent_end_time == first.end

    monkeypatch.undo()
    retried = materialize_online(store, gold)
    assert (retried.start, retried.incremental) == (first.end, True)
    assert online_rows(store) != before


def test_a_source_with_a_created_timestamp_column_is_written_as_feast_writes_it(tmp_path):
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    from lakehouse_ml.features.store import local_store_config, store_from_config

    day = datetime(2024, 3, 1)
    frame = pd.DataFrame(
        {
            "account": ["a1", "a1", "a2", "a3"],
            "event_timestamp": [day, day, day - timedelta(days=1), day],
            "created": [day + timedelta(hours=h) for h in (1, 2, 3, 4)],  # a1's second row was written later
            "visits": [1, 2, 3, 4],
            "spend": [1.5, 2.5, None, 4.5],
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us]")
    frame["created"] = frame["created"].astype("datetime64[us]")
    frame.to_parquet(tmp_path / "accounts.parquet", index=False)
    account = Entity(name="account", join_keys=["account"], value_type=ValueType.STRING)
    source = FileSource(
        path=str(tmp_path / "accounts.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    view = FeatureView(
        name="accounts",
        entities=[account],
        schema=[Field(name="visits", dtype=Int64), Field(name="spend", dtype=Float64)],
        source=source,
        ttl=timedelta(days=7),
    )
    tables = []
    for engine in (None, "local"):
        config = local_store_config(tmp_path / f"feast-{engine or 'lakehouse'}")
        if engine:
            config["batch_engine"] = engine
        store = store_from_config(config)
        store.apply([account, view])
        store.materialize(day - timedelta(days=2), day + timedelta(days=1), ["accounts"])
        with sqlite3.connect(store.config.online_store.path) as conn:
            tables.append(
                conn.execute(
                    "select * from lakehouse_ml_accounts order by entity_key, feature_name"
                ).fetchall()
            )
    ours, feasts = tables
    assert len(feasts) == 6 and all(row[-1] is not None for row in feasts)  # created_ts is written
    assert ours == feasts


@pytest.mark.parametrize(
    ("values", "value_type"),
    [(["c1", "é", ""], "STRING"), ([0, -1, 2**62], "INT64")],
)
def test_entity_keys_are_feasts_serialization(values, value_type):
    from feast import ValueType
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from lakehouse_ml.features.sqlite_online_write import entity_keys

    field = {"STRING": "string_val", "INT64": "int64_val"}[value_type]
    expected = [
        serialize_entity_key(EntityKey(join_keys=["customer_id"], entity_values=[Value(**{field: v})]), 3)
        for v in values
    ]
    assert entity_keys(pa.chunked_array([values]), "customer_id", ValueType[value_type], 3) == expected


def test_double_encoding_is_protobufs():
    from feast import ValueType
    from feast.protos.feast.types.Value_pb2 import Value

    from lakehouse_ml.features.sqlite_online_write import feature_values

    values = [0.0, -0.0, 1.5, -2.25e-308, 5e-324, 1e300, math.inf, -math.inf, 0.1 + 0.2]
    blobs, texts = feature_values(pa.chunked_array([values]), ValueType.DOUBLE)
    assert list(blobs) == [Value(double_val=v).SerializeToString() for v in values]
    assert list(texts) == [str(Value(double_val=v).double_val) for v in values]
    assert struct.unpack("<d", blobs[2][1:]) == (1.5,)


def test_views_the_column_path_cannot_take_fall_back_to_feast():
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Array, Float32, Int64

    from lakehouse_ml.features.sqlite_online_write import supports

    source = FileSource(path="unused.parquet", timestamp_field="ts")
    entity = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    scalar = FeatureView(name="s", entities=[entity], schema=[Field(name="x", dtype=Int64)], source=source)
    vector = FeatureView(
        name="v", entities=[entity], schema=[Field(name="x", dtype=Array(Float32))], source=source
    )
    assert supports(scalar, {"customer_id": ValueType.STRING})
    assert not supports(vector, {"customer_id": ValueType.STRING})
    assert not supports(scalar, {"customer_id": ValueType.STRING, "region": ValueType.STRING})
    assert not supports(scalar, {"customer_id": ValueType.FLOAT})
