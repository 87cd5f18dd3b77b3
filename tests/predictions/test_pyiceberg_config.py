"""``.pyiceberg.yaml`` written at set-up (lakehouse_ml/predictions/pyiceberg_config.py): pyiceberg's own
configuration reader finds the local catalog in it, and a user's other settings survive."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.predictions.catalog import ensure_predictions_table, local_catalog
from lakehouse_ml.predictions.pyiceberg_config import write_pyiceberg_config
from lakehouse_ml.predictions.table import IDENTIFIER


def test_pyiceberg_reads_the_local_catalog_from_the_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pyiceberg.catalog import load_catalog
    from pyiceberg.utils.config import Config

    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "home")})
    ensure_predictions_table(local_catalog(settings.iceberg_dir))
    project = tmp_path / "project"
    project.mkdir()
    write_pyiceberg_config(settings, project)
    monkeypatch.delenv("PYICEBERG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.chdir(project)  # pyiceberg looks in the working directory last

    config = Config()
    assert config.get_default_catalog_name() == "lakehouse"
    catalog = load_catalog("lakehouse", **config.get_catalog_config("lakehouse"))
    columns = [field.name for field in catalog.load_table(IDENTIFIER).schema().fields]
    assert columns[:3] == ["prediction_id", "customer_id", "prediction"]


def test_other_catalogs_and_the_users_default_are_kept(tmp_path: Path):
    path = tmp_path / ".pyiceberg.yaml"
    path.write_text(
        yaml.safe_dump({"catalog": {"mine": {"uri": "http://127.0.0.1:8181"}}, "default-catalog": "mine"})
    )
    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "home")})
    written = yaml.safe_load(write_pyiceberg_config(settings, tmp_path).read_text())
    assert written["default-catalog"] == "mine" and written["catalog"]["mine"] == {
        "uri": "http://127.0.0.1:8181"
    }
    assert written["catalog"]["lakehouse"]["uri"] == f"sqlite:///{settings.iceberg_dir / 'catalog.db'}"

    moved = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path / "other")})
    written = yaml.safe_load(write_pyiceberg_config(moved, tmp_path).read_text())
    assert written["catalog"]["lakehouse"]["warehouse"] == (moved.iceberg_dir / "warehouse").as_uri()


def test_a_file_that_is_not_a_mapping_is_refused_untouched(tmp_path: Path):
    path = tmp_path / ".pyiceberg.yaml"
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match=r"\.pyiceberg\.yaml must hold a YAML mapping, got list"):
        write_pyiceberg_config(Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)}), tmp_path)
    assert path.read_text() == "- a list\n"
