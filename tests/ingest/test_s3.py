"""The landing zone read from an s3:// URI (prod) through s3fs, against moto's S3 server."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_ml.ingest import read_dataset, validate_landing_zone
from tests.support.ingest_fixtures import ORDERS, write_landing_zone


@pytest.mark.s3
def test_s3_landing_zone_reads_like_a_local_one(s3_endpoint: str, tmp_path: Path, monkeypatch) -> None:
    import boto3

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)  # the one endpoint setting
    local = write_landing_zone(tmp_path / "raw")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="landing")
    for path in local.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "landing", f"zone/{path.relative_to(local).as_posix()}")

    customers, customer_files = read_dataset("s3://landing/zone", "customers")
    orders, order_files = read_dataset("s3://landing/zone", "orders")
    assert customer_files == ["customers/part-1.csv", "customers/part-2.csv"]
    assert order_files == ["orders/2024-a.parquet", "orders/2024-b.parquet"]
    typed = validate_landing_zone(customers, orders)
    assert typed["customers"].num_rows == 6 and typed["orders"].num_rows == len(ORDERS)
