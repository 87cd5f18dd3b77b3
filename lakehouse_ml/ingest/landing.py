"""Reading one dataset of the landing zone: a folder of Parquet files or of CSV files with a header row.

The landing zone is a local folder or an ``s3://`` URI (read through fsspec/s3fs). Names starting with
``.`` or ``_`` are not data (e.g. the simulator's ``_simulator/`` state, ``_SUCCESS`` markers).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from lakehouse_ml.platform.storage import filesystem

if TYPE_CHECKING:
    import pyarrow as pa

DATASETS = ("customers", "orders")
SOURCE_FILE_COLUMN = "_source_file"
FORMATS = {".parquet": "parquet", ".csv": "csv"}


class LandingZoneError(ValueError):
    """The landing zone cannot be read (missing dataset folder, no files, mixed formats, unreadable file)."""


def _filesystem(raw_uri: str):
    return filesystem(raw_uri)


def _is_data(relative: str) -> bool:
    parts = relative.split("/")
    return not any(part.startswith((".", "_")) for part in parts) and any(
        relative.endswith(suffix) for suffix in FORMATS
    )


def data_files(raw_uri: str, dataset: str) -> list[str]:
    fs, root = _filesystem(raw_uri)
    folder = f"{root.rstrip('/')}/{dataset}"
    if not fs.isdir(folder):
        return []
    return sorted(path for path in fs.find(folder) if _is_data(path[len(folder) + 1 :]))


def landed_files(raw_uri: str) -> dict[str, str]:
    """Every data file of the landing zone by key (``<dataset>/<relative path>``) with a fingerprint that
    changes when the file is rewritten: the object's ETag on S3, else its mtime (ns) and size."""
    fs, root = _filesystem(raw_uri)
    found = {}
    for dataset in DATASETS:
        folder = f"{root.rstrip('/')}/{dataset}"
        if not fs.isdir(folder):
            continue
        for path, info in fs.find(folder, detail=True).items():
            relative = path[len(folder) + 1 :]
            if _is_data(relative):
                found[f"{dataset}/{relative}"] = _fingerprint(info)
    return dict(sorted(found.items()))


def _fingerprint(info: dict) -> str:
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}"
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
    stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
    return f"mtime:{int(stamp * 1e9)}:{info.get('size', 0)}"


def landing_zone_is_empty(raw_uri: str) -> bool:
    return not any(data_files(raw_uri, dataset) for dataset in DATASETS)


def _read_csv(handle) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = handle.read()
    header = next(csv.reader(io.StringIO(data[:65536].decode("utf-8-sig").split("\n", 1)[0])), [])
    # Every column is read as text so identifiers keep leading zeros; the contract check does the typing.
    return pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=True, null_values=[""]
        ),
    )


def _read_file(fs, path: str) -> pa.Table:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as handle:
        if path.endswith(".parquet"):
            return pq.read_table(handle)
        return _read_csv(handle)


def latest_order_day(raw_uri: str, keys: Iterable[str]) -> date | None:
    """The day of the latest ``order_ts`` in the landed orders files among ``keys`` (``orders/...``, as
    ``landed_files`` names them), reading that column only; None if they hold no valid timestamp."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    fs, root = _filesystem(raw_uri)
    latest = None
    for key in keys:
        if not key.startswith("orders/"):
            continue
        with fs.open(f"{root.rstrip('/')}/{key}", "rb") as handle:
            if key.endswith(".parquet"):
                column = pq.read_table(handle, columns=["order_ts"])["order_ts"]
            else:
                options = pacsv.ConvertOptions(
                    include_columns=["order_ts"], column_types={"order_ts": pa.string()}
                )
                column = pacsv.read_csv(handle, convert_options=options)["order_ts"]
        stamps = pd.to_datetime(column.to_pandas(), errors="coerce", utc=True).dropna()
        if len(stamps) and (latest is None or stamps.max().date() > latest):
            latest = stamps.max().date()
    return latest


def _with_source_file(table: pa.Table, name: str) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
    return table.append_column(SOURCE_FILE_COLUMN, pa.DictionaryArray.from_arrays(indices, pa.array([name])))


def read_dataset(raw_uri: str, dataset: str) -> tuple[pa.Table, list[str]]:
    """All files of ``<raw_uri>/<dataset>/`` as one table (columns unified by name) and the file list.

    Each row carries the file it came from in ``_source_file`` so errors can point at it.
    """
    import pyarrow as pa

    fs, root = _filesystem(raw_uri)
    files = data_files(raw_uri, dataset)
    if not files:
        raise LandingZoneError(
            f"dataset '{dataset}' has no Parquet or CSV files under {raw_uri.rstrip('/')}/{dataset}/"
        )
    formats = {FORMATS["." + path.rsplit(".", 1)[-1]] for path in files}
    if len(formats) > 1:
        raise LandingZoneError(f"dataset '{dataset}' mixes Parquet and CSV files; use one format per dataset")
    tables = []
    for path in files:
        name = path[len(root.rstrip("/")) + 1 :]
        try:
            table = _read_file(fs, path)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
            raise LandingZoneError(f"dataset '{dataset}': cannot read {name}: {err}") from err
        repeated = sorted({column for column in table.column_names if table.column_names.count(column) > 1})
        if repeated:
            raise LandingZoneError(f"dataset '{dataset}': {name} has the column(s) {repeated} more than once")
        tables.append(_with_source_file(table, name))
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as err:
        raise LandingZoneError(f"dataset '{dataset}': files have incompatible column types: {err}") from err
    relative = [path[len(root.rstrip("/")) + 1 :] for path in files]
    return table, relative
