"""Benchmark helpers: per-child peak memory and percentiles."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.common import percentile, run_measured

# Each child lives long enough (0.5 s) for the 50 ms polling to see it.
ALLOCATE_100_MIB = (
    "import time; b = bytearray(100 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.5)"
)
SMALL = "import time; time.sleep(0.5)"


def test_peak_memory_is_each_childs_own_not_the_largest_so_far():
    _, big = run_measured([sys.executable, "-c", ALLOCATE_100_MIB])
    _, small = run_measured([sys.executable, "-c", SMALL])
    assert big > 100
    assert small < big - 80


def test_a_failing_command_raises():
    with pytest.raises(subprocess.CalledProcessError):
        run_measured([sys.executable, "-c", "raise SystemExit(3)"])


def test_percentiles_interpolate_between_ranks():
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 90) == pytest.approx(9.1)
