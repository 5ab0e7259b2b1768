"""Result records: one JSON file per (run, task), written atomically.

Layout (CONTRACTS, schema_version 1)::

    runs/<track>/<run_name>/results/<task>.json
    {"schema_version": 1, "run_id", "run": {run.json minus command},
     "task": {"name", "kind", "version", "data_sha256", "n_items"},
     "model_sha256",                       # addition: checksum of model.safetensors
     "metrics": {"<metric>": {"value": float, "ci95": [lo, hi] | null}},
     "headline", "higher_is_better", "groups": {"<group>": {"n", "accuracy"}},
     "items": {"encoding": "zlib-b64-u8", "n", "data"} | null,   # 2 correct, 1 tie, 0 wrong
     "ties", "command", "git_commit", "hardware", "wall_s", "created"}

Confidence intervals come from :func:`bootstrap_ci`: a seeded percentile
bootstrap over items. Resampling a group with replacement and taking its mean
is the same as drawing multinomial counts over the group's distinct values,
which is what the code does (exact, and fast for 100k items). For a macro
average each group is resampled on its own and the group means averaged.
"""

from __future__ import annotations

import base64
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from babybench.errors import BabybenchError
from babybench.io import atomic_write_json, read_json

SCHEMA_VERSION = 1
N_RESAMPLES = 1000
SEED = 1234


# ------------------------------------------------------------------ items
def encode_items(scores: Sequence[int] | np.ndarray) -> dict[str, Any]:
    """Per-item scores (0..255, usually 2/1/0) -> ``{"encoding", "n", "data"}``."""
    arr = np.asarray(scores, dtype=np.uint8)
    data = base64.b64encode(zlib.compress(arr.tobytes(), 9)).decode("ascii")
    return {"encoding": "zlib-b64-u8", "n": int(arr.size), "data": data}


def decode_items(blob: dict[str, Any] | None) -> np.ndarray | None:
    """Inverse of :func:`encode_items` (``None`` stays ``None``)."""
    if blob is None:
        return None
    if blob.get("encoding") != "zlib-b64-u8":
        raise BabybenchError(f"unknown items encoding {blob.get('encoding')!r}; expected 'zlib-b64-u8'")
    arr = np.frombuffer(zlib.decompress(base64.b64decode(blob["data"])), dtype=np.uint8)
    if arr.size != blob["n"]:
        raise BabybenchError(f"items blob holds {arr.size} values but says n={blob['n']}")
    return arr.copy()


# ------------------------------------------------------------------ bootstrap
def resample_means(values: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Bootstrap means of ``values``: multinomial counts over its distinct values. -> (n,)

    Shared by the confidence intervals here and the paired tests of the leaderboard."""
    uniq, counts = np.unique(values, return_counts=True)
    draws = rng.multinomial(values.size, counts / values.size, size=n)   # (n, k)
    return draws @ uniq / values.size


def bootstrap_ci(values: Sequence[float] | np.ndarray, groups: Sequence[Any] | None = None,
                 macro: bool = False, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean of ``values``.

    Args:
        values: per-item scores (e.g. 1, 0.5, 0 for correct, tie, wrong).
        groups: optional group label per item; resampling is then stratified
            (each group resampled on its own, sizes kept).
        macro: with ``groups``, the statistic is the unweighted mean of group
            means (BabyLM's macro average); otherwise the item mean (micro).
        n_resamples, seed, level: bootstrap settings (seeded: same input, same CI).
    Returns:
        ``(lo, hi)`` or ``None`` when there are no items.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return None
    rng = np.random.default_rng(seed)
    if groups is None:
        stats = resample_means(v, rng, n_resamples)
    else:
        g = np.asarray(groups)
        names = sorted(set(g.tolist()), key=str)
        means = np.stack([resample_means(v[g == k], rng, n_resamples) for k in names])  # (G, n)
        sizes = np.array([(g == k).sum() for k in names], dtype=np.float64)
        stats = means.mean(0) if macro else (means * sizes[:, None]).sum(0) / sizes.sum()
    a = (1 - level) / 2
    lo, hi = np.quantile(stats, [a, 1 - a])
    return float(lo), float(hi)


# ------------------------------------------------------------------ records
def record_path(run_dir: str | Path, task: str) -> Path:
    """Where the record of ``task`` for the run in ``run_dir`` lives."""
    return Path(run_dir) / "results" / f"{task}.json"


def metric(value: float, ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """One metric entry ``{"value", "ci95"}``."""
    return {"value": float(value), "ci95": None if ci is None else [float(ci[0]), float(ci[1])]}


def build_record(*, run_info: dict[str, Any], task: dict[str, Any], metrics: dict[str, dict],
                 headline: str, higher_is_better: bool, groups: dict[str, dict] | None,
                 items: np.ndarray | None, ties: int, command: str, git_commit: str,
                 hardware: str, wall_s: float, model_sha256: str | None = None) -> dict[str, Any]:
    """Assemble a schema-1 record (see module docstring)."""
    if headline not in metrics:
        raise ValueError(f"headline metric {headline!r} not among {sorted(metrics)}")
    run = {k: v for k, v in run_info.items() if k != "command"}
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_info.get("run_id"),
        "run": run,
        "task": task,
        "model_sha256": model_sha256,
        "metrics": metrics,
        "headline": headline,
        "higher_is_better": bool(higher_is_better),
        "groups": groups or {},
        "items": None if items is None else encode_items(items),
        "ties": int(ties),
        "command": command,
        "git_commit": git_commit,
        "hardware": hardware,
        "wall_s": round(float(wall_s), 3),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_record(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``<run_dir>/results/<task>.json`` atomically."""
    return atomic_write_json(record_path(run_dir, record["task"]["name"]), record)


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and check a record; one-line error when it is unreadable or of another schema."""
    p = Path(path)
    rec = read_json(p, "a corrupt result record: delete it and re-run babybench evaluate")
    if rec.get("schema_version") != SCHEMA_VERSION:
        raise BabybenchError(f"{p}: schema_version {rec.get('schema_version')} is not {SCHEMA_VERSION}; "
                             "re-run babybench evaluate --force")
    return rec
