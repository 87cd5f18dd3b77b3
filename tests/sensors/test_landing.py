"""raw_landing_sensor on a real (ephemeral) instance, over a local landing zone and one on S3 (moto): each
landing is requested once, the first one before any model starts the whole loop, rewritten files count as
a new landing, an incomplete landing zone is reported once, and nothing is requested while an ingesting run
is in flight. Each request names the data week of the clock its landing brings (the day before the latest
order day) and adds that monitoring partition."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest

from lakehouse_ml.assets.monitoring.common import WEEKS
from lakehouse_ml.assets.registry import model_version
from lakehouse_ml.definitions import defs
from lakehouse_ml.orchestration.jobs import REFRESH_JOB_NAME, WHOLE_LOOP_JOB_NAME
from lakehouse_ml.resources.landing_zone import LandingZone
from lakehouse_ml.sensors import raw_landing_sensor

CUSTOMERS = "customer_id,signup_ts\nc1,2024-01-01T00:00:00\n"


def _orders(n: int) -> str:
    return "order_id,customer_id,order_ts,amount\n" + "".join(
        f"o{i},c1,2024-02-{i + 1:02d}T10:00:00,{i}.5\n" for i in range(n)
    )


@pytest.fixture
def instance():
    """A persistent instance, as the daemon's: the request's new data-week partition is resolved on it."""
    with dg.instance_for_test() as instance:
        yield instance


class Ticker:
    def __init__(self, instance, uri: str):
        self.instance, self.uri, self.cursor = instance, uri, None
        self.added_weeks: list[str] = []

    def tick(self) -> tuple[list[dg.RunRequest], str | None]:
        context = dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),  # as the daemon: partitions are loaded through it
            cursor=self.cursor,
            resources={"landing_zone": LandingZone(uri=self.uri)},
            definitions=defs,  # a partitioned run request is resolved against its job
        )
        result = raw_landing_sensor.evaluate_tick(context)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            assert request.partitions_def_name == WEEKS.name
            self.added_weeks += request.partition_keys
        skip = result.skip_message
        return list(result.run_requests or []), skip


def _model_registered(instance) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(model_version.key))


def _landing_story(ticker: Ticker, write) -> None:
    """``write(relative path, text)`` puts a file into the landing zone under test."""
    requests, skip = ticker.tick()
    assert requests == [] and skip == "no new files in the landing zone"

    write("customers/part-0.csv", CUSTOMERS)
    write("orders/part-0.csv", _orders(3))
    requests, _ = ticker.tick()
    assert [r.job_name for r in requests] == [WHOLE_LOOP_JOB_NAME]  # no model yet: bootstrap
    # orders up to Saturday 2024-02-03: the clock is Friday 02-02, in the week from Sunday 01-28
    assert requests[0].partition_key == "2024-01-28" and ticker.added_weeks == ["2024-01-28"]
    first_key = requests[0].run_key
    assert ticker.tick() == ([], "no new files in the landing zone")  # the same landing: once only

    _model_registered(ticker.instance)
    write("orders/part-1.csv", _orders(4))
    requests, _ = ticker.tick()
    assert [r.job_name for r in requests] == [REFRESH_JOB_NAME]
    assert requests[0].run_key != first_key
    assert requests[0].tags["lakehouse/landed_files"] == "1"
    assert requests[0].partition_key == "2024-01-28"  # clock Saturday 02-03: the same week
    assert ticker.tick()[0] == []

    write("orders/part-1.csv", _orders(5))  # rewritten in place: a new landing
    requests, _ = ticker.tick()
    assert [r.job_name for r in requests] == [REFRESH_JOB_NAME]
    assert requests[0].partition_key == "2024-02-04"  # clock Sunday 02-04: a new week
    assert json.loads(ticker.cursor)["files"].keys() == {
        "customers/part-0.csv",
        "orders/part-0.csv",
        "orders/part-1.csv",
    }


def test_each_local_landing_is_requested_once(instance, tmp_path):
    raw = tmp_path / "raw"

    def write(relative: str, text: str) -> None:
        path = raw / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        before = path.stat().st_mtime_ns if path.exists() else None
        path.write_text(text)
        assert path.stat().st_mtime_ns != before

    (raw / "_simulator").mkdir(parents=True)
    (raw / "_simulator" / "state.json").write_text("{}")  # not data
    _landing_story(Ticker(instance, str(raw)), write)


@pytest.mark.s3
def test_each_s3_landing_is_requested_once(instance, s3_endpoint, monkeypatch):
    from lakehouse_ml.platform.storage import s3_filesystem

    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    fs = s3_filesystem(s3_endpoint)
    fs.mkdir(bucket)

    def write(relative: str, text: str) -> None:
        fs.pipe_file(f"{bucket}/raw/{relative}", text.encode())

    _landing_story(Ticker(instance, f"s3://{bucket}/raw"), write)


def test_an_incomplete_landing_zone_is_reported_once_then_requested_when_complete(instance, tmp_path, capfd):
    raw = tmp_path / "raw"
    (raw / "orders").mkdir(parents=True)
    (raw / "orders" / "part-0.csv").write_text(_orders(2))
    ticker = Ticker(instance, str(raw))
    for _ in range(3):
        requests, skip = ticker.tick()
        assert requests == [] and skip == "landing zone has files but none in ['customers']"
    logged = capfd.readouterr().err  # the sensor context's Dagster logger writes to stderr
    assert logged.count("ERROR - landing zone has files but none in ['customers']") == 1

    (raw / "customers").mkdir()
    (raw / "customers" / "part-0.csv").write_text(CUSTOMERS)
    requests, _ = ticker.tick()
    assert len(requests) == 1 and "reported" not in json.loads(ticker.cursor)


def test_new_files_wait_while_an_ingesting_run_is_in_flight(instance, tmp_path):
    raw = tmp_path / "raw"
    for relative, text in (("customers/a.csv", CUSTOMERS), ("orders/a.csv", _orders(2))):
        (raw / relative).parent.mkdir(parents=True, exist_ok=True)
        (raw / relative).write_text(text)
    _model_registered(instance)
    instance.add_run(
        dg.DagsterRun(job_name=REFRESH_JOB_NAME, run_id="r1", status=dg.DagsterRunStatus.STARTED)
    )
    ticker = Ticker(instance, str(raw))
    requests, skip = ticker.tick()
    assert requests == [] and "wait for run r1 (daily_refresh)" in skip
    instance.report_run_failed(instance.get_run_by_id("r1"))
    requests, _ = ticker.tick()
    assert [r.job_name for r in requests] == [REFRESH_JOB_NAME]
