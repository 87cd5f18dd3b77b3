"""Gold reproducibility and its cost: the dbt build before and after exact money and fixed row order.

One simulated landing zone (a year of history) is validated and loaded once; then `dbt build` runs twice
with the baseline project (the dbt models at BASELINE_REVISION: money summed as DOUBLE, no ORDER BY) and
twice with the current one, each time in a fresh copy of the loaded warehouse. Reported per variant: wall
time of each build, whether the two builds wrote byte-identical gold Parquet files, and how many
`fct_customer_features` rows differ between them. The ratio current / baseline is the price of determinism
(same run, same machine; DuckDB keeps its default threads: nothing is pinned).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import report
from lakehouse_ml.platform.settings import project_root
from lakehouse_ml.registry.reproduce import extract_revision
from lakehouse_ml.resources.warehouse import DBT_PROJECT_DIR, dbt_executable

BASELINE_REVISION = "3377d03"
CUSTOMERS = int(os.environ.get("BENCH_GOLD_REPRO_CUSTOMERS", "20000"))
HISTORY_DAYS = 365
GOLD_MODELS = ("fct_customer_features", "fct_churn_labels")
LOAD_RAW = """
import dagster as dg
from lakehouse_ml.assets import raw
from lakehouse_ml.resources import build_resources
from lakehouse_ml.platform.settings import Settings
wanted = ("landing_zone", "warehouse")
resources = {k: v for k, v in build_resources(Settings.from_env()).items() if k in wanted}
assert dg.materialize([raw.raw_landing_zone], resources=resources).success
"""


def _baseline_project(dest: Path) -> Path:
    extract_revision(project_root(), BASELINE_REVISION, "dbt_project", dest)
    return dest / "dbt_project"


def _build(project: Path, loaded: Path, home: Path) -> tuple[float, dict[str, str]]:
    (home / "gold").mkdir(parents=True)
    shutil.copyfile(loaded, home / "warehouse.duckdb")
    env = dict(os.environ, LAKEHOUSE_HOME=str(home), LAKEHOUSE_PROFILE="local")
    env.pop("LAKEHOUSE_AS_OF", None)
    command = [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project)]
    command += ["--target-path", str(home / "dbt-target"), "--log-path", str(home / "dbt-logs")]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    hashes = {
        model: hashlib.sha256((home / "gold" / f"{model}.parquet").read_bytes()).hexdigest()
        for model in GOLD_MODELS
    }
    return wall, hashes


def _differing_rows(first: Path, second: Path) -> int:
    import duckdb

    with duckdb.connect() as con:
        return con.sql(
            f"select count(*) from (select * from read_parquet('{first}') except all "
            f"select * from read_parquet('{second}'))"
        ).fetchall()[0][0]


def main() -> None:
    from lakehouse_ml.simulator import simulate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "source"
        (source / "dagster").mkdir(parents=True)
        simulate(source / "raw", customers=CUSTOMERS, days=HISTORY_DAYS)
        env = dict(os.environ, LAKEHOUSE_HOME=str(source), DAGSTER_HOME=str(source / "dagster"))
        env.update(LAKEHOUSE_PROFILE="local")
        env.pop("LAKEHOUSE_RAW_URI", None)
        subprocess.run([sys.executable, "-c", LOAD_RAW], check=True, env=env, stdout=subprocess.DEVNULL)
        projects = {"baseline": _baseline_project(root / "baseline"), "current": DBT_PROJECT_DIR}
        variants = {}
        for name, project in projects.items():
            homes = [root / f"{name}-{build}" for build in (1, 2)]
            builds = [_build(project, source / "warehouse.duckdb", home) for home in homes]
            features = [home / "gold" / "fct_customer_features.parquet" for home in homes]
            variants[name] = {
                "build_wall_s": [round(wall, 1) for wall, _ in builds],
                "identical_bytes": {m: builds[0][1][m] == builds[1][1][m] for m in GOLD_MODELS},
                "differing_feature_rows": _differing_rows(*features),
            }
        baseline = min(variants["baseline"]["build_wall_s"])
        current = min(variants["current"]["build_wall_s"])
        report(
            "gold_repro",
            {
                "customers": CUSTOMERS,
                "history_days": HISTORY_DAYS,
                "baseline_revision": BASELINE_REVISION,
                "variants": variants,
                "current_to_baseline_ratio": round(current / baseline, 2),
                "load_average": os.getloadavg(),
                "note": "shared 2-core machine; best of two builds per variant",
            },
        )


if __name__ == "__main__":
    main()
