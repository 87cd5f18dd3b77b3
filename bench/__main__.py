"""Run every benchmark (``make bench``) or the ones named: ``python -m bench load features``.

Each ``bench/bench_<name>.py`` has a ``main()`` that measures against a baseline in the same run
and writes ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(names: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    unknown = set(names) - set(available)
    if unknown:
        print(f"unknown benchmarks {sorted(unknown)}; available: {available}")
        return 2
    for name in names or available:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
