"""Prod gold publishing: a gold Iceberg table (pyiceberg, here a SQL catalog standing in for the REST one)
becomes the one Parquet file per model under LAKEHOUSE_GOLD_URI on S3 (moto's server) that Feast's
offline store and the training components read."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.features_fixtures import gold_frame, weekly_snapshots

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
