"""Paired significance of a run against its track's Transformer baseline.

Both runs were scored on the same items (same task data checksum), so the
test is paired: per item, the difference of the two scores (1 correct, 0.5
tie, 0 wrong). A seeded bootstrap resamples items with replacement; the
two-sided p-value is twice the smaller tail mass of the resampled mean
difference around zero. Because the item differences take at most five
distinct values, resampling is drawn exactly as multinomial counts over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
N_RESAMPLES = 2000
SEED = 20240


@dataclass(frozen=True)
class Comparison:
    """Result of one paired test: mean difference (run - baseline) and p-value."""

    diff: float
    p_value: float
    n: int

    @property
    def marker(self) -> str:
        """``"↑"`` significantly better, ``"↓"`` significantly worse, ``""`` otherwise."""
        if self.p_value >= ALPHA or self.diff == 0:
            return ""
        return "↑" if self.diff > 0 else "↓"


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_resamples: int = N_RESAMPLES,
                     seed: int = SEED) -> Comparison:
    """Paired bootstrap test of mean(a) vs mean(b) over the same items.

    Args:
        a, b: per-item scores of the two systems, same order; 2/1/0 record
            scores or any floats.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired test needs two equal 1-D item arrays, got {a.shape} and {b.shape}")
    n = a.size
    if n == 0:
        return Comparison(0.0, 1.0, 0)
    d = a - b                                                   # (n,)
    uniq, counts = np.unique(d, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=n_resamples)   # (R, k)
    means = draws @ uniq / n                                    # (R,)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return Comparison(float(d.mean()), float(min(1.0, p)), n)


def same_items(rec_a: dict, rec_b: dict) -> bool:
    """True if two records scored the same task data (checksum and item count agree)."""
    ta, tb = rec_a.get("task", {}), rec_b.get("task", {})
    return (ta.get("data_sha256") == tb.get("data_sha256") and ta.get("n_items") == tb.get("n_items")
            and bool(rec_a.get("items")) and bool(rec_b.get("items")))
