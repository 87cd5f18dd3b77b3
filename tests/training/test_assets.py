"""Dagster wiring of training and registry: churn_model -> model_version -> blocking gate."""

from __future__ import annotations

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from lakehouse_ml.assets.registry import model_beats_champion, model_version
from lakehouse_ml.assets.training import churn_model
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.registry import local_model_registry
from lakehouse_ml.resources.training_pipeline import TrainingPipelineRunner, local_training_runner
from tests.support.synthetic_gold import write_synthetic_gold

SMALL = {"feature_source": "gold", "train_snapshots": 3, "eval_snapshots": 2}
LAUNCHES: list = []


class InProcessRunner(TrainingPipelineRunner):
    """The runner interface without KFP (the pipeline has its own tests); records launches."""

    def run(self, arguments):
        from lakehouse_ml.training.pipeline import TrainingRun
        from lakehouse_ml.training.runner import train_in_process

        LAUNCHES.append(arguments)
        out = Path(tempfile.mkdtemp(dir=self.lakehouse_home)) / "model"
        metadata = train_in_process(Path(self.lakehouse_home), self.gold_uri, arguments, out)
        return TrainingRun(
            f"in-process-{len(LAUNCHES)}", str(out.parent), out, metadata["metrics"], out / "none.yaml"
        )


@dg.asset(deps=[model_version])
def deployment_stand_in() -> None:
    """Stands in for the serving engineer's deployment asset, which depends on model_version."""


def materialize(settings: Settings, runner, gate: dict | None = None, raise_on_error: bool = True):
    return dg.materialize(
        [churn_model, model_version, model_beats_champion, deployment_stand_in],
        resources={"training_pipeline": runner, "model_registry": local_model_registry(settings)},
        run_config={
            "ops": {
                "churn_model": {"config": SMALL},
                **({model_beats_champion.op.name: {"config": gate}} if gate else {}),
            }
        },
        raise_on_error=raise_on_error,
    )


def in_process_runner(settings: Settings) -> InProcessRunner:
    LAUNCHES.clear()
    return InProcessRunner(lakehouse_home=str(settings.home), gold_uri=str(settings.gold_dir))


def test_training_registers_a_gated_version_and_feeds_deployment(lakehouse_home: Path):
    settings = Settings.from_env()
    write_synthetic_gold(settings.gold_dir, customers=300, snapshots=30)
    result = materialize(settings, in_process_runner(settings))
    assert result.success
    trained = result.asset_materializations_for_node("churn_model")[0].metadata
    assert trained["kfp_run_id"].value == "in-process-1"
    assert trained["roc_auc"].value > 0.65 and trained["training_rows"].value == 900
    assert 0 < trained["class_balance"].value < 1 and trained["hyperparameters"].value
    assert result.output_for_node("model_version") == "v1"
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]
    assert result.asset_materializations_for_node("deployment_stand_in")
    registry = local_model_registry(settings).open()
    lineage = registry.lineage("v1")
    assert lineage["gold_tables"]["fct_churn_labels"]["rows"] == len(
        pd.read_parquet(settings.gold_dir / "fct_churn_labels.parquet")
    )
    assert lineage["kfp_run_id"] == "in-process-1" and lineage["project_revision"]["commit"]


def test_failing_gate_blocks_deployment_and_says_by_how_much(lakehouse_home: Path):
    settings = Settings.from_env()
    write_synthetic_gold(settings.gold_dir, customers=300, snapshots=30)
    result = materialize(
        settings,
        in_process_runner(settings),
        gate={"min_roc_auc": 0.99, "tolerance": 0.02},
        raise_on_error=False,
    )
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "below the floor 0.99" in check.description
    assert check.metadata["candidate_roc_auc"].value < 0.99
    assert not result.asset_materializations_for_node("deployment_stand_in")


def test_gate_compares_with_the_production_champion(lakehouse_home: Path):
    settings = Settings.from_env()
    write_synthetic_gold(settings.gold_dir, customers=300, snapshots=30)
    assert materialize(settings, in_process_runner(settings)).success
    local_model_registry(settings).open().promote("v1", "production")
    second = materialize(settings, in_process_runner(settings))
    (check,) = second.get_asset_check_evaluations()
    assert check.passed and check.metadata["champion"].value == "v1"
    # same data and params: the champion scores exactly what the candidate scores on its window
    assert check.metadata["difference"].value == pytest.approx(0.0)


def test_bad_gold_fails_before_any_pipeline_is_launched(lakehouse_home: Path):
    settings = Settings.from_env()
    gold = write_synthetic_gold(settings.gold_dir, customers=300, snapshots=30)
    pd.read_parquet(gold / "fct_churn_labels.parquet").assign(churned=1).to_parquet(
        gold / "fct_churn_labels.parquet"
    )
    runner = in_process_runner(settings)
    with pytest.raises(dg.Failure, match="no pipeline launched: training set has only one class"):
        dg.materialize(
            [churn_model],
            resources={"training_pipeline": runner},
            run_config={"ops": {"churn_model": {"config": SMALL}}},
        )
    assert LAUNCHES == []


@pytest.mark.slow
def test_churn_model_runs_kfp_locally_on_feast_features(lakehouse_home: Path):
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import gold_source
    from lakehouse_ml.features.store import feature_store

    settings = Settings.from_env()
    write_synthetic_gold(settings.gold_dir, customers=300, snapshots=30)
    apply_definitions(feature_store(settings), gold_source(settings))
    result = dg.materialize(
        [churn_model, model_version, model_beats_champion],
        resources={
            "training_pipeline": local_training_runner(settings),
            "model_registry": local_model_registry(settings),
        },
        run_config={"ops": {"churn_model": {"config": {**SMALL, "feature_source": "feast"}}}},
    )
    trained = result.asset_materializations_for_node("churn_model")[0].metadata
    assert trained["kfp_run_id"].value.startswith("churn-training-")
    assert Path(trained["compiled_package"].value).exists()
    registry = local_model_registry(settings).open()
    assert registry.lineage("v1")["feature_service"] == "churn_v1"
    assert registry.checkout("v1").joinpath("metadata.json").exists()
