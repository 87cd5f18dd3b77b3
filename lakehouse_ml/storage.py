"""Object storage access shared by the stages that read or write ``s3://`` paths directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import s3fs


def s3_filesystem(endpoint: str | None = None) -> s3fs.S3FileSystem:
    """An s3fs filesystem, on ``endpoint`` (e.g. MinIO, moto) when given, else AWS's default."""
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint) if endpoint else s3fs.S3FileSystem()
