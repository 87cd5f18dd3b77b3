"""Helpers shared by the benchmarks: machine description, timing, peak memory, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MiB of the child and its children)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, results: dict[str, object]) -> None:
    """Print results and write them to bench/results/<name>.json with the machine noted."""
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), "results": results}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, indent=2, default=str), file=sys.stdout, flush=True)


def run_sampled(
    cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.2
) -> tuple[float, float, list[tuple[float, dict[int, tuple[str, float]]]]]:
    """Run a command and sample the RSS of it and of each descendant process separately.

    Returns (start as epoch seconds, wall seconds, samples); each sample is (epoch seconds, {pid: (command,
    RSS MiB)}). Peaks per process and per time window come from the samples, unlike RUSAGE_CHILDREN, which
    only knows the largest child ever waited for. A peak shorter than ``interval`` can be missed.
    """
    import psutil

    samples: list[tuple[float, dict[int, tuple[str, float]]]] = []
    start = time.time()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    while process.poll() is None:
        snapshot: dict[int, tuple[str, float]] = {}
        for member in [root, *_children(root)]:
            try:
                snapshot[member.pid] = (" ".join(member.cmdline()[:4]), member.memory_info().rss / 2**20)
            except psutil.Error:
                continue
        samples.append((time.time(), snapshot))
        time.sleep(interval)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, cmd)
    return start, time.time() - start, samples


def _children(process) -> list:
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []
