"""`lakehouse-ml run` as a person sees it: one line per asset, the full log in a file, failures in brief."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._utils.error import SerializableErrorInfo

from lakehouse_ml.cli.run_progress import RunProgress, error_paragraph, headline
from lakehouse_ml.orchestration.instance import ensure_instance_config
from tests.support.cli import cli
from tests.support.ingest_fixtures import write_landing_zone

RUN_ID = "0b6f7c1e-5d1a-4c54-9a57-2f4f7a0d9c11"


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


def _watch(progress: RunProgress, *assets) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        job = dg.Definitions(assets=list(assets)).resolve_implicit_global_asset_job_def()
        instance.add_event_listener(RUN_ID, progress)
        with progress:
            job.execute_in_process(instance=instance, run_id=RUN_ID, raise_on_error=False)


def test_progress_prints_one_line_per_asset_and_the_error_in_one_paragraph(tmp_path):
    out = tmp_path / "terminal.txt"
    with out.open("w") as terminal:
        progress = RunProgress({"counted": ["counted"], "broken": ["broken"]}, terminal, tty=False)
        _watch(progress, counted, broken)
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["counted", "ok"] and lines[0].endswith("row_count=42")
    assert lines[1].split()[:2] == ["broken", "FAIL"]
    assert progress.failures[0].assets == ["broken"]
    assert progress.failures[0].error == "ValueError: orders.amount: rule 'not null' broken by 3 row(s)"


# What the terminal showed while the asset below was running.
SEEN_WHILE_RUNNING: list[str] = []


@dg.asset
def watched() -> dg.MaterializeResult:
    SEEN_WHILE_RUNNING.append(TERMINAL.read_text())
    return dg.MaterializeResult(metadata={"dagster/row_count": 7})


TERMINAL = Path()


@pytest.mark.parametrize("tty", [False, True])
def test_an_assets_line_begins_when_it_starts_and_ends_when_it_ends(tmp_path, monkeypatch, tty):
    out = tmp_path / "terminal.txt"
    monkeypatch.setattr(sys.modules[__name__], "TERMINAL", out)
    SEEN_WHILE_RUNNING.clear()
    with out.open("w") as terminal:
        _watch(
            RunProgress({"counted": ["counted"], "watched": ["watched"]}, terminal, tty=tty), counted, watched
        )
    assert "watched" in SEEN_WHILE_RUNNING[0], "nothing on the terminal while the asset ran"
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.read_text())
    final = [line for line in shown.splitlines() if "watched" in line and "row_count=7" in line]
    assert len(final) == 1 and final[0].split()[:2] == ["watched", "ok"]
    if not tty:
        assert SEEN_WHILE_RUNNING[0].splitlines()[-1].split() == ["watched"]
        assert len(out.read_text().splitlines()) == 2


@dg.multi_asset(specs=[dg.AssetSpec("model_a"), dg.AssetSpec("model_b", deps=["model_a"])])
def two_models():
    yield dg.MaterializeResult(asset_key="model_a")
    yield dg.MaterializeResult(asset_key="model_b", metadata={"dagster/row_count": 3})


@dg.asset_check(asset=counted)
def counted_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_a_step_of_checks_only_prints_nothing(tmp_path):
    out = tmp_path / "terminal.txt"
    with dg.DagsterInstance.ephemeral() as instance, out.open("w") as terminal:
        defs = dg.Definitions(assets=[counted], asset_checks=[counted_is_positive])
        job = defs.resolve_implicit_global_asset_job_def()
        progress = RunProgress({"counted": ["counted"]}, terminal, tty=False)
        instance.add_event_listener(RUN_ID, progress)
        with progress:
            assert job.execute_in_process(instance=instance, run_id=RUN_ID).success
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and lines[0].split()[:2] == ["counted", "ok"]


def test_a_step_of_several_assets_names_them_when_it_starts(tmp_path):
    out = tmp_path / "terminal.txt"
    with out.open("w") as terminal:
        _watch(RunProgress({"two_models": ["model_a", "model_b"]}, terminal, tty=False), two_models)
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].split()[0] == "two_models" and lines[0].endswith("2 assets: model_a, model_b")
    assert [line.split()[:2] for line in lines[1:]] == [["model_a", "ok"], ["model_b", "ok"]]
    assert lines[2].endswith("row_count=3")


def test_headline_skips_empty_figures():
    assert headline("churn_predictor_deployment", {"canary_version": "", "stable_version": "v2"}) == (
        "stable_version=v2"
    )
    assert headline("unknown_asset", {"other": 1}) == ""


def test_error_paragraph_uses_the_innermost_cause():
    inner = SerializableErrorInfo("KeyError: 'x'\n", [], "KeyError")
    outer = SerializableErrorInfo("Error in op\n", [], "DagsterExecutionStepExecutionError", inner)
    assert error_paragraph(outer) == "KeyError: 'x'"
