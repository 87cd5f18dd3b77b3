"""Training logic on plain DataFrames: time split, validation, search, evaluation, reproducibility."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import joblib
import pandas as pd
import pytest

from lakehouse_ml.training.dataset import SplitConfig, build_training_data, preflight, validate
from lakehouse_ml.training.models import FAMILIES, choose, train_and_evaluate, tune
from lakehouse_ml.training.split import TrainingDataError, time_split
from tests.support.synthetic_gold import synthetic_gold, write_synthetic_gold

SMALL = SplitConfig(train_snapshots=3, eval_snapshots=2)


def weekly(n: int) -> list[date]:
    return [date(2020, 1, 5) + timedelta(days=7 * i) for i in range(n)]


def test_split_keeps_a_label_horizon_between_training_and_evaluation():
    split = time_split(weekly(30), horizon_days=90, train_snapshots=4, eval_snapshots=2)
    assert split.eval_days == tuple(weekly(30)[-2:])
    assert len(split.train_days) == 4
    assert max(split.train_days) + timedelta(days=90) <= min(split.eval_days)
    # the latest day that still respects the gap is used
    assert (min(split.eval_days) - max(split.train_days)).days < 90 + 7
    assert set(split.train_days).isdisjoint(split.eval_days)


def test_split_refuses_too_little_history():
    with pytest.raises(TrainingDataError, match="too little labelled history"):
        time_split(weekly(12), horizon_days=90, train_snapshots=4, eval_snapshots=2)
    with pytest.raises(TrainingDataError, match="needs at least"):
        time_split(weekly(2), horizon_days=90, train_snapshots=4, eval_snapshots=2)


def test_training_labels_never_reach_into_the_evaluation_period(tmp_path: Path):
    write_synthetic_gold(tmp_path / "gold", customers=200, snapshots=30)
    data = build_training_data(tmp_path, str(tmp_path / "gold"), "gold", SMALL)
    label_end = data.train["event_timestamp"].max() + pd.Timedelta(days=1 + 90)
    assert label_end <= data.evaluation["event_timestamp"].min() + pd.Timedelta(days=1)
    assert list(data.train.columns[2:-1]) == data.feature_names
    assert data.categorical_features == ["customer_segment"]


@pytest.fixture
def frame() -> pd.DataFrame:
    features, labels = synthetic_gold(customers=150, snapshots=20)
    return features.merge(labels, on=["customer_id", "event_timestamp"], how="inner").head(150)


def test_validation_rejects_one_class(frame: pd.DataFrame):
    frame["churned"] = 1
    with pytest.raises(TrainingDataError, match="only one class"):
        validate(frame, ["tenure_days"], "training set", 10)


def test_validation_rejects_too_few_rows(frame: pd.DataFrame):
    with pytest.raises(TrainingDataError, match="has 5 rows; at least 100"):
        validate(frame.head(5), ["tenure_days"], "training set", 100)


def test_validation_rejects_an_all_missing_feature(frame: pd.DataFrame):
    frame["avg_order_value"] = None
    with pytest.raises(TrainingDataError, match=r"\['avg_order_value'\] are missing in every row"):
        validate(frame, ["tenure_days", "avg_order_value"], "training set", 10)


def test_preflight_reports_bad_gold_before_any_pipeline(tmp_path: Path):
    gold = write_synthetic_gold(tmp_path / "gold", customers=150, snapshots=30)
    plan = preflight(gold, SMALL)
    assert plan["gap_days"] >= 90 and plan["training_rows"] == 450
    features = pd.read_parquet(gold / "fct_customer_features.parquet")
    first_eval_day = pd.Timestamp(plan["eval_window"][0], tz="UTC")
    features[features["event_timestamp"] != first_eval_day].to_parquet(gold / "fct_customer_features.parquet")
    with pytest.raises(
        TrainingDataError, match=f"no rows for the evaluation set's snapshot day.s. {plan['eval_window'][0]}"
    ):
        preflight(gold, SMALL)
    features["days_since_last_order"] = None
    features.to_parquet(gold / "fct_customer_features.parquet")
    with pytest.raises(TrainingDataError, match="days_since_last_order"):
        preflight(gold, SMALL)
    with pytest.raises(TrainingDataError, match="gold table fct_churn_labels not found"):
        preflight(tmp_path / "nowhere", SMALL)


def _train(home: Path, out: Path, seed: int = 0) -> dict:
    data = build_training_data(home, str(home / "gold"), "gold", SMALL)
    candidates = [tune(f, data.train, data.feature_names, data.categorical_features, seed) for f in FAMILIES]
    return train_and_evaluate(
        data.train, data.evaluation, candidates, data.categorical_features, None, 0.5, seed, out
    )


def test_model_folder_follows_the_artifact_contract(tmp_path: Path):
    write_synthetic_gold(tmp_path / "gold", customers=400, snapshots=30)
    metadata = _train(tmp_path, tmp_path / "model")
    folder = tmp_path / "model"
    assert {"model.joblib", "metadata.json", "training_set.parquet"} <= {p.name for p in folder.iterdir()}
    saved = json.loads((folder / "metadata.json").read_text())
    assert saved == json.loads(json.dumps(metadata))
    for key in (
        "feature_names",
        "categorical_features",
        "threshold",
        "model_family",
        "params",
        "train_window",
        "eval_window",
        "training_rows",
        "class_balance",
    ):
        assert key in saved
    assert set(saved["metrics"]) >= {"roc_auc", "pr_auc", "f1", "accuracy", "brier", "confusion_matrix"}
    assert saved["model_family"] in FAMILIES and saved["train_window"][1] < saved["eval_window"][0]
    model = joblib.load(folder / "model.joblib")
    training_set = pd.read_parquet(folder / "training_set.parquet")
    assert len(training_set) == saved["training_rows"]
    proba = model.predict_proba(training_set[saved["feature_names"]])[:, 1]
    assert ((proba >= 0) & (proba <= 1)).all()
    # the synthetic data carries signal: a trained model beats chance on the later window
    assert saved["metrics"]["roc_auc"] > 0.65
    assert sum(map(sum, saved["metrics"]["confusion_matrix"])) == saved["metrics"]["eval_rows"]


def test_same_data_and_params_give_identical_model_bytes_and_metrics(tmp_path: Path):
    write_synthetic_gold(tmp_path / "gold", customers=300, snapshots=30)
    first = _train(tmp_path, tmp_path / "a")
    second = _train(tmp_path, tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    for name in ("model.joblib", "metadata.json", "training_set.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_sampling_is_keyed_on_the_data_not_on_row_order(tmp_path: Path):
    """Gold read back in another row order (as a parallel build wrote it) samples the same rows."""
    from lakehouse_ml.training.dataset import entity_frames

    _, labels = synthetic_gold(customers=300, snapshots=30)
    config = SplitConfig(train_snapshots=3, eval_snapshots=2, max_training_rows=500, seed=3)
    _, train, evaluation = entity_frames(labels, config)
    shuffled = labels.sample(frac=1.0, random_state=11).reset_index(drop=True)
    _, train_again, evaluation_again = entity_frames(shuffled, config)
    assert len(train) == 500 and train.equals(train_again) and evaluation.equals(evaluation_again)
    # a row is drawn for its own key: a smaller sample is part of a larger one
    _, smaller, _ = entity_frames(
        labels, SplitConfig(train_snapshots=3, eval_snapshots=2, max_training_rows=250, seed=3)
    )
    assert set(map(tuple, smaller[["customer_id", "event_timestamp"]].values)) <= set(
        map(tuple, train[["customer_id", "event_timestamp"]].values)
    )
    _, reseeded, _ = entity_frames(
        labels, SplitConfig(train_snapshots=3, eval_snapshots=2, max_training_rows=500)
    )
    assert not reseeded.equals(train)


def test_training_reads_only_the_label_rows_of_its_split(tmp_path: Path, monkeypatch):
    """The split comes from the day column; only its days' label rows are read, and the entity frames are
    those of the whole table."""
    from lakehouse_ml.training import dataset

    write_synthetic_gold(tmp_path / "gold", customers=300, snapshots=30)
    config = SplitConfig(train_snapshots=3, eval_snapshots=2, max_training_rows=500, seed=3)
    whole = dataset.entity_frames(dataset.read_gold(tmp_path / "gold", "fct_churn_labels"), config)
    asked: list[tuple[str, object]] = []
    read_gold = dataset.read_gold
    monkeypatch.setattr(
        dataset,
        "read_gold",
        lambda uri, model, options=None, days=None: (
            asked.append((model, days)) or read_gold(uri, model, options, days)
        ),
    )
    split, train, evaluation = dataset.read_entity_frames(tmp_path / "gold", config)
    assert asked == [("fct_churn_labels", split.train_days + split.eval_days)]
    assert split == whole[0] and train.equals(whole[1]) and evaluation.equals(whole[2])


def test_sampling_does_not_depend_on_the_process_hash_seed(tmp_path: Path):
    import subprocess
    import sys

    write_synthetic_gold(tmp_path / "gold", customers=300, snapshots=30)
    script = (
        "import sys; from lakehouse_ml.training.dataset import SplitConfig, read_entity_frames; "
        "_, train, _ = read_entity_frames(sys.argv[1], SplitConfig(train_snapshots=3, eval_snapshots=2, "
        "max_training_rows=500)); print(train.to_json())"
    )
    drawn = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "gold")],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "4")
    }
    assert len(drawn) == 1


def test_choose_prefers_the_best_score_and_the_simpler_family_on_ties():
    from lakehouse_ml.training.models import Candidate

    lr = Candidate("logistic_regression", {"C": 1.0}, 0.7, 3)
    hgb = Candidate("hist_gradient_boosting", {}, 0.75, 2)
    assert choose([lr, hgb]) is hgb
    assert choose([Candidate("logistic_regression", {}, 0.75, 3), hgb]).family == "logistic_regression"
