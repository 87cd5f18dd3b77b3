"""The registry as a DVC project: ``dvc.yaml`` declares each version's metrics, params, evaluation plots
and the training stage, so DVC's own commands (``dvc metrics show -a``, ``dvc params diff``, ``dvc plots
diff``, ``dvc repro``, ``dvc status``) work in any clone.

The stage ``train`` runs ``python -m lakehouse_ml.registry.rebuild`` on the version's DVC-tracked
training and evaluation sets (``churn-model/``) into ``rebuilt/``. Registration records the training
pipeline's run as that stage's run (``dvc commit``): ``rebuilt/`` holds the registered files, which are
what the command produces (``lakehouse-ml reproduce`` checks it byte for byte). A clone then needs only
``dvc pull`` for ``dvc repro`` and ``dvc status`` to report it up to date; ``dvc repro -f`` retrains.
DVC stores the identical files once.

Plots are computed at registration from the evaluation set and committed to git as CSV (one file per
plot, DVC's own templates): ROC, precision-recall, calibration, and the confusion matrix (one row per
evaluation example, as DVC's ``confusion`` template expects).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lakehouse_ml.model_artifact import EVALUATION_SET_FILE, METADATA_FILE, TRAINING_SET_FILE

STAGE = "train"
REBUILT_DIR = "rebuilt"
PLOTS_DIR = "plots"
PLOTS = {
    "roc.csv": {"template": "simple", "x": "fpr", "y": "tpr", "title": "ROC curve (evaluation set)"},
    "precision_recall.csv": {
        "template": "simple",
        "x": "recall",
        "y": "precision",
        "title": "Precision-recall curve (evaluation set)",
    },
    "confusion.csv": {
        "template": "confusion",
        "x": "actual",
        "y": "predicted",
        "title": "Confusion matrix at the model's threshold (evaluation set)",
    },
    "calibration.csv": {
        "template": "simple",
        "x": "mean_predicted",
        "y": "fraction_positive",
        "title": "Calibration (evaluation set, quantile bins)",
    },
}


def evaluation_plots(model_dir: Path) -> dict:
    """Plot tables (pandas DataFrames by file name) from the model's scores on its evaluation set."""
    import pandas as pd

    from lakehouse_ml.training import curves

    actual, score, threshold = curves.evaluation_scores(model_dir)
    return {
        "roc.csv": curves.roc_table(actual, score),
        "precision_recall.csv": curves.precision_recall_table(actual, score),
        "confusion.csv": pd.DataFrame({"actual": actual, "predicted": (score >= threshold).astype(int)}),
        "calibration.csv": curves.calibration_table(actual, score),
    }


def _git_ignore(root: Path, entry: str) -> None:
    path = root / ".gitignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    if entry not in lines:
        path.write_text("\n".join([*lines, entry]) + "\n")


def dvc_yaml(model_dir_name: str, with_stage: bool) -> dict:
    """The registry's ``dvc.yaml``; without an evaluation set there is nothing to plot or rebuild."""
    document: dict = {"metrics": ["metrics.json"], "params": ["params.json"]}
    if with_stage:
        document["plots"] = [{f"{PLOTS_DIR}/{name}": spec} for name, spec in PLOTS.items()]
        document["stages"] = {
            STAGE: {
                "cmd": f"python -m lakehouse_ml.registry.rebuild {model_dir_name} {REBUILT_DIR}",
                "deps": [
                    f"{model_dir_name}/{name}"
                    for name in (METADATA_FILE, TRAINING_SET_FILE, EVALUATION_SET_FILE)
                ],
                "params": [{"params.json": ["model_family", "threshold"]}],
                "outs": [REBUILT_DIR],
            }
        }
    return document


def write_project(root: Path, tracked: Path) -> bool:
    """Write ``dvc.yaml``, the plots and ``rebuilt/`` for the model folder at ``tracked`` (inside
    ``root``); True when the version has a ``train`` stage to commit with :func:`commit_stage`."""
    import yaml

    with_stage = (tracked / EVALUATION_SET_FILE).is_file()
    shutil.rmtree(root / PLOTS_DIR, ignore_errors=True)
    shutil.rmtree(root / REBUILT_DIR, ignore_errors=True)
    (root / "dvc.lock").unlink(missing_ok=True)
    if with_stage:
        (root / PLOTS_DIR).mkdir()
        for name, table in evaluation_plots(tracked).items():
            table.to_csv(root / PLOTS_DIR / name, index=False, float_format="%.6g")
        shutil.copytree(tracked, root / REBUILT_DIR)
        _git_ignore(root, f"/{REBUILT_DIR}")
    text = yaml.safe_dump(dvc_yaml(tracked.name, with_stage), sort_keys=False)
    (root / "dvc.yaml").write_text(text)
    return with_stage


def commit_stage(repo, root: Path) -> None:
    """Record the ``train`` stage as run, as ``dvc commit -f train`` does: ``dvc.lock`` with the hashes of
    its deps, params and outs, and ``rebuilt/`` in the DVC cache, ready for ``dvc push``.
    DVC's run cache is skipped: it resolves paths against the process's working directory."""
    from dvc.repo import lock_repo

    with lock_repo(repo):
        stage = repo.stage.load_one(path=str(root / "dvc.yaml"), name=STAGE)
        stage.save(run_cache=False)
        stage.commit()
        stage.dump(update_pipeline=False)
