"""Helpers shared by the benchmarks: machine description, timing, peak memory, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POLL_SECONDS = 0.05


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
    """Run a command; return (wall seconds, peak RSS in MiB of its largest process).

    The peak is each process's own high-water mark (``VmHWM``), polled over the child and its
    descendants. Neither ``RUSAGE_CHILDREN`` (the maximum over every child so far) nor ``wait4``
    works here: Linux carries the forking parent's peak into the child's ``ru_maxrss``.
    """
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    peak_kib = 0
    while True:
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            members = []
        peak_kib = max([peak_kib, *(_high_water_kib(member.pid) for member in members)])
        try:
            process.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, cmd)
    return wall, peak_kib / 1024


def _high_water_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited between listing and reading
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0  # a zombie has no memory left to report


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1..99), interpolated between the closest ranks."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


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
