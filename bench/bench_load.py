"""Code-location load time: `import lakehouse_ml.definitions` as a ratio to `import dagster, dagster_dbt`.

Both are timed as fresh interpreters in the same run, interleaved, several repeats; the median is reported.
Target: ratio <= 1.3.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import report

REPEATS = 5
BASELINE = "import dagster, dagster_dbt"
CODE_LOCATION = "import lakehouse_ml.definitions"


def _time_import(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, LAKEHOUSE_HOME=home, DAGSTER_HOME=os.path.join(home, "dagster"))
        _time_import(CODE_LOCATION, env)  # warm the file cache and __pycache__ once
        baseline, location = [], []
        for _ in range(REPEATS):
            baseline.append(_time_import(BASELINE, env))
            location.append(_time_import(CODE_LOCATION, env))
    report(
        "load",
        {
            "repeats": REPEATS,
            "baseline": BASELINE,
            "baseline_median_s": round(statistics.median(baseline), 3),
            "code_location_median_s": round(statistics.median(location), 3),
            "ratio": round(statistics.median(location) / statistics.median(baseline), 3),
            "target_ratio": 1.3,
            "load_average": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
