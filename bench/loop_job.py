"""Run one job of the code location on the Dagster instance of ``DAGSTER_HOME``, for ``bench/bench_loop.py``.

``python -m bench.loop_job refresh``: ``daily_refresh``, everything but training, as a landing starts it.
``python -m bench.loop_job retrain``: ``retrain_churn_model``. Each runs as ``lakehouse-ml run`` and
``lakehouse-ml drill`` run their jobs (``cli/run.py`` ``execute_by_week``): the assets without partitions,
then the monitoring assets for the data week of the pipeline clock they left.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import dagster as dg

    from lakehouse_ml.cli.run import execute_by_week
    from lakehouse_ml.definitions import defs
    from lakehouse_ml.orchestration.jobs import (
        REFRESH_JOB_NAME,
        REFRESH_SELECTION,
        RETRAIN_JOB_NAME,
        RETRAIN_SELECTION,
    )
    from lakehouse_ml.platform.settings import Settings

    jobs = {
        "refresh": (REFRESH_JOB_NAME, REFRESH_SELECTION),
        "retrain": (RETRAIN_JOB_NAME, RETRAIN_SELECTION),
    }
    name = argv[0] if argv else ""
    if name not in jobs:
        raise SystemExit(f"usage: python -m bench.loop_job {'|'.join(jobs)} (got {name!r})")
    job_name, selection = jobs[name]
    job = defs.resolve_job_def(job_name)
    with dg.DagsterInstance.get() as instance:
        result, _, log_path = execute_by_week(defs, job, selection, instance, Settings.from_env(), "bench")
    print(f"{job_name}: {'succeeded' if result.success else 'FAILED'} ({result.run_id}; log {log_path})")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
