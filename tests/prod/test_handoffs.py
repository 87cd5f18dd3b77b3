"""Prod hand-offs between steps that run in different pods: step outputs through dagster-aws' S3 IO
manager, model folders as s3:// URIs; both against moto's S3 server."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.platform.settings import Settings
from lakehouse_ml.platform.storage import filesystem, local_folder
from lakehouse_ml.resources.io_manager import prod_io_manager

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(s3_endpoint, monkeypatch) -> str:
    import time

    import boto3

    name = f"handoffs-{time.time_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("LAKEHOUSE_S3_ENDPOINT", s3_endpoint)
    return name


@dg.asset
def upstream() -> dict:
    return {"model_dir": "s3://somewhere/model", "rows": 3}


@dg.asset
def downstream(upstream: dict) -> int:
    return upstream["rows"] * 2


def test_a_step_output_is_read_by_a_later_run_from_s3_only(bucket, monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_IO_MANAGER_URI", f"s3://{bucket}/io")
    resources = {"io_manager": prod_io_manager(Settings.from_env())}
    for pod in ("first", "second"):
        (tmp_path / pod).mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "first")) as instance:
        assert dg.materialize([upstream], resources=resources, instance=instance).success
    fs, _ = filesystem(f"s3://{bucket}")
    assert fs.exists(f"{bucket}/io/upstream")
    # another instance and process-local state: only the S3 object connects the two steps
    with dg.instance_for_test(temp_dir=str(tmp_path / "second")) as instance:
        result = dg.materialize(
            [upstream, downstream], selection=[downstream], resources=resources, instance=instance
        )
        assert result.output_for_node("downstream") == 6


def test_the_io_manager_refuses_a_local_uri(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_IO_MANAGER_URI", "/tmp/io")
    with pytest.raises(ValueError, match="LAKEHOUSE_IO_MANAGER_URI must be an s3:// URI"):
        prod_io_manager(Settings.from_env())


def test_a_model_folder_handed_over_as_an_s3_uri_is_fetched_and_cleaned_up(bucket, tmp_path: Path):
    fs, _ = filesystem(f"s3://{bucket}")
    for name, data in (("model.joblib", b"weights"), ("metadata.json", b"{}")):
        fs.pipe_file(f"{bucket}/exports/run-1/model/{name}", data)
    with local_folder(f"s3://{bucket}/exports/run-1/model") as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.joblib"]
        assert (folder / "model.joblib").read_bytes() == b"weights"
    assert not folder.exists()
    with pytest.raises(FileNotFoundError, match="run-2"), local_folder(f"s3://{bucket}/exports/run-2/model"):
        pass
