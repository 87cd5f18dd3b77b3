"""Ingestion assets: the raw landing zone, validated against the contract and loaded into the warehouse."""

import dagster as dg

from lakehouse_ml.ingest import DATASETS, landing_zone_is_empty, read_dataset, validate_landing_zone
from lakehouse_ml.orchestration.pools import WAREHOUSE_POOL
from lakehouse_ml.platform.service_errors import naming_unavailable_services
from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.resources.landing_zone import LandingZone
from lakehouse_ml.resources.warehouse import ENGINES, Warehouse

TIME_COLUMNS = {"customers": "signup_ts", "orders": "order_ts"}
KINDS = {"parquet", ENGINES[Settings.from_env().profile]}


def _metadata(dataset: str, table, files: list[str]) -> dict[str, dg.MetadataValue]:
    import pyarrow.compute as pc

    times = table[TIME_COLUMNS[dataset]]
    first, last = pc.min(times).as_py(), pc.max(times).as_py()
    return {
        "dagster/row_count": dg.MetadataValue.int(table.num_rows),
        "first_" + TIME_COLUMNS[dataset]: dg.MetadataValue.text(str(first)),
        "last_" + TIME_COLUMNS[dataset]: dg.MetadataValue.text(str(last)),
        "files": dg.MetadataValue.int(len(files)),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(field.name, str(field.type)) for field in table.schema]
        ),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "raw_customers",
            group_name="ingestion",
            kinds=KINDS,
            description="Customers from the raw landing zone, contract-checked, loaded as raw.customers.",
        ),
        dg.AssetSpec(
            "raw_orders",
            group_name="ingestion",
            kinds=KINDS,
            description="Orders from the raw landing zone, contract-checked, loaded as raw.orders.",
        ),
    ],
    can_subset=False,
    pool=WAREHOUSE_POOL,
)
def raw_landing_zone(context: dg.AssetExecutionContext, landing_zone: LandingZone, warehouse: Warehouse):
    """Read customers/ and orders/ (Parquet or CSV), validate both against the DESIGN.md contract, and only
    then replace both warehouse tables together, so a bad extract never reaches dbt or anything downstream.
    The two datasets are one step because orders are checked against customers."""
    with naming_unavailable_services(f"reading the landing zone {landing_zone.uri}"):
        if landing_zone_is_empty(landing_zone.uri) and landing_zone.fill_if_empty():
            context.log.info(f"landing zone {landing_zone.uri} was empty: filled it with the simulator")
        read = {dataset: read_dataset(landing_zone.uri, dataset) for dataset in DATASETS}
    typed = validate_landing_zone(read["customers"][0], read["orders"][0])
    warehouse.load_raw(typed)
    for dataset in DATASETS:
        yield dg.MaterializeResult(
            asset_key=f"raw_{dataset}",
            metadata={
                **_metadata(dataset, typed[dataset], read[dataset][1]),
                "landing_zone": dg.MetadataValue.path(f"{landing_zone.uri.rstrip('/')}/{dataset}"),
            },
        )
