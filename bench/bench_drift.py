"""Drift report cost: time and peak memory for 100k and 1M rows over all seven features, sampled
(the monitoring default, 50k rows per side, seed 42) versus full, and whether the sampled verdicts
agree with the full ones on stand-ins for every simulator scenario.

Each measurement runs in its own process so its peak RSS is its own (``bench.common.run_measured``).
Baseline: the full (unsampled) report on the same rows in the same run; figures are reported as
ratios to it. Wall time on a shared machine is inflated by other load, so CPU time of the report
is recorded next to it. Sizes: ``BENCH_DRIFT_ROWS`` (comma list, default ``100000,1000000``); scenarios:
``BENCH_DRIFT_SCENARIOS`` (default all four).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import report, run_measured

SEGMENTS = ["new", "active", "loyal", "at_risk", "dormant"]
SCENARIOS = ("none", "basket_shift", "channel_shift", "concept_shift")
FIELDS = ("report_seconds", "report_cpu_seconds", "process_seconds", "peak_rss_mib", "breach")


def features(rows: int, seed: int, scenario: str = "none") -> pd.DataFrame:
    """Gold-like feature rows; scenarios mimic what the simulator's drifts do to the features.

    basket_shift: prices +40% (order values, lifetime value). channel_shift: more new, less engaged
    customers (segment mix, order counts, recency). concept_shift: features unchanged (it changes
    who churns, not what the features look like).
    """
    rng = np.random.default_rng(seed)
    new_share = 0.27 if scenario == "channel_shift" else 0.15
    engagement = 0.75 if scenario == "channel_shift" else 1.0
    price = 1.4 if scenario == "basket_shift" else 1.0
    count_90 = rng.poisson(3 * engagement, rows)
    aov = rng.gamma(4, 12, rows) * price
    segments = rng.choice(SEGMENTS, rows, p=[new_share, 0.35, 0.2, 0.15, 0.3 - new_share])
    return pd.DataFrame(
        {
            "lifetime_value": aov * (count_90 + rng.poisson(6, rows)),
            "order_count_30d": np.minimum(rng.poisson(1 * engagement, rows), count_90),
            "order_count_90d": count_90,
            "avg_order_value": aov,
            "days_since_last_order": rng.integers(0, 60, rows)
            + (rng.random(rows) < 0.2 * (2 - engagement)) * 20,
            "tenure_days": rng.integers(30, 700, rows),
            "customer_segment": segments,
        }
    )


def one(rows: int, sample_size: int, scenario: str, out: str) -> None:
    """Child process: one drift report, verdicts written to ``out``."""
    from lakehouse_ml.monitoring.drift import drift_report
    from lakehouse_ml.monitoring.policy import TriggerPolicy, data_drift_verdict

    policy = TriggerPolicy()
    reference, current = features(rows, seed=1), features(rows, seed=2, scenario=scenario)
    import resource
    import time

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start, start_cpu = time.perf_counter(), cpu()
    with tempfile.TemporaryDirectory() as tmp:
        result = drift_report(
            reference,
            current,
            [c for c in reference.columns if c != "customer_segment"],
            ["customer_segment"],
            column_threshold=policy.column_drift_threshold,
            sample_size=sample_size,
            seed=policy.sample_seed,
            html_path=Path(tmp) / "report.html",
        )
    seconds, cpu_seconds = time.perf_counter() - start, cpu() - start_cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = data_drift_verdict(result.column_scores, policy)
    Path(out).write_text(
        json.dumps(
            {
                "report_seconds": seconds,
                "report_cpu_seconds": cpu_seconds,
                "peak_rss_mib": peak_mib,
                "drifted_columns": result.drifted_columns,
                "breach": verdict.breach,
                "scores": result.column_scores,
            }
        )
    )


def measure(rows: int, sample_size: int, scenario: str) -> dict[str, object]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    cmd = [sys.executable, "-m", "bench.bench_drift", "--one", str(rows), str(sample_size), scenario, out]
    # The child reports its own peak RSS: RUSAGE_CHILDREN keeps the largest child seen so far.
    wall, _ = run_measured(cmd)
    payload = json.loads(Path(out).read_text())
    os.unlink(out)
    return {**payload, "process_seconds": wall}


def main() -> None:
    from lakehouse_ml.monitoring.policy import TriggerPolicy

    sample_size = TriggerPolicy().sample_size
    sizes = [int(s) for s in os.environ.get("BENCH_DRIFT_ROWS", "100000,1000000").split(",")]
    scenarios = os.environ.get("BENCH_DRIFT_SCENARIOS", ",".join(SCENARIOS)).split(",")
    results: dict[str, object] = {"sample_size": sample_size, "sizes": {}}
    for rows in sizes:
        per_scenario = {}
        for scenario in scenarios:
            full = measure(rows, rows, scenario)
            sampled = measure(rows, sample_size, scenario)
            per_scenario[scenario] = {
                "full": {k: full[k] for k in FIELDS},
                "sampled": {k: sampled[k] for k in FIELDS},
                "time_ratio_sampled_to_full": sampled["report_seconds"] / full["report_seconds"],
                "cpu_ratio_sampled_to_full": sampled["report_cpu_seconds"] / full["report_cpu_seconds"],
                "memory_ratio_sampled_to_full": sampled["peak_rss_mib"] / full["peak_rss_mib"],
                "verdicts_agree": sampled["breach"] == full["breach"],
                "drifted_columns_agree": sampled["drifted_columns"] == full["drifted_columns"],
                "drifted_columns_full": full["drifted_columns"],
            }
        results["sizes"][str(rows)] = per_scenario
        print(json.dumps({rows: per_scenario}, indent=1, default=str), flush=True)
    largest = results["sizes"][str(max(sizes))]
    results["targets"] = {
        "largest_rows": max(sizes),
        "sampled_process_seconds_max": max(s["sampled"]["process_seconds"] for s in largest.values()),
        "sampled_report_cpu_seconds_max": max(s["sampled"]["report_cpu_seconds"] for s in largest.values()),
        "sampled_peak_rss_mib_max": max(s["sampled"]["peak_rss_mib"] for s in largest.values()),
        "within_30s": all(s["sampled"]["process_seconds"] <= 30 for s in largest.values()),
        "within_4gb": all(s["sampled"]["peak_rss_mib"] <= 4096 for s in largest.values()),
        "all_verdicts_agree": all(
            s["verdicts_agree"] for size in results["sizes"].values() for s in size.values()
        ),
    }
    report("drift", results)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        one(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        main()
