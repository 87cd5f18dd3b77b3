"""``lakehouse-ml drill``: the closed loop in one command, on the local profile.

Advance the simulated landing zone with a drift scenario, rebuild gold and features and run
monitoring, evaluate ``drift_retrain_sensor`` as the daemon would (same code, and the daemon's
cursor in the instance: lakehouse_ml/sensors/manual_tick.py), run the retraining it requests, show
gate and canary and, with ``--promote``, promote. Prints a before/after table; exit 1 when the loop
did not close.
``--scenario none`` is the control: no drift, so no retraining. docs/trigger-policy.md explains the
signals.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from lakehouse_ml.platform.settings import Settings

HELP = "Run the closed loop once: simulate drift, monitor, let the drift sensor decide, retrain, canary."
NO_DRIFT = "none"
DEFAULT_DAYS = 30
GATE_CHECK = "model_beats_champion"


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of days, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lakehouse_ml.simulator.scenarios import DRIFT_SCENARIOS

    parser.add_argument(
        "--scenario",
        required=True,
        choices=[NO_DRIFT, *sorted(DRIFT_SCENARIOS)],
        help=f"drift scenario to simulate; '{NO_DRIFT}' is the no-drift control",
    )
    parser.add_argument("--days", type=_positive, default=DEFAULT_DAYS, help="days to advance (default 30)")
    parser.add_argument("--promote", action="store_true", help="promote the canary if the gate passed")


@dataclass
class LoopState:
    """What the before/after table shows."""

    stable: str | None
    canary: str | None
    canary_percent: int | None
    roc_auc: float | None
    data_drift_score: float | None
    breached: list[str]

    def rows(self) -> dict[str, str]:
        split = f"{self.stable or '-'} 100%"
        if self.canary:
            percent = self.canary_percent or 0
            split = f"{self.stable} {100 - percent}% / {self.canary} {percent}%"
        return {
            "production model": self.stable or "-",
            "production ROC AUC": f"{self.roc_auc:.3f}" if self.roc_auc is not None else "-",
            "traffic split": split,
            "data drift score": f"{self.data_drift_score:.3f}" if self.data_drift_score is not None else "-",
            "signals breached": ", ".join(self.breached) or "none",
        }


def loop_state(resources, instance) -> LoopState:
    from lakehouse_ml.sensors.drift import stored_verdicts

    registry = resources["model_registry"].open()
    stable = registry.production_version()
    deployment = resources["model_server"].current()
    results = stored_verdicts(instance)
    comparisons = results.get("data_drift", {}).get("summary", {}).get("comparisons", {})
    scores = [c["max_signal_score"] for c in comparisons.values() if c.get("triggers")]
    return LoopState(
        stable=stable,
        canary=deployment.get("canary"),
        canary_percent=deployment.get("canary_traffic_percent"),
        roc_auc=registry.metrics(stable).get("roc_auc") if stable else None,
        data_drift_score=max(scores) if scores else None,
        breached=sorted(signal for signal, result in results.items() if result.get("breach")),
    )


def table(before: LoopState, after: LoopState) -> list[str]:
    lines = [f"  {'':<20} {'before':<24} after"]
    for (name, old), new in zip(before.rows().items(), after.rows().values(), strict=True):
        lines.append(f"  {name:<20} {old:<24} {new}")
    return lines


class Drill:
    """One drill against the instance in DAGSTER_HOME: every run it launches shows in the UI."""

    def __init__(self, instance, settings: Settings):
        from lakehouse_ml.definitions import defs

        self.instance, self.settings, self.defs = instance, settings, defs
        self.everything = defs.resolve_implicit_global_asset_job_def()

    def execute(self, title: str, job, selection=None, **kwargs):
        """Run ``job`` in process; given its ``selection``, in data-week parts (``execute_by_week``)."""
        from lakehouse_ml.cli.run import execute_by_week, execute_with_progress, print_failures

        print(f"lakehouse-ml drill: {title}")
        if selection is None:
            result, progress, log_path = execute_with_progress(
                job, self.instance, self.settings, "drill", **kwargs
            )
        else:
            result, progress, log_path = execute_by_week(
                self.defs, job, selection, self.instance, self.settings, "drill", **kwargs
            )
        if progress.failures:
            print_failures(progress, log_path)
        return result

    def state(self) -> LoopState:
        return loop_state(self.defs.resources, self.instance)

    def ensure_baseline(self) -> bool:
        import dagster as dg

        if self.state().stable is not None:
            return True
        title = "no production model yet: baseline run of every asset"
        return self.execute(title, self.everything, dg.AssetSelection.all()).success

    def monitor(self, scenario: str, days: int):
        """Advance the landing zone, run ``daily_refresh`` (the job a landing starts), tick the sensor."""
        from lakehouse_ml.orchestration.jobs import REFRESH_JOB_NAME, REFRESH_SELECTION
        from lakehouse_ml.sensors import drift_retrain_sensor
        from lakehouse_ml.sensors.manual_tick import evaluate_tick
        from lakehouse_ml.simulator import simulate

        drift = None if scenario == NO_DRIFT else scenario
        try:
            summary = simulate(self.settings.raw_uri, days=days, drift=drift)
        except ValueError as err:
            print(f"lakehouse-ml drill: cannot advance the landing zone: {err}")
            return None
        print(f"lakehouse-ml drill: landing zone advanced {days} days, scenario {scenario}")
        print(f"  {summary.describe()}")
        refresh = self.defs.resolve_job_def(REFRESH_JOB_NAME)
        title = f"{REFRESH_JOB_NAME}: gold, features, scores, monitoring"
        if not self.execute(title, refresh, REFRESH_SELECTION).success:
            return None
        requests = evaluate_tick(self.instance, self.defs, drift_retrain_sensor)
        print(f"lakehouse-ml drill: drift_retrain_sensor requested {len(requests)} run(s)")
        return requests

    def retrain(self, request, promote: bool) -> bool:
        """Run the requested retraining; report gate and canary; promote if asked and allowed."""
        from lakehouse_ml.orchestration.jobs import RETRAIN_JOB_NAME

        signals = request.tags.get("lakehouse/signals", "")
        job = self.defs.resolve_job_def(RETRAIN_JOB_NAME)
        result = self.execute(f"{RETRAIN_JOB_NAME} for {signals}", job, tags=request.tags)
        registered = result.asset_materializations_for_node("model_version")
        gate = [e for e in result.get_asset_check_evaluations() if e.check_name == GATE_CHECK]
        if not registered or not gate:
            print("  retraining registered no model version: the loop did not close")
            return False
        version = str(registered[0].metadata["version"].value)
        print(f"  registered {version}; gate {GATE_CHECK}: {'passed' if gate[0].passed else 'FAILED'}")
        if gate[0].description:
            print(f"  {gate[0].description}")
        deployed = result.asset_materializations_for_node("churn_predictor_deployment")
        if not gate[0].passed:
            print("  the champion keeps serving")
            return True
        if not deployed:
            print("  the gate passed but nothing was deployed: the loop did not close")
            return False
        print(f"  canary {version} deployed")
        if promote:
            from lakehouse_ml.assets.serving import promote_canary

            return self.execute("promote the canary", self.defs.resolve_job_def(promote_canary.name)).success
        return True


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    settings = Settings.from_env()
    if settings.profile != "local" or not settings.raw_is_local:
        print("lakehouse-ml drill: needs the local profile and a local landing zone (the simulator's)")
        return 2
    with dg.DagsterInstance.get() as instance:
        drill = Drill(instance, settings)
        if not drill.ensure_baseline():
            return 1
        before = drill.state()
        requests = drill.monitor(args.scenario, args.days)
        if requests is None:
            return 1
        if args.scenario == NO_DRIFT:
            closed = not requests
            verdict = "no retraining, as expected" if closed else "the control requested a retraining"
        elif not requests:
            closed, verdict = False, "no retraining requested: the drift went unnoticed"
        else:
            closed = drill.retrain(requests[0], args.promote)
            verdict = "loop closed" if closed else "the loop did not close"
        print()
        print(f"lakehouse-ml drill --scenario {args.scenario}: {verdict}")
        for line in table(before, drill.state()):
            print(line)
    return 0 if closed else 1
