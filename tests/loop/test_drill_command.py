"""The newcomer's path end to end through the console script: `run`, then `drill` with and without drift.

One landing zone for the three commands, to keep it to one baseline training: `run` prints at most 40
lines, the no-drift control does not retrain, and `basket_shift` makes the sensor request a retraining
that registers, gates, deploys and promotes. 3,000 customers: the month's 250 newcomers used to make
the new-customer comparison noisy enough for the control to false-alarm; the drift scores' noise
floors (docs/trigger-policy.md) keep it quiet at this size.
"""

from __future__ import annotations

import pytest

from lakehouse_ml.registry.model_registry import version_number
from tests.support.cli import cli
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.longest(minutes=4)]
CUSTOMERS = 3_000


def _row(output: str, name: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.strip().startswith(name))
    return line.strip()[len(name) :].split()


def test_run_then_drill_without_and_with_drift(tmp_path):
    home, port = tmp_path / "lakehouse", free_port()
    assert cli(home, "simulate", "--customers", str(CUSTOMERS)).returncode == 0
    try:
        done = cli(home, "run", port=port)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        lines = done.stdout.splitlines()
        assert len(lines) <= 40, done.stdout
        assert any("succeeded" in line for line in lines)
        assert _row(done.stdout, "registry")[0] == "git_tag=churn-model@v1,"
        log = home / "logs"
        assert (
            len(list(log.glob("run-*.log"))) == 1 and "RUN_SUCCESS" in next(log.glob("run-*.log")).read_text()
        )
        assert "DEBUG" not in done.stdout and "Telemetry" not in done.stdout + done.stderr

        control = cli(home, "drill", "--scenario", "none", port=port)
        assert control.returncode == 0, control.stdout[-3000:]
        assert "requested 0 run(s)" in control.stdout and "no retraining, as expected" in control.stdout
        assert _row(control.stdout, "production model") == ["v1", "v1"]

        drift = cli(home, "drill", "--scenario", "basket_shift", "--promote", port=port)
        assert drift.returncode == 0, drift.stdout[-3000:]
        assert "requested 1 run(s)" in drift.stdout and "loop closed" in drift.stdout
        assert "data_drift" in _row(drift.stdout, "signals breached")[-1]
        registered = next(line for line in drift.stdout.splitlines() if "registered v" in line)
        new_version = registered.split()[1].rstrip(";")
        assert version_number(new_version) == 2
        before, after = _row(drift.stdout, "production model")
        if "gate model_beats_champion: passed" in registered:
            assert (before, after) == ("v1", new_version)
            assert _row(drift.stdout, "traffic split")[-2:] == [new_version, "100%"]
        else:
            assert (before, after) == ("v1", "v1")
    finally:
        cli(home, "serve", "stop", port=port)
