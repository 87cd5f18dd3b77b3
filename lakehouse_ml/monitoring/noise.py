"""How large a drift score gets by chance alone, for the sizes compared: the per-column noise floor.

A distance between two samples of one distribution is not zero: for n rows per side the normed
Wasserstein and Jensen-Shannon distances shrink like 1/sqrt(n). With a few hundred rows (the month's
newcomers of a small customer base) chance alone passes the fixed 0.1 threshold about half the time;
with tens of thousands it stays far below. The floor is the ``quantile`` of the column's score over
random re-splits of the pooled rows (a permutation null: same sizes, no drift by construction). The
permutations run on at most ``max_rows`` rows per side and the floor is scaled to the real sizes by
the 1/sqrt(effective n) law, so the cost does not grow with the data.

Same distances as Evidently's pinned methods (``lakehouse_ml/monitoring/drift.py``): Wasserstein
normed by the reference's standard deviation, Jensen-Shannon distance of category frequencies.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    from scipy import stats

    return float(stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    from scipy.spatial import distance

    categories, codes = np.unique(np.concatenate([reference, current]), return_inverse=True)
    ref = np.bincount(codes[: len(reference)], minlength=len(categories)) / len(reference)
    cur = np.bincount(codes[len(reference) :], minlength=len(categories)) / len(current)
    return float(distance.jensenshannon(ref, cur))


def _effective(n_reference: int, n_current: int) -> float:
    return n_reference * n_current / (n_reference + n_current)


def noise_floors(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    *,
    permutations: int,
    quantile: float,
    max_rows: int,
    seed: int,
) -> dict[str, float]:
    """Per column, the ``quantile`` of its drift score when reference and current are re-split at random."""
    rng = np.random.default_rng(seed)
    sizes = [min(len(reference), max_rows), min(len(current), max_rows)]
    scale = math.sqrt(_effective(*sizes) / _effective(len(reference), len(current)))
    floors = {}
    for column, distance_of in [
        *((c, normed_wasserstein) for c in numerical),
        *((c, jensen_shannon) for c in categorical),
    ]:
        kind = float if distance_of is normed_wasserstein else str
        pooled = np.concatenate(
            [
                rng.choice(reference[column].to_numpy().astype(kind), sizes[0], replace=False),
                rng.choice(current[column].to_numpy().astype(kind), sizes[1], replace=False),
            ]
        )
        null = []
        for _ in range(permutations):
            shuffled = rng.permutation(pooled)
            null.append(distance_of(shuffled[: sizes[0]], shuffled[sizes[0] :]))
        floors[column] = float(np.quantile(null, quantile)) * scale
    return floors
