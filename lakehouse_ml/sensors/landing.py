"""``raw_landing_sensor``: new files in the landing zone start ``daily_refresh``, each landing exactly
once.

A landing is the set of data files (``customers/``, ``orders/``) that are new or rewritten since the
last request, seen by key and fingerprint (S3 ETag, or local mtime and size: ``ingest.landing.
landed_files``). The cursor holds the fingerprints of every file already requested, and the run key is a
hash of the landing's files and fingerprints, so a landing is never requested twice even if the cursor
is lost. Until the instance has ever materialized ``model_version`` (no model yet), a landing starts
``whole_loop`` instead: gold, features, the first model, its deployment, the first predictions.

While a run that ingests (refresh, whole loop, retraining) is queued or in flight, new files wait for
the next tick: two ingestions of one DuckDB warehouse at once would collide.

Both jobs hold the monitoring assets, partitioned by data week (``assets.monitoring.common.WEEKS``): the
request names the week the landing brings the pipeline clock to and adds that partition, so the run
materializes the refresh's assets and that week's monitoring. The week follows gold's rule for the clock
(``LAKEHOUSE_AS_OF`` when set, else the day before the latest order day, dbt's ``snapshot_days``): the
latest ``order_ts`` of the new orders files (that column only) or of the orders already ingested.

A landing zone that cannot be listed or is incomplete (one dataset without files) is reported once: its
error is kept in the cursor and the same error is not logged again. A landing whose contents break the
ingestion contract fails its one run, which names the rule; the cursor has moved past it, so it is not
retried every tick.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from lakehouse_ml.assets.monitoring.common import WEEKS
from lakehouse_ml.assets.registry import model_version
from lakehouse_ml.ingest.landing import DATASETS, LandingZoneError, landed_files, latest_order_day
from lakehouse_ml.monitoring.weeks import clock_week, data_week
from lakehouse_ml.orchestration.jobs import (
    REFRESH_JOB_NAME,
    RETRAIN_JOB_NAME,
    WHOLE_LOOP_JOB_NAME,
    daily_refresh,
    whole_loop,
)
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.landing_zone import LandingZone
from lakehouse_ml.sensors.drift import IN_FLIGHT, landed_data

SENSOR_NAME = "raw_landing_sensor"
INGESTING_JOBS = (REFRESH_JOB_NAME, WHOLE_LOOP_JOB_NAME, RETRAIN_JOB_NAME)


def landing_run_key(files: dict[str, str]) -> str:
    """The same landing (files and fingerprints) always gets the same key."""
    text = "\n".join(f"{key}={fingerprint}" for key, fingerprint in sorted(files.items()))
    return "landing-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _ingesting_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    for job_name in INGESTING_JOBS:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT), limit=1)
        if runs:
            return runs[0]
    return None


def landing_week(
    context: dg.SensorEvaluationContext, uri: str, landing: dict[str, str], settings: Settings
) -> str | None:
    """The data week of the pipeline clock once ``landing`` is ingested; None if no order date is known
    (the run then fails at ingestion, which names the broken rule)."""
    if settings.as_of is not None:
        return data_week(settings.as_of)
    days = [landed_data(context.instance).day]
    try:
        days.append(latest_order_day(uri, landing))
    except (OSError, ValueError) as err:  # pyarrow's read errors are ValueErrors; ingestion reports them
        context.log.warning(f"cannot read order_ts of the new orders files: {type(err).__name__}: {err}")
    known = [day for day in days if day is not None]
    return clock_week(max(known)) if known else None


def _incomplete(files: dict[str, str]) -> str | None:
    present = {key.split("/", 1)[0] for key in files}
    missing = [dataset for dataset in DATASETS if dataset not in present]
    return f"landing zone has files but none in {missing}" if present and missing else None


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[daily_refresh, whole_loop],
    minimum_interval_seconds=Settings.from_env().landing_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or rewritten files in the raw landing zone start daily_refresh (whole_loop before "
    "the first model), once per landing.",
)
def raw_landing_sensor(context: dg.SensorEvaluationContext, landing_zone: LandingZone):
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen: dict[str, str] = cursor.get("files", {})
    files: dict[str, str] = {}
    try:
        files = landed_files(landing_zone.uri)
        error = _incomplete(files)
    except (OSError, LandingZoneError) as err:
        error = f"landing zone {landing_zone.uri} cannot be listed: {type(err).__name__}: {err}"
    if error:
        if cursor.get("reported") != error:
            context.log.error(error)
        return dg.SensorResult(
            skip_reason=dg.SkipReason(error), cursor=json.dumps({**cursor, "reported": error}, sort_keys=True)
        )
    landing = {key: fingerprint for key, fingerprint in files.items() if seen.get(key) != fingerprint}
    settled = json.dumps({"files": seen}, sort_keys=True)
    if not landing:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new files in the landing zone"), cursor=settled)
    busy = _ingesting_run(context.instance)
    if busy is not None:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{len(landing)} new file(s) wait for run {busy.run_id} ({busy.job_name}) to finish"
            ),
            cursor=settled,
        )
    bootstrap = context.instance.get_latest_materialization_event(model_version.key) is None
    job_name = WHOLE_LOOP_JOB_NAME if bootstrap else REFRESH_JOB_NAME
    week = landing_week(context, landing_zone.uri, landing, Settings.from_env())
    context.log.info(
        f"requesting {job_name} (data week {week}) for {len(landing)} new file(s): {sorted(landing)[:5]}"
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=landing_run_key(landing),
                job_name=job_name,
                partition_key=week,
                tags={"lakehouse/trigger": "landing", "lakehouse/landed_files": str(len(landing))},
            )
        ],
        dynamic_partitions_requests=[WEEKS.build_add_request([week])] if week else [],
        cursor=json.dumps({"files": {**seen, **landing}}, sort_keys=True),
    )
