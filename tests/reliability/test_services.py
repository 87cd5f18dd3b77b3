"""S3 or PostgreSQL going away during a run: the run fails with an error naming the service, nothing is
half-written, and the next run succeeds.

Real services behind a TCP proxy that the run's own event listener cuts when a step starts: moto's S3
server under the landing zone that ``raw_landing_zone`` reads, and PostgreSQL under the Feast SQL
registry that ``feast_definitions`` and ``online_features`` use (with the Redis online store). Feast's
materialization reads S3 through DuckDB's httpfs extension, which cannot be installed offline, so the
Feast run keeps its gold table on disk.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

import dagster as dg
import pytest

from lakehouse_ml.assets.features import feast_definitions, online_features
from lakehouse_ml.assets.raw import raw_landing_zone
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.feature_store import ProdFeatureStore
from lakehouse_ml.resources.landing_zone import LandingZone
from lakehouse_ml.resources.warehouse import local_warehouse
from tests.support.fault_proxy import FaultProxy
from tests.support.features_fixtures import gold_frame, latest_values, weekly_snapshots, write_gold
from tests.support.ingest_fixtures import ORDERS, write_landing_zone
from tests.support.redis_keys import delete_project_keys

CUSTOMERS = 20
LATE_FILE = "orders/2024-b.parquet"  # arrives after the first load


class IsolatedFeatureStore(ProdFeatureStore):
    """The prod feature store under a project of its own (Redis keys and registry rows carry it)."""

    project: str

    def store_config(self) -> dict:
        return {**super().store_config(), "project": self.project}


def _proxy(url: str, default_port: int) -> FaultProxy:
    parsed = urlparse(url)
    return FaultProxy(parsed.hostname, parsed.port or default_port)


def _run(assets: list, resources: dict, cut: FaultProxy | None = None, at_step: str = ""):
    """``assets`` in one run; ``cut`` is cut when step ``at_step`` starts."""
    job = dg.Definitions(assets=assets, resources=resources).resolve_implicit_global_asset_job_def()
    run_id = str(uuid.uuid4())

    def listener(entry) -> None:
        event = entry.dagster_event
        if cut and event and event.event_type == dg.DagsterEventType.STEP_START and entry.step_key == at_step:
            cut.cut()

    with dg.instance_for_test() as instance:
        instance.add_event_listener(run_id, listener)
        return job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)


def _failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """The failed step and its error as the UI shows it: the user code's error under Dagster's wrapper."""
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    return failure.step_key, (error.cause or error).message


def _raw_rows(settings: Settings) -> dict[str, int]:
    from lakehouse_ml.ingest.warehouse import duckdb_query

    sql = (
        "select (select count(*) from raw.customers) as customers,"
        " (select count(*) from raw.orders) as orders"
    )
    return {k: int(v) for k, v in duckdb_query(str(settings.warehouse_path), sql).iloc[0].items()}


@pytest.mark.slow
@pytest.mark.s3
def test_s3_lost_while_reading_the_landing_zone(s3_endpoint, lakehouse_home, tmp_path, monkeypatch):
    import boto3

    local = write_landing_zone(tmp_path / "raw")
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=bucket)
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    for name in files:
        if name != LATE_FILE:
            client.upload_file(str(local / name), bucket, f"zone/{name}")
    s3 = _proxy(s3_endpoint, 80)
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", f"http://{s3.address}")
    settings = Settings.from_env()
    resources = {
        "landing_zone": LandingZone(uri=f"s3://{bucket}/zone"),
        "warehouse": local_warehouse(settings),
    }
    try:
        assert _run([raw_landing_zone], resources).success
        first = _raw_rows(settings)
        assert first == {"customers": 6, "orders": 6}
        client.upload_file(str(local / LATE_FILE), bucket, f"zone/{LATE_FILE}")

        lost = _run([raw_landing_zone], resources, cut=s3, at_step="raw_landing_zone")
        assert not lost.success
        step, message = _failure(lost)
        assert step == "raw_landing_zone" and "ServiceUnavailableError: S3 is unavailable" in message
        assert "LAKEHOUSE_S3_ENDPOINT" in message
        assert _raw_rows(settings) == first  # the previous load, whole
        s3.restore()

        assert _run([raw_landing_zone], resources).success
        assert _raw_rows(settings) == {"customers": 6, "orders": len(ORDERS)}
    finally:
        s3.cut()


@pytest.fixture
def feature_store(postgres_url, redis_url, lakehouse_home):
    gold = gold_frame(weekly_snapshots(datetime(2024, 2, 4, tzinfo=UTC), 3), customers=CUSTOMERS)
    write_gold(lakehouse_home, gold)
    pg = _proxy(postgres_url, 5432)
    parsed = urlparse(postgres_url)
    user = parsed.netloc.rsplit("@", 1)[0] if "@" in parsed.netloc else "postgres"
    store = IsolatedFeatureStore(
        registry_url=parsed._replace(netloc=f"{user}@{pg.address}").geturl(),
        redis_url=redis_url,
        gold_uri=str(lakehouse_home / "gold"),
        project=f"lakehouse_ml_faults_{uuid.uuid4().hex[:10]}",
    )
    try:
        yield store, gold, pg
    finally:
        pg.cut()
        _drop_project(store, postgres_url, redis_url)


def _drop_project(store: IsolatedFeatureStore, postgres_url: str, redis_url: str) -> None:
    import sqlalchemy

    delete_project_keys(redis_url, store.project)
    engine = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as db:
        tables = sqlalchemy.inspect(db).get_table_names()
        for table in tables:
            columns = {c["name"] for c in sqlalchemy.inspect(db).get_columns(table)}
            if "project_id" in columns:
                delete = sqlalchemy.text(f'delete from "{table}" where project_id = :p')
                db.execute(delete, {"p": store.project})
    engine.dispose()


def _online_values(store: IsolatedFeatureStore) -> dict[str, list]:
    from lakehouse_ml.features.online_sdk import online_features as read_online
    from lakehouse_ml.features.store import FEATURE_NAMES

    frame = read_online(store.open(), [f"c{i}" for i in range(CUSTOMERS)])
    return {row["customer_id"]: [row[name] for name in FEATURE_NAMES] for _, row in frame.iterrows()}


def _redis_keys(store: IsolatedFeatureStore) -> int:
    import redis

    client = redis.Redis.from_url(store.redis_url)
    try:
        return len(list(client.scan_iter(match=b"*" + store.project.encode())))
    finally:
        client.close()


def _expected(gold) -> dict[str, list]:
    from lakehouse_ml.features.store import FEATURE_NAMES

    return {f"c{i}": latest_values(gold, f"c{i}", FEATURE_NAMES) for i in range(CUSTOMERS)}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_postgresql_lost_while_applying_and_materializing_features(feature_store):
    store, gold, pg = feature_store
    feast_assets, resources = [feast_definitions, online_features], {"feature_store": store}

    for step in ("feast_definitions", "online_features"):
        lost = _run(feast_assets, resources, cut=pg, at_step=step)
        assert not lost.success
        failed, message = _failure(lost)
        assert failed == step and "ServiceUnavailableError: PostgreSQL is unavailable" in message
        assert _redis_keys(store) == 0  # nothing reached the online store
        pg.restore()

    assert _run(feast_assets, resources).success
    values = _online_values(store)
    expected = _expected(gold)
    assert values.keys() == expected.keys()
    for customer, row in expected.items():
        assert values[customer] == pytest.approx(row), customer
    assert [view.name for view in store.open().list_feature_views()] == ["customer_features"]


def test_only_connection_failures_of_known_services_are_renamed():
    import psycopg2
    import redis
    from botocore.exceptions import EndpointConnectionError

    from lakehouse_ml.platform.service_errors import ServiceUnavailableError, naming_unavailable_services

    def raised(error: Exception) -> BaseException:
        with pytest.raises(Exception) as caught, naming_unavailable_services("testing"):
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as cause:
                raise error from cause
        return caught.value

    for error, service in [
        (psycopg2.OperationalError("connection to server failed"), "PostgreSQL"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "S3"),
        (redis.exceptions.ConnectionError("Error 111"), "Redis"),
    ]:
        renamed = raised(error)
        assert isinstance(renamed, ServiceUnavailableError) and renamed.__cause__ is error
        assert str(renamed).startswith(f"{service} is unavailable (")
        assert "while testing: ConnectionRefusedError: [Errno 111] Connection refused" in str(renamed)
    other = ValueError("orders.amount: rule 'not null'")
    assert raised(other) is other
