"""``lakehouse-ml reproduce vN``: rebuild a registered version from the registry alone, compare bytes, name
what is missing, and catch an artifact that its lineage does not produce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from lakehouse_ml.cli.main import main
from lakehouse_ml.platform.settings import Settings, project_root
from lakehouse_ml.registry.gitcmd import revision
from lakehouse_ml.registry.reproduce import export_revision
from lakehouse_ml.resources.registry import local_model_registry

ARGS = {"feature_source": "gold", "train_snapshots": 3, "eval_snapshots": 2, "seed": 0}
TRAIN = """
import sys
from pathlib import Path
from lakehouse_ml.training.pipeline import PipelineArguments
from lakehouse_ml.training.runner import train_in_process
from tests.support.synthetic_gold import write_synthetic_gold
home, out = Path(sys.argv[1]), Path(sys.argv[2])
write_synthetic_gold(home / "gold", customers=300, snapshots=30)
train_in_process(home, str(home / "gold"), PipelineArguments(**{args!r}), out)
"""


def _trained_folder(home: Path) -> Path:
    """A model folder trained in a fresh process, as a pipeline component trains it."""
    out = home / "trained"
    script = TRAIN.format(args=ARGS)
    subprocess.run([sys.executable, "-c", script, str(home / "train"), str(out)], check=True)
    return out


def _lineage(commit: str | None, dirty: bool = False) -> dict:
    return {
        "project_revision": {"commit": commit, "dirty": dirty},
        "kfp_run_id": "test",
        "feature_service": None,
        "gold_tables": {},
    }


@pytest.mark.slow
def test_reproduce_rebuilds_a_version_and_catches_tampered_artifacts(lakehouse_home, capsys):
    registry = local_model_registry(Settings.from_env()).open()
    trained = _trained_folder(lakehouse_home)
    head = revision(project_root())["commit"]
    assert registry.register(trained, _lineage(head)) == "v1"

    # v1 from the code revision it names (git archive of that commit), in its own scratch folder
    assert main(["reproduce", "v1"]) == 0
    out = capsys.readouterr().out
    assert f"churn-model v1: reproduced byte for byte (code: revision {head})" in out
    for name in ("model.joblib", "metadata.json", "training_set.parquet", "evaluation_set.parquet"):
        assert any(line.split()[0] == name and line.endswith("match") for line in out.splitlines()[1:])
    assert (
        lakehouse_home / "reproduce" / "v1" / "code" / "lakehouse_ml" / "registry" / "rebuild.py"
    ).is_file()

    # v2: its model.joblib is not what its lineage trains (refitted on a tenth of the labels flipped)
    tampered = lakehouse_home / "tampered"
    tampered.mkdir()
    for path in trained.iterdir():
        tampered.joinpath(path.name).write_bytes(path.read_bytes())
    model = joblib.load(trained / "model.joblib")
    train = pd.read_parquet(trained / "training_set.parquet")
    labels = train["churned"].where(train.index % 10 != 0, 1 - train["churned"])
    model.fit(train.drop(columns=["customer_id", "event_timestamp", "churned"]), labels)
    joblib.dump(model, tampered / "model.joblib")
    assert registry.register(tampered, _lineage(head)) == "v2"
    assert main(["reproduce", "v2", "--code", "installed"]) == 1
    out = capsys.readouterr().out
    assert "churn-model v2: NOT reproduced (code: installed)" in out
    assert [line.split()[-1] for line in out.splitlines() if line.split()[0] == "model.joblib"] == ["DIFFERS"]

    # v1's registered bytes altered behind the registry's back: DVC's hash check names the file
    cached = next(
        path
        for path in (registry.root / ".dvc" / "cache").rglob("*")
        if path.is_file() and path.read_bytes() == (trained / "model.joblib").read_bytes()
    )
    cached.chmod(0o644)
    cached.write_bytes(b"not a model")
    for checkout in (lakehouse_home / "models").iterdir():
        subprocess.run(["rm", "-rf", str(checkout)], check=True)
    assert main(["reproduce", "v1", "--code", "installed"]) == 2
    out = capsys.readouterr().out
    assert "cannot be rebuilt" in out and "model.joblib of v1 does not match its DVC hash" in out


def test_a_version_whose_code_cannot_be_restored_says_what_is_missing(tmp_path):
    head = revision(project_root())["commit"]
    assert "uncommitted changes" in export_revision(project_root(), {"commit": head, "dirty": True}, tmp_path)
    unknown = {"commit": "0" * 40, "dirty": False}
    assert "not in the git history" in export_revision(project_root(), unknown, tmp_path)
    assert "names no code revision" in export_revision(project_root(), {"commit": None}, tmp_path)
    assert export_revision(project_root(), {"commit": head, "dirty": False}, tmp_path / "code") is None
    assert (tmp_path / "code" / "lakehouse_ml" / "training" / "models.py").is_file()


def test_unknown_version_is_an_error(lakehouse_home, capsys):
    assert main(["reproduce", "v7"]) == 2
    assert "unknown model version" in capsys.readouterr().out
