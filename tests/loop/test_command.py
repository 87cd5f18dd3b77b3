"""`lakehouse-ml run` summarizes what the run materialized, from the instance's event log."""

from __future__ import annotations

from importlib import import_module

import dagster as dg
import pytest

from lakehouse_ml.cli.drill import LoopState, table
from lakehouse_ml.cli.main import build_parser
from lakehouse_ml.cli.run import summarize


@dg.asset(name="model_version")
def fake_model_version() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"git_tag": "churn-model@v7", "ignored": 1})


@dg.asset(name="churn_model")
def fake_churn_model() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"roc_auc": 0.81234, "dagster/row_count": 5})


def test_summary_lists_materialized_assets_with_their_key_figures():
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([fake_model_version, fake_churn_model], instance=instance).success
        lines = summarize(
            instance,
            {
                "churn_model": ("trained model", ["roc_auc", "dagster/row_count"]),
                "model_version": ("registry", ["git_tag", "missing"]),
                "never_built": ("absent", ["x"]),
            },
        )
    assert lines == [
        "  trained model      roc_auc=0.812, row_count=5",
        "  registry           git_tag=churn-model@v7",
    ]


def test_each_subcommand_dispatches_to_its_own_module():
    parser = build_parser()
    for argv, module_name in (
        (["run"], "lakehouse_ml.cli.run"),
        (["simulate", "--days", "3"], "lakehouse_ml.cli.simulate"),
        (["serve", "status"], "lakehouse_ml.cli.serve"),
        (["drill", "--scenario", "none"], "lakehouse_ml.cli.drill"),
    ):
        assert parser.parse_args(argv).handler is import_module(module_name).run
    assert parser.parse_args(["simulate", "--days", "3"]).days == 3


def test_drill_rejects_a_non_positive_number_of_days_and_unknown_scenarios(capsys):
    parser = build_parser()
    for bad in (["drill", "--scenario", "none", "--days", "0"], ["drill", "--scenario", "weather"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    assert "invalid choice: 'weather'" in capsys.readouterr().err


def test_drill_table_shows_the_traffic_split_before_and_after():
    before = LoopState("v1", "v2", 10, 0.8123, 0.52, ["data_drift"])
    after = LoopState("v2", None, None, 0.83, None, [])
    lines = table(before, after)
    assert lines[1].split() == ["production", "model", "v1", "v2"]
    assert lines[3].split()[2:] == ["v1", "90%", "/", "v2", "10%", "v2", "100%"]
    assert lines[5].split()[2:] == ["data_drift", "none"]
