"""``babybench demo``: the offline CPU demo, end to end.

Steps (each a public API of its part, so the demo is also their integration test):

1. ``get_data("demo")``: generate the demo corpus with the project's own grammar
   (:mod:`babybench.data.grammar`), hold out dev, train the tokenizer, write shards;
2. ``train(cfg)`` for every family at the ``debug`` size with ``configs/demo.yaml``;
3. ``evaluate_run`` on the track's tasks: the grammar's held-out minimal pairs
   (``demo-pairs``) and dev perplexity/BPC;
4. ``write_track("demo")``: ``leaderboards/demo.md`` plus task pages and plots.

A model that learned the grammar's agreement scores well above the 50% chance
level on the pairs; the demo prints the table and says whether every model did.
``--quick`` is the smoke version used by the test suite (two families, few steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

FAMILIES = ["transformer", "lstm", "xlstm", "mamba", "hgrn2", "hybrid"]
QUICK_FAMILIES = ["transformer", "lstm"]
DEFAULT_STEPS = 300        # per family: ~1/3 of an epoch of the demo corpus, < 10 min for six on 2 cores
QUICK_STEPS = 20
QUICK_PAIRS_PER_GROUP = 20  # demo-pairs items per phenomenon in --quick
CHANCE = 0.5
# Debug models gain little from intra-op threads, and a recurrent model with 2 threads on a
# machine whose other core is busy ran 25x slower (OpenMP waits at every time step).
DEFAULT_THREADS = 1
DEV_POINTS = 6      # dev evaluations during training (learning curves)
DEV_TOKENS = 16384  # dev tokens per intermediate evaluation; the final one uses all of dev


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=None,
                        help=f"training steps per family (default {DEFAULT_STEPS}; {QUICK_STEPS} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke version: two families, a few steps, a subset of the pairs")
    parser.add_argument("--families", default=None,
                        help=f"comma-separated families (default: all six: {','.join(FAMILIES)})")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--out", default=None, help="leaderboard folder (default: leaderboards/ of the repo)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch CPU threads (default {DEFAULT_THREADS}; 0 = torch's default)")


def run(args: argparse.Namespace) -> int:
    families = args.families.split(",") if args.families else (QUICK_FAMILIES if args.quick else FAMILIES)
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    summary = run_demo(families, steps=steps, seed=args.seed, out_dir=args.out, quick=args.quick,
                       threads=args.threads)
    return 0 if summary["learned"] or args.quick else 1


def _train_family(family: str, steps: int, seed: int, data, quick: bool) -> Path:
    """Train one family on the demo track through the trainer's Python API."""
    from babybench.train import load_track_config, train

    overrides = [f"budget.max_steps={steps}", "runtime.device=cpu", "runtime.quiet=true"]
    if quick:  # no mid-run checkpoints for a 20-step smoke run
        overrides.append(f"runtime.ckpt_every={steps}")
    else:  # a few dev points for the learning-curve plot (on part of dev, so they stay cheap)
        overrides += [f"runtime.eval_every={max(1, steps // DEV_POINTS)}", f"runtime.eval_max_tokens={DEV_TOKENS}"]
    cfg = load_track_config("demo", overrides, {"model": {"family": family}, "seed": seed})
    command = f"babybench demo --families {family} --steps {steps} --seed {seed}" + (" --quick" if quick else "")
    return train(cfg, data=data, command=command)


def run_demo(families: list[str], steps: int = DEFAULT_STEPS, seed: int = 0, out_dir: str | Path | None = None,
             quick: bool = False, threads: int | None = None) -> dict:
    """Run the demo; return ``{"runs": {family: run_dir}, "scores": {family: (acc, bpc)},
    "learned": bool, "leaderboard": Path, "wall_s": float}``."""
    import torch

    from babybench.data import get_data
    from babybench.eval import evaluate_run
    from babybench.leaderboard import write_track

    if threads:
        torch.set_num_threads(threads)
    t0 = time.time()
    data = get_data("demo")
    print(f"demo: corpus {data.prepared.train_words} train words, vocab {data.tokenizer.vocab_size} "
          f"({time.time() - t0:.1f}s)", flush=True)
    runs, scores = {}, {}
    for family in families:
        t = time.time()
        run_dir = _train_family(family, steps, seed, data, quick)
        evaluate_run(run_dir, tasks=["demo-pairs", "perplexity"], device="cpu",
                     limit=QUICK_PAIRS_PER_GROUP if quick else None)
        runs[family] = run_dir
        scores[family] = _scores(run_dir)
        acc, bpc = scores[family]
        print(f"demo: {family:12s} demo-pairs {100 * acc:5.1f}%  dev BPC {bpc:.3f}  ({time.time() - t:.0f}s)",
              flush=True)
    paths = write_track("demo", out_dir=out_dir)
    learned = all(acc > CHANCE + 0.1 for acc, _ in scores.values())
    wall = time.time() - t0
    print(paths[0].read_text(encoding="utf-8"))
    verdict = "every model beats chance (50%) by > 10 points" if learned else \
        "NOT every model beats chance by > 10 points (try more --steps)"
    print(f"demo: {verdict}; {len(families)} families in {wall / 60:.1f} min -> {paths[0]}", flush=True)
    return {"runs": runs, "scores": scores, "learned": learned, "leaderboard": paths[0], "wall_s": wall}


def _scores(run_dir: Path) -> tuple[float, float]:
    """(demo-pairs macro accuracy, dev BPC) from the run's result records."""
    from babybench.eval.records import read_record

    pairs = read_record(run_dir / "results" / "demo-pairs.json")
    ppl = read_record(run_dir / "results" / "perplexity.json")
    return pairs["metrics"][pairs["headline"]]["value"], ppl["metrics"]["bpc"]["value"]
