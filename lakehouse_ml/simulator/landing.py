"""Writing part files of the raw landing zone (``customers/``, ``orders/``) as Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakehouse_ml.simulator.generator import CHANNELS, COUNTRIES, SECONDS_PER_DAY, OrderBatch
from lakehouse_ml.simulator.state import Population

DATASETS = ("customers", "orders")
FORMATS = ("parquet", "csv")
TIMESTAMP = pa.timestamp("us", tz="UTC")


def data_files(folder: Path) -> list[Path]:
    """Data files of one dataset folder (hidden and ``_``-prefixed names are not data)."""
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix in (".parquet", ".csv") and not path.name.startswith((".", "_"))
    )


def customer_ids(indexes: np.ndarray) -> np.ndarray:
    return np.char.add("C", np.char.zfill((np.asarray(indexes) + 1).astype(str), 8))


def order_ids(numbers: np.ndarray) -> np.ndarray:
    return np.char.add("O", np.char.zfill((np.asarray(numbers) + 1).astype(str), 10))


def _timestamps(days: np.ndarray, seconds: np.ndarray) -> pa.Array:
    micros = (days.astype(np.int64) * SECONDS_PER_DAY + seconds.astype(np.int64)) * 1_000_000
    return pa.array(micros, type=pa.int64()).cast(TIMESTAMP)


def customers_table(population: Population, first_index: int) -> pa.Table:
    rows = slice(first_index, len(population))
    country = population.country[rows]
    return pa.table(
        {
            "customer_id": pa.array(customer_ids(np.arange(first_index, len(population))), pa.string()),
            "signup_ts": _timestamps(population.signup_day[rows], population.signup_second[rows]),
            "country": pa.array(COUNTRIES[country.clip(min=0)], pa.string(), mask=country < 0),
            "acquisition_channel": pa.array(CHANNELS[population.channel[rows]], pa.string()),
        }
    )


def orders_table(orders: OrderBatch, first_order_number: int) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(order_ids(np.arange(len(orders)) + first_order_number), pa.string()),
            "customer_id": pa.array(customer_ids(orders.customer_index), pa.string()),
            "order_ts": _timestamps(orders.day, orders.second),
            "amount": pa.array(orders.amount, pa.float64()),
            "items": pa.array(orders.items, pa.int64()),
        }
    )


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 text with an explicit UTC designator."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_timestamp(column.type):
            seconds = column.cast(pa.int64()).to_numpy() // 1_000_000
            text = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")
            column = pa.array(text, pa.string())
        columns[name] = column
    return pa.table(columns)


def write_part(table: pa.Table, path: Path, file_format: str) -> None:
    if file_format == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        pacsv.write_csv(_csv_ready(table), path)


def part_name(number: int, file_format: str) -> str:
    return f"part-{number:05d}.{file_format}"
