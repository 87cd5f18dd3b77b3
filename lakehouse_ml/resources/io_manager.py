"""Step outputs in prod: every step runs in its own pod, so outputs go to S3 through dagster-aws'
``S3PickleIOManager`` (on ``LAKEHOUSE_S3_ENDPOINT`` for MinIO), never to a pod's disk."""

from __future__ import annotations

import os

from lakehouse_ml.storage import s3_endpoint

IO_URI_VARIABLE = "LAKEHOUSE_IO_MANAGER_URI"
DEFAULT_IO_URI = "s3://lakehouse/dagster-io"


def prod_io_manager():
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    uri = os.environ.get(IO_URI_VARIABLE) or DEFAULT_IO_URI
    if not uri.startswith("s3://"):
        raise ValueError(f"{IO_URI_VARIABLE} must be an s3:// URI (bucket and prefix), got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return S3PickleIOManager(
        s3_resource=S3Resource(endpoint_url=s3_endpoint()), s3_bucket=bucket, s3_prefix=prefix or "dagster"
    )
