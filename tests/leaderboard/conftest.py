"""Hand-made runs and result records for the leaderboard tests (no training, no eval)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from babybench.eval.records import encode_items

TASK_SHA = {"blimp": "b" * 64, "ewok": "e" * 64, "demo-pairs": "d" * 64, "perplexity": "p" * 64}


def make_run(root: Path, track: str, name: str, family: str, seed: int = 0, size: str = "small",
             non_emb: int = 1_000_000, bpc: float | None = 1.5, log: bool = False) -> Path:
    run_dir = root / track / name
    (run_dir / "results").mkdir(parents=True)
    info = {"run_id": f"{track}/{name}", "track": track, "run_name": name, "family": family,
            "size": size, "pattern": {"transformer": "aa", "hgrn2": "hh", "mamba": "mm", "lstm": "ll"}.get(family, "aa"),
            "seed": seed, "params": {"total": non_emb + 500_000, "non_embedding": non_emb},
            "corpus": {"name": "toy", "sha256": "c" * 64, "train_words": 10_000_000, "dev_words": 1000},
            "tokenizer": {"sha256": "t" * 64, "vocab_size": 16384},
            "train": {"epochs": 10, "words_seen": 100_000_000, "tokens_seen": 130_000_000, "steps": 1000,
                      "flops": 1e17, "wall_s": 600.0, "tokens_per_s": 216_666.7, "hardware": "test",
                      "precision": "bf16", "world_size": 1},
            "objective": {"name": "lm", "alpha": None, "temperature": None, "teachers": []},
            "dev": {"loss": 3.0, "bpc": bpc, "perplexity": 20.0}, "status": "complete",
            "git_commit": "0123456789abcdef", "command": f"babybench train --track {track} --family {family}"}
    (run_dir / "run.json").write_text(json.dumps(info))
    if log:
        rows = [{"kind": "dev", "step": s, "loss": 4.0 - s / 500, "bpc": 2.0 - s / 1000} for s in (250, 500, 1000)]
        (run_dir / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def add_record(run_dir: Path, task: str, items: np.ndarray | None = None, groups: dict | None = None,
               metrics: dict | None = None, headline: str = "macro_accuracy", higher: bool = True) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    if metrics is None:
        acc = float(items.mean() / 2)
        metrics = {"macro_accuracy": {"value": acc, "ci95": [acc - 0.01, acc + 0.01]},
                   "micro_accuracy": {"value": acc, "ci95": None}}
    rec = {"schema_version": 1, "run_id": info["run_id"], "run": {k: v for k, v in info.items() if k != "command"},
           "task": {"name": task, "kind": "minimal_pair", "version": 1, "data_sha256": TASK_SHA.get(task, "x"),
                    "n_items": None if items is None else int(items.size)},
           "metrics": metrics, "headline": headline, "higher_is_better": higher, "groups": groups or {},
           "items": None if items is None else encode_items(items), "ties": 0 if items is None else int((items == 1).sum()),
           "command": f"babybench evaluate runs/{info['run_id']} --tasks {task}", "git_commit": "0123456789abcdef",
           "hardware": "test", "wall_s": 1.0, "created": "2025-01-01T00:00:00+00:00"}
    (run_dir / "results" / f"{task}.json").write_text(json.dumps(rec))


def items_with_accuracy(n: int, acc: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < acc, 2, 0).astype(np.uint8)


@pytest.fixture
def lb():
    """The record helpers, for tests that build their own runs."""
    import types

    return types.SimpleNamespace(make_run=make_run, add_record=add_record, items=items_with_accuracy)


@pytest.fixture
def strict_runs(tmp_path) -> Path:
    """transformer (2 seeds), hgrn2 clearly better, mamba identical to the baseline, lstm without BLiMP."""
    root = tmp_path / "runs"
    base = items_with_accuracy(2000, 0.70, seed=1)
    better = base.copy()
    better[:400] = 2                                        # planted: +~12 points on the same items
    groups = {"anaphor_agreement": {"n": 1000, "accuracy": 0.7}, "npi": {"n": 1000, "accuracy": 0.71}}
    for name, fam, seed, items in [("transformer-s0", "transformer", 0, base),
                                   ("transformer-s1", "transformer", 1, items_with_accuracy(2000, 0.72, seed=2)),
                                   ("hgrn2-s0", "hgrn2", 0, better), ("mamba-s0", "mamba", 0, base.copy())]:
        d = make_run(root, "strict-small", name, fam, seed=seed, log=True)
        add_record(d, "blimp", items, groups)
        add_record(d, "ewok", items_with_accuracy(500, 0.5, seed=3))
        add_record(d, "perplexity", metrics={"bpc": {"value": 1.234, "ci95": None},
                                             "perplexity": {"value": 30.0, "ci95": None}},
                   headline="bpc", higher=False)
    d = make_run(root, "strict-small", "lstm-s0", "lstm", bpc=None)
    add_record(d, "ewok", items_with_accuracy(500, 0.5, seed=4))
    return root
