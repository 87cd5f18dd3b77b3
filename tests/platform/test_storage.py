"""``LAKEHOUSE_S3_ENDPOINT`` is read in one place (lakehouse_ml/platform/storage.py) and reaches every
s3:// reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lakehouse_ml.platform.storage import filesystem, s3_endpoint, storage_options_for


def test_an_empty_endpoint_means_aws(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", "")
    assert s3_endpoint() is None
    assert storage_options_for("s3://bucket/key") == {}
    assert storage_options_for("/local/path") is None


@pytest.mark.s3
def test_s3_paths_use_the_configured_endpoint(s3_endpoint, monkeypatch, tmp_path: Path):
    import boto3

    from lakehouse_ml.training.dataset import read_gold
    from lakehouse_ml.training.models import write_export

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="storage-test")
    frame = pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [pd.Timestamp("2025-01-01", tz="UTC")]})
    fs, root = filesystem("s3://storage-test/gold")
    with fs.open(f"{root}/fct_churn_labels.parquet", "wb") as handle:
        frame.to_parquet(handle)
    assert read_gold("s3://storage-test/gold", "fct_churn_labels")["customer_id"].tolist() == ["c1"]

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.joblib").write_bytes(b"model")
    write_export(model, "s3://storage-test/exports/run-1")
    assert fs.cat_file("storage-test/exports/run-1/model/model.joblib") == b"model"
