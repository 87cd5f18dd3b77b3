"""Raw landing zone ingestion: read the datasets, validate the contract, load them into the warehouse.

Plain module (no Dagster import); ``lakehouse_ml.assets.raw`` wires it.
"""

from lakehouse_ml.ingest.contract import CONTRACT, ContractViolationError, Violation, validate_landing_zone
from lakehouse_ml.ingest.landing import DATASETS, LandingZoneError, landing_zone_is_empty, read_dataset

__all__ = [
    "CONTRACT",
    "DATASETS",
    "ContractViolationError",
    "LandingZoneError",
    "Violation",
    "landing_zone_is_empty",
    "read_dataset",
    "validate_landing_zone",
]
