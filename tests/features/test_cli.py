"""``feast_repo/`` with the feast CLI alone: apply, materialize-incremental, and ``feast serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lakehouse_ml.platform.settings import Settings, project_root
from tests.support.features_fixtures import gold_frame, latest_values, weekly_snapshots, write_gold
from tests.support.ports import free_port

FEAST = str(Path(sys.executable).with_name("feast"))

pytestmark = pytest.mark.slow


def feast_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the feast CLI from the project root, as a user would (LAKEHOUSE_HOME from the environment)."""
    return subprocess.run(
        [FEAST, "-c", "feast_repo", *args], cwd=project_root(), capture_output=True, text=True, timeout=300
    )


def test_cli_apply_refuses_mismatch_then_applies_and_materializes(lakehouse_home):
    from lakehouse_ml.features.online_sdk import online_features
    from lakehouse_ml.features.store import FEATURE_NAMES, feature_store

    # Feast's first materialize-incremental starts at wall-clock now - ttl: use recent snapshots.
    snapshots = weekly_snapshots(datetime.now(UTC) - timedelta(days=1), 3)
    gold = gold_frame(snapshots, customers=4)

    write_gold(lakehouse_home, gold.drop(columns=["days_since_last_order"]))
    refused = feast_cli("apply")
    assert refused.returncode != 0
    assert "days_since_last_order" in refused.stdout + refused.stderr
    assert not (lakehouse_home / "feast" / "registry.db").exists()

    write_gold(lakehouse_home, gold)
    applied = feast_cli("apply")
    assert applied.returncode == 0, applied.stderr
    assert (lakehouse_home / "feast" / "registry.db").exists()
    end = snapshots[-1].strftime("%Y-%m-%dT%H:%M:%S")
    materialized = feast_cli("materialize-incremental", end)
    assert materialized.returncode == 0, materialized.stderr

    frame = online_features(feature_store(Settings.from_env()), ["c2", "c3"])
    for position, customer in enumerate(["c2", "c3"]):
        expected = latest_values(gold, customer, FEATURE_NAMES)
        assert frame.loc[position, FEATURE_NAMES].tolist() == pytest.approx(expected)


def test_feast_serve_answers_get_online_features_for_the_service(lakehouse_home):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.store import FEATURE_NAMES, feature_store

    settings = Settings.from_env()
    gold = gold_frame(weekly_snapshots(datetime(2024, 5, 5, tzinfo=UTC), 2), customers=3)
    write_gold(lakehouse_home, gold)
    store = feature_store(settings)
    apply_definitions(store, gold_source(settings))
    materialize_online(store, gold_source(settings))

    port = free_port()
    log = (lakehouse_home / "feast-serve.log").open("w")
    server = subprocess.Popen(
        [FEAST, "-c", "feast_repo", "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"],
        cwd=project_root(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(os.environ),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (lakehouse_home / "feast-serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "feast serve did not become healthy"
            time.sleep(0.5)
        response = httpx.post(
            f"{url}/get-online-features",
            json={"feature_service": "churn_v1", "entities": {"customer_id": ["c1", "nobody"]}},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        names = body["metadata"]["feature_names"]
        columns = {name: result for name, result in zip(names, body["results"], strict=True)}
        assert set(FEATURE_NAMES) <= set(columns)
        latest = gold[
            (gold["customer_id"] == "c1") & (gold["event_timestamp"] == gold["event_timestamp"].max())
        ]
        for feature in FEATURE_NAMES:
            assert columns[feature]["values"][0] == pytest.approx(latest[feature].iloc[0])
            assert columns[feature]["statuses"] == ["PRESENT", "NOT_FOUND"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
