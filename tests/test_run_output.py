"""`lakehouse-ml run` as a person sees it: one line per asset, the full log in a file, failures in brief."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster._utils.error import SerializableErrorInfo

from lakehouse_ml.instance import ensure_instance_config
from lakehouse_ml.run_progress import RunProgress, error_paragraph, headline
from tests.ingest_fixtures import write_landing_zone

RUN_ID = "0b6f7c1e-5d1a-4c54-9a57-2f4f7a0d9c11"
LAKEHOUSE_ML = Path(sys.executable).parent / "lakehouse-ml"


def cli(home: Path, *args: str, port: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, LAKEHOUSE_HOME=str(home), LAKEHOUSE_PROFILE="local")
    env.pop("DAGSTER_HOME", None)
    env.pop("LAKEHOUSE_RAW_URI", None)
    if port:
        env["LAKEHOUSE_SERVING_PORT"] = str(port)
    return subprocess.run([str(LAKEHOUSE_ML), *args], env=env, capture_output=True, text=True, timeout=1800)


def test_contract_violation_names_asset_rule_and_log(tmp_path):
    home = tmp_path / "lakehouse"
    raw = write_landing_zone(home / "raw")
    (raw / "customers" / "part-3.csv").write_text("customer_id,signup_ts\nA,2024-03-01T00:00:00Z\n")

    done = cli(home, "run")

    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "FAILED" in out
    assert "failed asset" in out and "raw_customers" in out
    assert "customers.customer_id" in out and "rule 'unique'" in out
    log_line = next(line for line in out.splitlines() if "full log" in line)
    log = Path(log_line.split()[-1])
    assert log.parent == home / "logs" and "STEP_FAILURE" in log.read_text()
    assert "DEBUG" not in out and "No dagster instance configuration" not in done.stderr
    assert len(out.splitlines()) <= 12
    assert not (home / "warehouse.duckdb").exists(), "a failed ingestion must not build the warehouse"


def test_instance_file_is_created_and_a_users_choice_is_kept(tmp_path):
    path = ensure_instance_config(tmp_path / "dagster")
    assert yaml.safe_load(path.read_text())["telemetry"] == {"enabled": False}
    path.write_text("telemetry:\n  enabled: true\n")
    assert yaml.safe_load(ensure_instance_config(tmp_path / "dagster").read_text())["telemetry"] == {
        "enabled": True
    }
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.is_persistent


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 42})


@dg.asset(deps=[counted])
def broken() -> None:
    raise ValueError("orders.amount: rule 'not null'\n  broken by 3 row(s)")


def test_progress_prints_one_line_per_asset_and_the_error_in_one_paragraph(tmp_path):
    out = tmp_path / "terminal.txt"
    with dg.DagsterInstance.ephemeral() as instance, out.open("w") as terminal:
        progress = RunProgress({"counted": ["counted"], "broken": ["broken"]}, terminal, tty=False)
        job = dg.Definitions(assets=[counted, broken]).resolve_implicit_global_asset_job_def()
        instance.add_event_listener(RUN_ID, progress)
        with progress:
            job.execute_in_process(instance=instance, run_id=RUN_ID, raise_on_error=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["ok", "counted"] and lines[0].endswith("row_count=42")
    assert lines[1].split()[:2] == ["FAIL", "broken"]
    assert progress.failures[0].assets == ["broken"]
    assert progress.failures[0].error == "ValueError: orders.amount: rule 'not null' broken by 3 row(s)"


def test_headline_skips_empty_figures():
    assert headline("churn_predictor_deployment", {"canary_version": "", "stable_version": "v2"}) == (
        "stable_version=v2"
    )
    assert headline("unknown_asset", {"other": 1}) == ""


def test_error_paragraph_uses_the_innermost_cause():
    inner = SerializableErrorInfo("KeyError: 'x'\n", [], "KeyError")
    outer = SerializableErrorInfo("Error in op\n", [], "DagsterExecutionStepExecutionError", inner)
    assert error_paragraph(outer) == "KeyError: 'x'"
