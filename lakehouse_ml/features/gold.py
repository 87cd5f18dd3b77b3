"""Where the gold feature table lives per profile, and checks of Feast definitions against it.

Feast does not compare a feature view's schema with its source, so a renamed or retyped gold column
would only show up as nulls at training or serving time. ``check_view_matches_gold`` runs before
every apply (the asset and the ``feast`` CLI) and names the offending columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse_ml.features.store import ENTITY_KEY
from lakehouse_ml.platform.settings import GOLD_URI_REQUIRED, Settings
from lakehouse_ml.platform.storage import s3_filesystem

if TYPE_CHECKING:
    import pyarrow as pa

GOLD_TABLE = "fct_customer_features"
TIMESTAMP_FIELD = "event_timestamp"


def _compatible(feast_type: str, arrow_type: pa.DataType) -> bool:
    """Whether Feast reads a Parquet column of ``arrow_type`` as ``feast_type`` without loss of meaning."""
    import pyarrow as pa

    checks = {
        "String": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        "Int64": pa.types.is_integer,
        "Int32": pa.types.is_integer,
        "Float64": lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t),
        "Float32": lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t),
        "Bool": pa.types.is_boolean,
        "UnixTimestamp": pa.types.is_timestamp,
    }
    return feast_type in checks and checks[feast_type](arrow_type)


class FeatureDefinitionError(ValueError):
    """A Feast definition does not match the gold table it reads."""


@dataclass(frozen=True)
class GoldSource:
    uri: str
    s3_endpoint: str | None = None

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri


def gold_source(settings: Settings) -> GoldSource:
    """The gold feature table: local Parquet under $LAKEHOUSE_HOME/gold, in prod under LAKEHOUSE_GOLD_URI."""
    if settings.profile == "local":
        return GoldSource(str(settings.gold_dir / f"{GOLD_TABLE}.parquet"))
    return prod_gold_source(settings.gold_uri, settings.s3_endpoint)


def prod_gold_source(gold_uri: str | None, s3_endpoint: str | None) -> GoldSource:
    if not gold_uri:
        raise FeatureDefinitionError(GOLD_URI_REQUIRED)
    return GoldSource(f"{gold_uri.rstrip('/')}/{GOLD_TABLE}.parquet", s3_endpoint)


def cli_gold_source() -> GoldSource:
    """The gold source as the ``feast`` CLI sees it (relative LAKEHOUSE_HOME: from the project root)."""
    from lakehouse_ml.features.feast_plugins import default_feast_dir

    return gold_source(Settings.from_env({"LAKEHOUSE_HOME": str(default_feast_dir().parent)}))


def read_gold_schema(source: GoldSource) -> pa.Schema:
    import pyarrow.parquet as pq

    if source.is_local:
        if not Path(source.uri).exists():
            raise FeatureDefinitionError(
                f"gold table {GOLD_TABLE} not found at {source.uri}: build the gold layer (dbt) first"
            )
        return pq.read_schema(source.uri)
    fs = s3_filesystem(source.s3_endpoint)
    with fs.open(source.uri.removeprefix("s3://"), "rb") as handle:
        return pq.read_schema(handle)


def view_mismatches(fields: dict[str, str], schema: pa.Schema) -> list[str]:
    """Problems between a view's fields ({name: Feast type name}) and the gold Parquet schema."""
    problems = []
    required = {ENTITY_KEY: "String", TIMESTAMP_FIELD: "UnixTimestamp", **fields}
    for name, feast_type in required.items():
        if name not in schema.names:
            problems.append(f"column {name!r} is not in the gold table (columns: {', '.join(schema.names)})")
            continue
        arrow_type = schema.field(name).type
        if not _compatible(feast_type, arrow_type):
            problems.append(f"column {name!r} is {arrow_type} in the gold table, the view says {feast_type}")
    return problems


def check_view_matches_gold(feature_view, source: GoldSource) -> None:
    """Raise FeatureDefinitionError naming every column where ``feature_view`` and the gold table disagree."""
    fields = {f.name: str(f.dtype) for f in feature_view.schema}
    problems = view_mismatches(fields, read_gold_schema(source))
    if problems:
        raise FeatureDefinitionError(
            f"feature view {feature_view.name!r} does not match gold table {GOLD_TABLE} at {source.uri}: "
            + "; ".join(problems)
        )


def read_gold_table(source: GoldSource, columns: list[str], filters=None) -> pa.Table:
    """Selected columns (optionally row-filtered, pyarrow DNF filters) of the gold feature table."""
    import pyarrow.parquet as pq

    read_gold_schema(source)  # clear error when the table is missing
    if source.is_local:
        return pq.read_table(source.uri, columns=columns, filters=filters)
    fs = s3_filesystem(source.s3_endpoint)
    return pq.read_table(source.uri.removeprefix("s3://"), columns=columns, filters=filters, filesystem=fs)


def pipeline_clock(source: GoldSource) -> datetime:
    """The pipeline's clock as every stage after dbt reads it: max(event_timestamp) of the gold table, UTC."""
    import pyarrow.compute as pc

    latest = pc.max(read_gold_table(source, [TIMESTAMP_FIELD])[TIMESTAMP_FIELD]).as_py()
    if latest is None:
        raise FeatureDefinitionError(f"gold table {GOLD_TABLE} at {source.uri} has no rows")
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def customers_between(source: GoldSource, start: datetime, end: datetime) -> list[str]:
    """``customer_id`` of every gold row with start <= event_timestamp <= end (one per row)."""
    column_type = read_gold_schema(source).field(TIMESTAMP_FIELD).type
    if column_type.tz is None:  # naive timestamps in the gold table are UTC
        start, end = (t.astimezone(UTC).replace(tzinfo=None) for t in (start, end))
    table = read_gold_table(
        source, [ENTITY_KEY], filters=[(TIMESTAMP_FIELD, ">=", start), (TIMESTAMP_FIELD, "<=", end)]
    )
    return table[ENTITY_KEY].to_pylist()
