"""The local Iceberg catalog: pyiceberg ``SqlCatalog`` on sqlite (docs/ARCHITECTURE.md, predictions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_NAME = "lakehouse"  # stored with every table: always open the catalog under this name


def catalog_db(iceberg_dir: Path) -> Path:
    return Path(iceberg_dir) / "catalog.db"


def local_catalog(iceberg_dir: Path) -> SqlCatalog:
    """``<iceberg_dir>/catalog.db`` with the warehouse in ``<iceberg_dir>/warehouse`` (created if absent)."""
    from pyiceberg.catalog.sql import SqlCatalog

    warehouse = Path(iceberg_dir) / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(CATALOG_NAME, uri=f"sqlite:///{catalog_db(iceberg_dir)}", warehouse=warehouse.as_uri())
