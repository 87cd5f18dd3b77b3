"""Object storage access shared by the stages that read or write ``s3://`` paths directly.

``LAKEHOUSE_S3_ENDPOINT`` is the one S3 endpoint setting (MinIO, moto; empty or unset for AWS), read
through ``Settings.s3_endpoint``. Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, an instance role, IRSA), which s3fs and boto3 read themselves.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import s3fs


def s3_endpoint() -> str | None:
    """The configured S3 endpoint URL, or None for AWS's own endpoint."""
    from lakehouse_ml.platform.settings import Settings

    return Settings.from_env().s3_endpoint


def s3_filesystem(endpoint: str | None = None) -> s3fs.S3FileSystem:
    """An s3fs filesystem, on ``endpoint`` (e.g. MinIO, moto) when given, else AWS's default."""
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint) if endpoint else s3fs.S3FileSystem()


def make_endpoint_the_fsspec_default() -> None:
    """Make the configured endpoint fsspec's default for ``s3://``, for a library that opens URLs with
    fsspec's defaults only (Evidently's workspace); a no-op for AWS."""
    endpoint = s3_endpoint()
    if endpoint:
        import fsspec.config

        fsspec.config.conf.setdefault("s3", {})["endpoint_url"] = endpoint


def storage_options_for(uri: str, endpoint: str | None = None) -> dict | None:
    """fsspec/pandas ``storage_options`` for ``uri``: the S3 endpoint for ``s3://`` URIs, else None.
    ``endpoint`` defaults to the configured one."""
    if not str(uri).startswith("s3://"):
        return None
    endpoint = endpoint or s3_endpoint()
    return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}


def filesystem(uri: str):
    """``(fsspec filesystem, path)`` for a local path or a URI, S3 on the configured endpoint.

    S3 listings are not cached: fsspec shares one filesystem object per process, and a cached listing
    would hide files that arrived after it (a later run in the same process then fails to open them)."""
    import fsspec

    options = storage_options_for(uri)
    if options is None:
        return fsspec.core.url_to_fs(uri)
    return fsspec.core.url_to_fs(uri, use_listings_cache=False, **options)


@contextlib.contextmanager
def local_folder(uri: str) -> Iterator[Path]:
    """A folder handed over by another step: a local path as is, an ``s3://`` folder downloaded to a
    temporary directory removed afterwards."""
    if "://" not in uri:
        yield Path(uri)
        return
    fs, root = filesystem(uri)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{uri} is not a folder in object storage")
    with tempfile.TemporaryDirectory(prefix="handoff-") as scratch:
        for remote in fs.ls(root, detail=False):
            fs.get_file(remote, str(Path(scratch) / Path(remote).name))
        yield Path(scratch)
