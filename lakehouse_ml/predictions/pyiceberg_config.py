"""``.pyiceberg.yaml`` for the local catalog, written at set-up (``tasks.py setup``) in the project folder,
where pyiceberg looks (after ``$PYICEBERG_HOME`` and the home folder): ``pyiceberg list`` and ``pyiceberg
describe ml.churn_predictions`` then open the prediction log with no environment variables.

The catalog's properties come from ``Settings`` through ``local_catalog_properties``, as the pipeline's
own catalog does; rerunning set-up after changing ``LAKEHOUSE_HOME`` points the file at the new home.
Other catalogs and settings already in the file are kept; ``default-catalog`` is set only when absent.
The prod catalogs need credentials, which stay out of files: nothing is written for ``prod``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from lakehouse_ml.platform.settings import Settings, project_root
from lakehouse_ml.predictions.catalog import CATALOG_NAME, local_catalog_properties

CONFIG_FILE = ".pyiceberg.yaml"


def write_pyiceberg_config(settings: Settings, folder: Path) -> Path:
    """Add (or update) the ``lakehouse`` catalog in ``folder/.pyiceberg.yaml``; returns the file's path."""
    path = Path(folder) / CONFIG_FILE
    current = yaml.safe_load(path.read_text()) if path.exists() else None
    if current is not None and not isinstance(current, dict):
        raise ValueError(f"{path} must hold a YAML mapping, got {type(current).__name__}")
    config = dict(current or {})
    catalogs = config.get("catalog") or {}
    if not isinstance(catalogs, dict):
        raise ValueError(
            f"{path}: 'catalog' must be a mapping of catalog names, got {type(catalogs).__name__}"
        )
    config["catalog"] = {
        **catalogs,
        CATALOG_NAME: {"type": "sql", **local_catalog_properties(settings.iceberg_dir)},
    }
    config.setdefault("default-catalog", CATALOG_NAME)
    partial = path.with_name(f"{CONFIG_FILE}.partial")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(partial, path)
    return path


if __name__ == "__main__":
    current = Settings.from_env()
    if current.profile == "local":
        print(write_pyiceberg_config(current, project_root()))
