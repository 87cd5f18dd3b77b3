"""The Iceberg catalog of the prediction log: the local pyiceberg ``SqlCatalog`` on sqlite, and the
``ml.churn_predictions`` table created or migrated on first use (docs/ARCHITECTURE.md, predictions)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse_ml.platform.catalog_names import create_table
from lakehouse_ml.predictions.migration import add_scoring_day, migrate_to_seed_types
from lakehouse_ml.predictions.table import (
    IDENTIFIER,
    PARTITION_FIELD,
    TABLE_NAME,
    predictions_partition_spec,
    predictions_schema,
)

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_NAME = "lakehouse"  # stored with every table: always open the catalog under this name


def catalog_db(iceberg_dir: Path) -> Path:
    return Path(iceberg_dir) / "catalog.db"


def local_catalog_properties(iceberg_dir: Path) -> dict[str, str]:
    """The local catalog's pyiceberg properties, for ``SqlCatalog`` and for ``.pyiceberg.yaml`` alike."""
    folder = Path(iceberg_dir).absolute()
    return {"uri": f"sqlite:///{catalog_db(folder)}", "warehouse": (folder / "warehouse").as_uri()}


def local_catalog(iceberg_dir: Path) -> SqlCatalog:
    """``<iceberg_dir>/catalog.db`` with the warehouse in ``<iceberg_dir>/warehouse`` (created if absent)."""
    from pyiceberg.catalog.sql import SqlCatalog

    (Path(iceberg_dir) / "warehouse").mkdir(parents=True, exist_ok=True)
    return SqlCatalog(CATALOG_NAME, **local_catalog_properties(iceberg_dir))


def ensure_predictions_table(catalog):
    """Load ``ml.churn_predictions``, creating it on first use (``catalog_names.create_table``). A table
    created before it was partitioned gets the day partition in place (metadata only: its files keep their
    unpartitioned spec and are still read; new files and compactions are written per day); a table created
    before it had the seed's column types is migrated in place (``migrate_to_seed_types``), and one created
    before ``scoring_day`` gets the column (``add_scoring_day``)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.transforms import DayTransform

    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        schema = predictions_schema()
        return create_table(catalog, TABLE_NAME, schema, partition_spec=predictions_partition_spec(schema))
    if not table.spec().fields:
        with table.update_spec() as spec:
            spec.add_field("prediction_timestamp", DayTransform(), PARTITION_FIELD)

    migration = migrate_to_seed_types(table)
    if migration.columns:
        logging.getLogger(__name__).warning(
            "%s migrated to the seed's types: columns %s, %d rows rewritten, %d ids hashed to uuid5",
            IDENTIFIER,
            ", ".join(migration.columns),
            migration.rows,
            migration.ids_hashed,
        )
    if add_scoring_day(table):
        logging.getLogger(__name__).warning("%s: column scoring_day added (earlier rows: null)", IDENTIFIER)
    return table
