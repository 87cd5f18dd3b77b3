"""Run one job of the code location on the Dagster instance of ``DAGSTER_HOME``, for ``bench/bench_loop.py``.

``python -m bench.loop_job refresh``: the daily refresh, everything but training (the ``daily_refresh`` job
when the code location has it; else the same selection: every asset except training, registration and the
deployment that takes the registered version). ``python -m bench.loop_job retrain``: ``retrain_churn_model``.
"""

from __future__ import annotations

import sys

REFRESH_JOB = "daily_refresh"
RETRAIN_JOB = "retrain_churn_model"
NOT_IN_REFRESH = ("churn_predictor_deployment",)


def job(name: str):
    import dagster as dg

    from lakehouse_ml.definitions import defs

    if name == "retrain":
        return defs.get_job_def(RETRAIN_JOB)
    if name != "refresh":
        raise SystemExit(f"usage: python -m bench.loop_job refresh|retrain (got {name!r})")
    if any(defined.name == REFRESH_JOB for defined in defs.jobs or ()):
        return defs.get_job_def(REFRESH_JOB)
    selection = (
        dg.AssetSelection.all()
        - dg.AssetSelection.groups("training", "registry")
        - dg.AssetSelection.assets(*NOT_IN_REFRESH)
    )
    refresh = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        resources=defs.resources,
        executor=defs.executor,
        jobs=[dg.define_asset_job(REFRESH_JOB, selection=selection)],
    )
    return refresh.get_job_def(REFRESH_JOB)


def main(argv: list[str]) -> int:
    import dagster as dg

    definition = job(argv[0] if argv else "")
    with dg.DagsterInstance.get() as instance:
        result = definition.execute_in_process(instance=instance, raise_on_error=False)
    print(f"{definition.name}: {'succeeded' if result.success else 'FAILED'} ({result.run_id})")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
