"""`dagster asset materialize` of the raw and dbt assets, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lakehouse_ml.platform.settings import Settings, project_root
from lakehouse_ml.resources.warehouse import local_warehouse
from tests.support.ingest_fixtures import write_landing_zone

SELECTION = "*fct_customer_features,*fct_churn_labels"


@pytest.mark.slow
def test_cli_materializes_raw_and_dbt_assets(lakehouse_home: Path) -> None:
    write_landing_zone(lakehouse_home / "raw")
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "lakehouse_ml.definitions", "--select", SELECTION],
        cwd=project_root(),
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "RUN_SUCCESS" in done.stderr
    assert (
        "ASSET_CHECK_EVALUATION" in done.stderr
        and "failed" not in done.stderr.split("RUN_SUCCESS")[0].lower()
    )
    warehouse = local_warehouse(Settings.from_env())
    # No LAKEHOUSE_AS_OF: the clock is the day before the latest order day (o10 on 2024-05-17).
    assert warehouse.pipeline_clock() == date(2024, 5, 16)
    features = pd.read_parquet(warehouse.gold_uri("fct_customer_features"))
    # A on 2024-05-16 now sees o06 (1000 at 05-16 00:00): 160 + 1000 over 6 orders.
    last = features[(features.customer_id == "A") & (features.event_timestamp == pd.Timestamp("2024-05-16"))]
    assert last[["lifetime_value", "avg_order_value"]].values.tolist() == [[1160.0, 1160.0 / 6]]
