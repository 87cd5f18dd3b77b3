"""The Iceberg catalog of the prediction log: the local pyiceberg ``SqlCatalog`` on sqlite, and the
``ml.churn_predictions`` table created or migrated on first use (docs/ARCHITECTURE.md, predictions)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse_ml.predictions.migration import add_scoring_day, migrate_to_seed_types
from lakehouse_ml.predictions.table import (
    IDENTIFIER,
    NAMESPACE,
    PARTITION_FIELD,
    predictions_partition_spec,
    predictions_schema,
)

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


def ensure_predictions_table(catalog):
    """Load ``ml.churn_predictions``, creating the namespace and table on first use. A table created before
    it was partitioned gets the day partition in place (metadata only: its files keep their unpartitioned
    spec and are still read; new files and compactions are written per day); a table created before it had
    the seed's column types is migrated in place (``migrate_to_seed_types``), and one created before
    ``scoring_day`` gets the column (``add_scoring_day``)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.transforms import DayTransform

    catalog.create_namespace_if_not_exists(NAMESPACE)
    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        schema = predictions_schema()
        return catalog.create_table_if_not_exists(
            IDENTIFIER, schema=schema, partition_spec=predictions_partition_spec(schema)
        )
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
