"""Paired significance of a run against its track's Transformer baseline.

Both runs were scored on the same items (same task data checksum), so the
test is paired: per item, the difference of the two scores (1 correct, 0.5
tie, 0 wrong). A seeded bootstrap resamples items with replacement; the
two-sided p-value is twice the smaller tail mass of the resampled mean
difference around zero. Because the item differences take at most five
distinct values, resampling is drawn exactly as multinomial counts over them.

The test is always of the headline itself, so a marker never contradicts the
numbers beside it (:func:`headline_test`): the item mean when the headline is
one (BEAR), or the macro mean when the headline averages paradigms or domains
(BLiMP, CLAMS, EWoK), with items resampled within each group. Records do not
store a label per item; :func:`item_groups` rebuilds them from the per-group
counts and accepts them only when they reproduce every stored accuracy. A
headline that is neither (GLUE's average of accuracy, F1 and MCC) is not tested.
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
                     seed: int = SEED, groups: np.ndarray | None = None) -> Comparison:
    """Paired bootstrap test of mean(a) vs mean(b) over the same items.

    Args:
        a, b: per-item scores of the two systems, same order; 2/1/0 record
            scores or any floats.
        groups: optional group label per item. The statistic is then the
            macro mean (unweighted mean of the group means), and items are
            resampled within their group.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired test needs two equal 1-D item arrays, got {a.shape} and {b.shape}")
    n = a.size
    if n == 0:
        return Comparison(0.0, 1.0, 0)
    from babybench.eval.records import resample_means  # lazy: babybench.eval pulls in torch

    d = a - b                                                   # (n,)
    rng = np.random.default_rng(seed)
    if groups is None:
        diff, means = d.mean(), resample_means(d, rng, n_resamples)
    else:
        g = np.asarray(groups)
        if g.shape != d.shape:
            raise ValueError(f"groups has shape {g.shape}, items {d.shape}")
        parts = [d[g == k] for k in np.unique(g)]
        diff = np.mean([p.mean() for p in parts])
        means = np.mean([resample_means(p, rng, n_resamples) for p in parts], axis=0)   # (R,)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return Comparison(float(diff), float(min(1.0, p)), n)


def item_groups(rec: dict, items: np.ndarray) -> np.ndarray | None:
    """A group index per item, or None when the record's item layout cannot be confirmed.

    Minimal-pair records list their items paradigm after paradigm in sorted
    order, as their ``groups`` are keyed. The labels rebuilt from the group
    sizes are accepted only if each segment's accuracy equals the stored one
    (BEAR, GLUE and any other layout fail this and get None).
    """
    groups = rec.get("groups") or {}
    names = sorted(groups)
    sizes = [int(groups[k].get("n", 0)) for k in names]
    if not names or sum(sizes) != items.size:
        return None
    labels = np.repeat(np.arange(len(names)), sizes)
    for i, k in enumerate(names):
        acc = groups[k].get("accuracy")
        if acc is None or abs(items[labels == i].mean() / 2 - float(acc)) > 1e-9:
            return None
    return labels


def same_items(rec_a: dict, rec_b: dict) -> bool:
    """True if two records scored the same task data (checksum and item count agree)."""
    ta, tb = rec_a.get("task", {}), rec_b.get("task", {})
    return (ta.get("data_sha256") == tb.get("data_sha256") and ta.get("n_items") == tb.get("n_items")
            and bool(rec_a.get("items")) and bool(rec_b.get("items")))


def headline_test(rec: dict, items: np.ndarray) -> tuple[bool, np.ndarray | None]:
    """``(testable, groups)``: whether the record's headline is the item mean (groups None)
    or the macro mean over :func:`item_groups` (groups given); ``(False, None)`` if neither."""
    m = (rec.get("metrics") or {}).get(rec.get("headline", "")) or {}
    value = m.get("value")
    if value is None or items is None or items.size == 0:
        return False, None
    scores = items.astype(np.float64) / 2
    if abs(scores.mean() - value) < 1e-9:
        return True, None
    groups = item_groups(rec, items)
    if groups is not None and abs(np.mean([scores[groups == k].mean() for k in np.unique(groups)]) - value) < 1e-9:
        return True, groups
    return False, None
