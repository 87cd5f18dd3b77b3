"""Readers of the gold Parquet files read only the snapshot days they need."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse_ml.training.dataset import read_gold

DAYS = pd.date_range("2024-01-07", periods=10, freq="7D")


@pytest.mark.parametrize("tz", [None, "UTC"])  # DuckDB writes naive UTC, pandas-made files may be aware
def test_read_gold_with_days_returns_only_those_days(tmp_path: Path, tz) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{n}" for n in range(5)] * len(DAYS),
            "event_timestamp": DAYS.repeat(5).tz_localize(tz),
            "lifetime_value": range(5 * len(DAYS)),
        }
    )
    path = tmp_path / "fct_customer_features.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=5)  # one day each

    wanted = [date(2024, 1, 14), date(2024, 3, 3)]
    read = read_gold(tmp_path, "fct_customer_features", days=wanted)
    assert sorted(set(read.event_timestamp.dt.date)) == wanted
    everything = read_gold(tmp_path, "fct_customer_features")
    expected = everything[everything.event_timestamp.dt.date.isin(wanted)].reset_index(drop=True)
    pd.testing.assert_frame_equal(read.reset_index(drop=True), expected)
