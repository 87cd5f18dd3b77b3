"""Step outputs in prod: every step runs in its own pod, so outputs go to S3 through dagster-aws'
``S3PickleIOManager`` (on ``LAKEHOUSE_S3_ENDPOINT`` for MinIO), never to a pod's disk."""

from __future__ import annotations

from lakehouse_ml.platform.settings import Settings


def prod_io_manager(settings: Settings):
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    uri = settings.io_manager_uri
    if not uri.startswith("s3://"):
        raise ValueError(f"LAKEHOUSE_IO_MANAGER_URI must be an s3:// URI (bucket and prefix), got {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return S3PickleIOManager(
        s3_resource=S3Resource(endpoint_url=settings.s3_endpoint),
        s3_bucket=bucket,
        s3_prefix=prefix or "dagster",
    )
