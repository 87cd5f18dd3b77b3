"""The online store goes away while the model server runs: answers are 503 naming the online store within
a bounded time, never a hang or a crash, and serving recovers by itself when the store returns.

Locally (sqlite) the store file is locked (and moved away: Feast's open connection keeps serving it);
with Redis, a private ``redis-server`` (never the
shared one) is stopped under load and started again on the same port.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lakehouse_ml.features.store import REDIS_TIMEOUT_SECONDS, redis_connection_string
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.process import LocalServer
from tests.support.model_builders import sample_features, write_feature_repo, write_model
from tests.support.ports import free_port
from tests.support.serving_paths import V1

pytestmark = pytest.mark.slow
BODY = {"instances": [{"customer_id": "c00001"}]}
SQLITE_LOCK_SECONDS = 5.0  # Python's sqlite3 default busy timeout, which Feast's connection keeps
ANSWER_BOUND_SECONDS = 15.0  # the slowest allowed answer while the store is away (loaded shared machine)
RECOVERY_SECONDS = 30.0
OUTAGE_SECONDS = 10.0  # longer than the Redis client's timeouts and retries


def _serve(root: Path, repo: Path) -> LocalServer:
    model_dir = write_model(root / "models" / "v1", seed=1)
    server = LocalServer(root / "serving", free_port(), str(repo))
    server.apply(Deployment().with_changes(stable="v1", models={"v1": str(model_dir)}))
    server.start()
    return server


def _ask(client: httpx.Client) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = client.post(V1, json=BODY)
    elapsed = time.monotonic() - started
    text = answer.json().get("error", "") if answer.status_code != 200 else ""
    return answer.status_code, text, elapsed


def _until_ok(client: httpx.Client) -> int:
    deadline = time.monotonic() + RECOVERY_SECONDS
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        if _ask(client)[0] == 200:
            return tries
        time.sleep(0.2)
    raise AssertionError("serving did not recover after the online store came back")


@pytest.fixture(scope="module")
def sqlite_served(tmp_path_factory):
    root = tmp_path_factory.mktemp("deps-sqlite")
    repo = write_feature_repo(root / "feast", customers=20)
    server = _serve(root, repo)
    with httpx.Client(base_url=server.endpoint, timeout=60) as client:
        yield server, client, repo / "online_store.db"
    server.stop()


def test_a_sqlite_store_moved_away_keeps_serving_from_the_open_file(sqlite_served):
    """Feast keeps its sqlite connection open: the file's rows stay readable while it is moved away,
    so the server keeps answering (nothing to recover from)."""
    server, client, store = sqlite_served
    assert _ask(client)[0] == 200
    aside = store.with_suffix(".aside")
    store.rename(aside)
    try:
        assert _ask(client)[0] == 200
    finally:
        aside.rename(store)
    assert _ask(client)[0] == 200 and server.pid() is not None


def test_a_locked_sqlite_store_gives_503_within_the_busy_timeout_then_recovers(sqlite_served):
    server, client, store = sqlite_served
    assert _ask(client)[0] == 200
    locker = sqlite3.connect(store, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        status, message, elapsed = _ask(client)
        assert status == 503 and "locked" in message
        assert SQLITE_LOCK_SECONDS * 0.5 < elapsed < SQLITE_LOCK_SECONDS + ANSWER_BOUND_SECONDS
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    _until_ok(client)


class PrivateRedis:
    """A throwaway ``redis-server`` on its own port and folder, stopped and started by the test."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _write_rows_to_redis(repo: Path) -> None:
    from datetime import UTC, datetime

    from feast import FeatureStore

    frame = sample_features(20).assign(event_timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    FeatureStore(repo_path=str(repo)).write_to_online_store("customer_features", frame)


@pytest.fixture
def redis_served(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(tmp_path)
    redis.start()
    repo = write_feature_repo(tmp_path / "feast", customers=20)
    config = (repo / "feature_store.yaml").read_text()
    sqlite_store = f"  type: sqlite\n  path: {repo / 'online_store.db'}\n"
    url = f"redis://127.0.0.1:{redis.port}/0"
    redis_store = f"  type: redis\n  connection_string: {redis_connection_string(url)}\n"
    assert sqlite_store in config
    (repo / "feature_store.yaml").write_text(config.replace(sqlite_store, redis_store))
    _write_rows_to_redis(repo)
    server = _serve(tmp_path, repo)
    try:
        with httpx.Client(base_url=server.endpoint, timeout=60) as client:
            yield redis, client, server
    finally:
        server.stop()
        redis.stop()


def test_redis_stopped_under_load_gives_503s_then_recovers(redis_served):
    redis, client, server = redis_served
    assert _ask(client)[0] == 200
    outcomes: Counter = Counter()
    slowest = [0.0]
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=server.endpoint, timeout=60) as own:
            while not stop.is_set():
                status, message, elapsed = _ask(own)
                outcomes[(status, "online store unavailable" in message)] += 1
                slowest[0] = max(slowest[0], elapsed)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        redis.stop()
        time.sleep(OUTAGE_SECONDS)
        redis.start()  # same port, same append-only file: the rows come back
        _until_ok(client)
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    print(f"outcomes {dict(outcomes)}, slowest answer {slowest[0]:.2f}s")
    assert set(outcomes) <= {(200, False), (503, True)}, outcomes
    assert outcomes[(200, False)] > 0 and outcomes[(503, True)] > 0
    assert slowest[0] < REDIS_TIMEOUT_SECONDS * 2 + ANSWER_BOUND_SECONDS
    assert server.pid() is not None
