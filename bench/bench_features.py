"""Feature store benchmarks (issue 3), each against a baseline measured in the same run.

- materialization rows/s into sqlite and Redis for 100k and 1M customers (two weekly snapshots each,
  both inside the materialization window); baseline: a plain bulk write of the same latest values
  (one transaction of inserts / one Redis pipeline of HSETs). For sqlite up to 100k customers, also
  Feast's own local engine on the same gold (``batch_engine: local``), which the project's engine
  replaces (``lakehouse_ml.features.sqlite_online_write``).
- online lookup latency p50/p99 for 1 and 100 entities through the SDK (``get_online_features``) and
  through ``lakehouse_ml.features.online_sdk.online_features`` (DataFrame); baseline: a direct read of the
  same online store (the SQL query Feast runs / one pipelined HMGET, plus protobuf decoding).
- historical retrieval (``build_training_set``) for 100k entity rows; baseline: one DuckDB ASOF JOIN of
  the entity frame against the gold Parquet.

Sizes: BENCH_FEATURES_CUSTOMERS (default "100000,1000000"), BENCH_FEATURES_ENTITY_ROWS (default 100000),
BENCH_FEATURES_LOOKUPS (default 2000). Redis parts run when Redis listens on 127.0.0.1:6379 (db 15).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import percentile, report, timed
from lakehouse_ml.platform.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/15"
LAST_SNAPSHOT = datetime(2024, 6, 2)
FEAST_ENGINE_MAX_CUSTOMERS = 100_000  # Feast's own engine takes minutes beyond
SEGMENTS = np.array(["new", "active", "loyal", "at_risk", "dormant"])


def _sizes(name: str, default: str) -> list[int]:
    return [int(v) for v in os.environ.get(name, default).split(",") if v]


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


def write_gold(home: Path, customers: int, snapshots: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:07d}" for i in range(customers)])
    frames = []
    for k in range(snapshots):
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "event_timestamp": LAST_SNAPSHOT - timedelta(days=7 * (snapshots - 1 - k)),
                    "lifetime_value": rng.gamma(2.0, 50.0, customers),
                    "order_count_30d": rng.integers(0, 5, customers),
                    "order_count_90d": rng.integers(0, 12, customers),
                    "avg_order_value": rng.gamma(2.0, 20.0, customers),
                    "days_since_last_order": rng.integers(0, 200, customers),
                    "tenure_days": rng.integers(0, 900, customers),
                    "customer_segment": SEGMENTS[rng.integers(0, len(SEGMENTS), customers)],
                }
            )
        )
    gold = pd.concat(frames, ignore_index=True)
    gold["event_timestamp"] = gold["event_timestamp"].astype("datetime64[us]")
    path = home / "gold" / "fct_customer_features.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    gold.to_parquet(path, index=False)
    return gold


def open_store(settings: Settings, redis_project: str | None = None, engine: str | None = None):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import local_store_config, redis_connection_string, store_from_config

    config = local_store_config(settings.feast_dir / (engine or ""))
    if engine:
        config["batch_engine"] = engine
    if redis_project:
        config["project"] = redis_project
        config["online_store"] = {"type": "redis", "connection_string": redis_connection_string(REDIS_URL)}
    store = store_from_config(config)
    apply_definitions(store, gold_source(settings))
    return store


def baseline_sqlite_write(path: Path, latest: pd.DataFrame, features: list[str]) -> float:
    rows = [
        (customer, feature, str(value))
        for feature in features
        for customer, value in zip(latest["customer_id"], latest[feature], strict=True)
    ]
    conn = sqlite3.connect(path)
    conn.execute(
        "create table features (entity_key text, feature_name text, value text,"
        " primary key (entity_key, feature_name))"
    )
    began = time.perf_counter()
    with conn:
        conn.executemany("insert into features values (?, ?, ?)", rows)
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def baseline_redis_write(client, prefix: str, latest: pd.DataFrame, features: list[str]) -> float:
    records = latest[["customer_id", *features]].astype(str).to_dict("records")
    began = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, record in enumerate(records):
        pipe.hset(f"{prefix}:{record.pop('customer_id')}", mapping=record)
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - began


def bench_materialize(customers: int, online: str) -> dict[str, object]:
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.store import FEATURE_NAMES

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        settings = Settings.from_env({"LAKEHOUSE_HOME": tmp})
        gold = write_gold(settings.home, customers)
        latest = gold[gold["event_timestamp"] == gold["event_timestamp"].max()]
        project = f"bench_{uuid.uuid4().hex[:10]}" if online == "redis" else None
        store = open_store(settings, project)
        feasts_engine = None
        try:
            result = materialize_online(store, gold_source(settings))
            if online == "sqlite":
                assert _online_rows(store) == customers * len(FEATURE_NAMES)
                if customers <= FEAST_ENGINE_MAX_CUSTOMERS:
                    feasts_engine = materialize_online(
                        open_store(settings, engine="local"), gold_source(settings)
                    )
            if online == "redis":
                import redis

                client = redis.Redis.from_url(REDIS_URL)
                baseline = baseline_redis_write(client, f"bench_baseline_{project}", latest, FEATURE_NAMES)
            else:
                baseline = baseline_sqlite_write(settings.home / "baseline.db", latest, FEATURE_NAMES)
        finally:
            if online == "redis":
                _clean_redis(project)
    comparison = {}
    if feasts_engine:
        comparison = {
            "feasts_local_engine_seconds": round(feasts_engine.seconds, 2),
            "feasts_local_engine_rows_per_second": round(feasts_engine.rows_per_second),
            "speedup_vs_feasts_local_engine": round(feasts_engine.seconds / result.seconds, 1),
        }
    return {
        "customers": customers,
        "rows_read": result.rows,
        "entities_written": result.entities,
        "seconds": round(result.seconds, 2),
        "rows_per_second": round(result.rows_per_second),
        "entities_per_second": round(result.entities_per_second),
        "baseline_bulk_write_seconds": round(baseline, 2),
        "ratio_vs_baseline": round(result.seconds / baseline, 1),
        **comparison,
    }


def _online_rows(store) -> int:
    with sqlite3.connect(store.config.online_store.path) as conn:
        return conn.execute(f"select count(*) from {store.project}_customer_features").fetchall()[0][0]


def _clean_redis(project: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for pattern in (b"*" + project.encode(), f"bench_baseline_{project}:*".encode()):
        batch = []
        for key in client.scan_iter(match=pattern, count=10_000):
            batch.append(key)
            if len(batch) == 10_000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
    client.close()


def _latencies(fn, inputs: list) -> dict[str, float]:
    fn(inputs[0])  # warm caches (registry, connections)
    samples = []
    for value in inputs[1:]:
        began = time.perf_counter()
        fn(value)
        samples.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": round(percentile(samples, 50), 3), "p99_ms": round(percentile(samples, 99), 3)}


def direct_reader(store, online: str):
    """A read of the same online store without the SDK: Feast's own query / HMGET plus protobuf decoding."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _mmh3, _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from lakehouse_ml.features.store import FEATURE_NAMES, FEATURE_VIEW

    def entity_key(customer: str) -> EntityKey:
        return EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=customer)])

    if online == "sqlite":
        conn = sqlite3.connect(store.config.online_store.path, check_same_thread=False)
        table = f"{store.project}_{FEATURE_VIEW}"

        def read(customers: list[str]) -> list[dict]:
            keys = [serialize_entity_key(entity_key(c), 3) for c in customers]
            marks = ",".join("?" * len(keys))
            query = f'SELECT entity_key, feature_name, value FROM "{table}" WHERE entity_key IN ({marks})'
            rows = conn.execute(query, keys).fetchall()
            found: dict[bytes, dict] = {}
            for key, feature, blob in rows:
                value = Value()
                value.ParseFromString(blob)
                found.setdefault(key, {})[feature] = value
            return [found.get(k, {}) for k in keys]

        return read

    import redis

    client = redis.Redis.from_url(REDIS_URL)
    fields = [_mmh3(f"{FEATURE_VIEW}:{f}") for f in FEATURE_NAMES]

    def read(customers: list[str]) -> list[dict]:
        pipe = client.pipeline(transaction=False)
        for c in customers:
            pipe.hmget(_redis_key(store.project, entity_key(c), 3), fields)
        out = []
        for values in pipe.execute():
            decoded = {}
            for name, blob in zip(FEATURE_NAMES, values, strict=True):
                if blob is not None:
                    value = Value()
                    value.ParseFromString(blob)
                    decoded[name] = value
            out.append(decoded)
        return out

    return read


def bench_lookups(customers: int, online: str, repeats: int) -> dict[str, object]:
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features
    from lakehouse_ml.features.store import FEATURE_SERVICE

    rng = np.random.default_rng(1)
    results: dict[str, object] = {"customers": customers, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        settings = Settings.from_env({"LAKEHOUSE_HOME": tmp})
        write_gold(settings.home, customers)
        project = f"bench_{uuid.uuid4().hex[:10]}" if online == "redis" else None
        store = open_store(settings, project)
        try:
            materialize_online(store, gold_source(settings))
            service = store.get_feature_service(FEATURE_SERVICE)
            direct = direct_reader(store, online)
            for batch in (1, 100):
                picks = [[f"c{i:07d}" for i in rng.integers(0, customers, batch)] for _ in range(repeats + 1)]
                rows = [[{"customer_id": c} for c in pick] for pick in picks]
                sdk = _latencies(
                    lambda r: store.get_online_features(features=service, entity_rows=r).to_dict(), rows
                )
                frame = _latencies(lambda ids: online_features(store, ids), picks)
                base = _latencies(direct, picks)
                results[f"{batch}_entities"] = {
                    "sdk": sdk,
                    "online_features_dataframe": frame,
                    "baseline_direct_read": base,
                    "sdk_p50_ratio_vs_baseline": round(sdk["p50_ms"] / base["p50_ms"], 1),
                    "sdk_p99_ratio_vs_baseline": round(sdk["p99_ms"] / base["p99_ms"], 1),
                }
        finally:
            if online == "redis":
                _clean_redis(project)
    return results


def bench_historical(entity_rows: int, customers: int) -> dict[str, object]:
    import duckdb

    from lakehouse_ml.features.training_set import build_training_set

    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        settings = Settings.from_env({"LAKEHOUSE_HOME": tmp})
        write_gold(settings.home, customers, snapshots=8)
        store = open_store(settings)
        entity_df = pd.DataFrame(
            {
                "customer_id": [f"c{i:07d}" for i in rng.integers(0, customers, entity_rows)],
                "event_timestamp": pd.Timestamp(LAST_SNAPSHOT)
                - pd.to_timedelta(rng.integers(0, 49 * 24, entity_rows), unit="h"),
                "churned": rng.integers(0, 2, entity_rows),
            }
        )
        seconds, training = timed(lambda: build_training_set(store, entity_df))
        gold_path = str(settings.gold_dir / "fct_customer_features.parquet")

        def asof_join() -> pd.DataFrame:
            con = duckdb.connect()
            con.register("entity_df", entity_df)
            frame = con.execute(
                "select e.*, f.* exclude (customer_id, event_timestamp) from entity_df e "
                f"asof left join read_parquet('{gold_path}') f "
                "on e.customer_id = f.customer_id and e.event_timestamp >= f.event_timestamp"
            ).df()
            con.close()
            return frame

        baseline, joined = timed(asof_join)
    assert len(training) == len(joined) == entity_rows
    return {
        "entity_rows": entity_rows,
        "gold_rows": customers * 8,
        "seconds": round(seconds, 2),
        "baseline_duckdb_asof_join_seconds": round(baseline, 2),
        "ratio_vs_baseline": round(seconds / baseline, 1),
    }


def warm_up() -> None:
    """One small materialization and join so that timings exclude Feast's first-use imports (~5 s)."""
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.training_set import build_training_set

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        settings = Settings.from_env({"LAKEHOUSE_HOME": tmp})
        write_gold(settings.home, 100)
        store = open_store(settings)
        materialize_online(store, gold_source(settings))
        build_training_set(
            store, pd.DataFrame({"customer_id": ["c0000001"], "event_timestamp": [LAST_SNAPSHOT]})
        )


def main() -> None:
    warm_up()
    customers_sizes = _sizes("BENCH_FEATURES_CUSTOMERS", "100000,1000000")
    entity_rows = _sizes("BENCH_FEATURES_ENTITY_ROWS", "100000")[0]
    repeats = _sizes("BENCH_FEATURES_LOOKUPS", "2000")[0]
    stores = ["sqlite", "redis"] if _redis_up() else ["sqlite"]
    results: dict[str, object] = {"online_stores": stores, "started": datetime.now(UTC).isoformat()}
    for online in stores:
        results[f"materialize_{online}"] = [bench_materialize(n, online) for n in customers_sizes]
        print(results[f"materialize_{online}"], flush=True)
        results[f"lookup_{online}"] = bench_lookups(min(customers_sizes), online, repeats)
        print(results[f"lookup_{online}"], flush=True)
    results["historical"] = bench_historical(entity_rows, min(customers_sizes))
    if "redis" not in stores:
        results["note"] = "Redis was not listening on 127.0.0.1:6379: Redis parts skipped"
    report("features", results)
