"""Prod gold publishing: a gold Iceberg table (pyiceberg, here a SQL catalog standing in for the REST one)
becomes the one Parquet file per model under LAKEHOUSE_GOLD_URI on S3 (moto's server) that Feast's
offline store and the training components read."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.support.features_fixtures import gold_frame, weekly_snapshots

pytestmark = pytest.mark.s3

MODEL = "fct_customer_features"


@pytest.fixture
def iceberg(tmp_path):
    from lakehouse_ml.resources.iceberg import LocalIcebergCatalog

    return LocalIcebergCatalog(iceberg_dir=str(tmp_path / "iceberg"))


@pytest.fixture
def gold_bucket(s3_endpoint, monkeypatch):
    import boto3

    bucket = f"gold-{datetime.now().strftime('%H%M%S%f')}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    monkeypatch.setenv("LAKEHOUSE_GOLD_URI", f"s3://{bucket}/gold/")
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    return bucket


def iceberg_gold_table(iceberg, frame) -> None:
    catalog = iceberg.catalog()
    catalog.create_namespace_if_not_exists("gold")
    data = pa.Table.from_pandas(frame, preserve_index=False)
    catalog.create_table(f"gold.{MODEL}", schema=data.schema).append(data)


def test_published_gold_is_what_feast_and_training_read(iceberg, gold_bucket, s3_endpoint):
    from lakehouse_ml.assets.gold import publish_gold
    from lakehouse_ml.features.definitions import build
    from lakehouse_ml.features.gold import GoldSource, check_view_matches_gold, read_gold_table
    from lakehouse_ml.training.dataset import read_gold

    frame = gold_frame(weekly_snapshots(datetime(2024, 3, 3, tzinfo=UTC), 3), 5).sample(
        frac=1, random_state=0
    )
    iceberg_gold_table(iceberg, frame)
    # written by snapshot day and customer whatever order the Iceberg table holds the rows in
    expected = frame.sort_values(["event_timestamp", "customer_id"], ignore_index=True)
    assert not expected.equals(frame)

    metadata = publish_gold(MODEL, iceberg)
    uri = f"s3://{gold_bucket}/gold/{MODEL}.parquet"
    assert metadata["parquet"].value == uri
    assert metadata["dagster/row_count"].value == len(frame)
    columns = metadata["dagster/column_schema"].value.columns
    assert [column.name for column in columns] == list(frame.columns)
    customer_id = next(column for column in columns if column.name == "customer_id")
    assert customer_id.type == "string"

    source = GoldSource(uri, s3_endpoint)
    _, _, customer_features, _ = build(source)
    check_view_matches_gold(customer_features, source)
    assert read_gold_table(source, list(frame.columns)).to_pandas().equals(expected)
    storage = {"client_kwargs": {"endpoint_url": s3_endpoint}}
    trained_on = read_gold(f"s3://{gold_bucket}/gold", MODEL, storage)
    assert trained_on["customer_id"].tolist() == expected["customer_id"].tolist()


def test_a_missing_gold_table_or_uri_is_named(iceberg, gold_bucket, monkeypatch):
    import dagster as dg

    from lakehouse_ml.assets.gold import publish_gold

    with pytest.raises(LookupError, match=f"as gold.{MODEL}: run dbt first"):
        publish_gold(MODEL, iceberg)
    monkeypatch.delenv("LAKEHOUSE_GOLD_URI")
    with pytest.raises(dg.Failure, match="LAKEHOUSE_GOLD_URI"):
        publish_gold(MODEL, iceberg)


def test_feast_reads_the_published_s3_gold_without_duckdb_extensions(
    iceberg, gold_bucket, s3_endpoint, lakehouse_home
):
    """Point-in-time retrieval and materialization from the gold file on S3, read through s3fs: DuckDB's
    httpfs extension is not installed here (nor downloadable in a pod)."""
    import duckdb
    import pandas as pd

    from lakehouse_ml.assets.gold import publish_gold
    from lakehouse_ml.features.apply import apply_definitions
    from lakehouse_ml.features.gold import GoldSource
    from lakehouse_ml.features.materialize import materialize_online
    from lakehouse_ml.features.online_sdk import online_features
    from lakehouse_ml.features.store import FEATURE_NAMES, feature_store
    from lakehouse_ml.features.training_set import build_training_set
    from lakehouse_ml.platform.settings import Settings
    from tests.support.features_fixtures import expected_as_of, latest_values

    with duckdb.connect() as con:
        httpfs = con.execute("select installed from duckdb_extensions() where extension_name = 'httpfs'")
        assert httpfs.fetchall() in ([], [(False,)]), "the test means a DuckDB without httpfs"
    frame = gold_frame(weekly_snapshots(datetime(2024, 3, 3, tzinfo=UTC), 3), 5)
    iceberg_gold_table(iceberg, frame)
    source = GoldSource(publish_gold(MODEL, iceberg)["parquet"].value, s3_endpoint)
    store = feature_store(Settings.from_env())
    apply_definitions(store, source)

    entities = pd.DataFrame(
        {"customer_id": ["c1", "c3"], "event_timestamp": pd.to_datetime(["2024-03-03", "2024-02-20"])}
    )
    result = build_training_set(store, entities)
    ttl = store.get_feature_view("customer_features").ttl
    for _, row in result.iterrows():
        expected = expected_as_of(frame, row["customer_id"], row["event_timestamp"], ttl)
        assert row[FEATURE_NAMES].tolist() == pytest.approx([expected[f] for f in FEATURE_NAMES])
    materialize_online(store, source)
    online = online_features(store, ["c2"])
    assert online.loc[0, FEATURE_NAMES].tolist() == pytest.approx(latest_values(frame, "c2", FEATURE_NAMES))
