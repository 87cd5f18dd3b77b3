"""Shared fixtures: an isolated LAKEHOUSE_HOME per test and the real services the tests talk to.

Service fixtures skip with a reason when the service is absent, except under CI=true, where a
missing service fails the test.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dvc  # noqa: F401  (before any test: see below)
import pytest

# Importing dvc binds its log handlers to the sys.stdout and sys.stderr of that moment. Imported first
# inside a test, they would write to that test's captured streams, which pytest closes after it, and every
# later DVC log line in the process would fail ("failed to log"); here they get the session's streams.

IN_CI = os.environ.get("CI", "").lower() == "true"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    message = f"{name} is not listening on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (required when CI=true)")
    pytest.skip(message)


@pytest.fixture
def lakehouse_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lakehouse"
    home.mkdir()
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("LAKEHOUSE_RAW_URI", raising=False)
    monkeypatch.delenv("LAKEHOUSE_AS_OF", raising=False)
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "local")
    (home / "dagster").mkdir()
    return home


def worker_index() -> int:
    """pytest-xdist's worker number (``gw3`` -> 3); 0 without xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    # Overridable so that two checkouts can run their suites at once without sharing a database.
    return worker_redis_url(os.environ.get("LAKEHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))


REDIS_DATABASES = 16  # Redis's default `databases`


def worker_redis_url(base_url: str, worker: int | None = None) -> str:
    """Each xdist worker counts down from the base database, wrapping round Redis's 16, so that one
    worker's FLUSHDB spares the others (a base of 1 with four workers: 1, 0, 15, 14)."""
    base, _, db = base_url.rpartition("/")
    if not db.isdigit():
        raise ValueError(f"LAKEHOUSE_TEST_REDIS_URL must end in a database number, not {base_url!r}")
    worker = worker_index() if worker is None else worker
    return f"{base}/{(int(db) - worker) % REDIS_DATABASES}"


@pytest.fixture(scope="session")
def _worker_postgres_url() -> str:
    url = os.environ.get("LAKEHOUSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    if not _port_open("127.0.0.1", 5432) or worker_index() == 0:
        return url
    import psycopg2

    base, _, database = url.rpartition("/")
    name = f"{database}_gw{worker_index()}"  # each xdist worker owns a database: tables never collide
    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{base}/{name}"


@pytest.fixture
def postgres_url(_worker_postgres_url: str) -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return _worker_postgres_url


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's server) on 127.0.0.1, with throwaway credentials."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:  # moto[server] is a dev dependency
        if IN_CI:
            pytest.fail(f"moto[server] is not installed: {err}")
        pytest.skip(f"moto[server] is not installed: {err}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    saved = {
        k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# The hang guard of a whole-loop test: pyproject's 1,200 s is for the others (the longest of them took
# 146 s). Inside the suite on a slow two-core machine the whole-loop tests took up to 1,039 s (the prod
# drill) and 962 s (`lakehouse-ml drill`), 3-4 times as long as alone (docs/benchmarks.md, "Sixth pass").
WHOLE_LOOP_TIMEOUT_SECONDS = 2400


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Whole-loop tests (``longest(minutes=...)``) first, one per worker, the others around them
    (tests/support/scheduling.py); a module's tests keep their order. They get their own hang guard."""
    from tests.support.scheduling import module_order

    minutes: dict[str, float] = {}
    for item in items:
        marker = item.get_closest_marker("longest")
        if marker is None:
            continue
        item.add_marker(pytest.mark.timeout(WHOLE_LOOP_TIMEOUT_SECONDS))
        if not _skipped(item):
            minutes[item.module.__name__] = marker.kwargs["minutes"]
    modules = list(dict.fromkeys(item.module.__name__ for item in items))
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    rank = {module: index for index, module in enumerate(module_order(minutes, modules, workers))}
    items.sort(key=lambda item: rank[item.module.__name__])


def _skipped(item: pytest.Item) -> bool:
    """Whether a ``skipif`` with a plain boolean condition skips ``item`` (an opt-in test not asked for)."""
    return any(
        marker.args and isinstance(marker.args[0], bool) and marker.args[0]
        for marker in item.iter_markers("skipif")
    )
