"""``babybench train``: one run, all six families, distilled students, or a resume.

Examples::

    babybench train --track strict-small --family hgrn2 --size 30m --seed 1 optim.lr=1e-3
    babybench train --track strict-small --all-families --distill
    babybench train --resume runs/strict-small/hgrn2-30m-s0

A run that is already complete is skipped; an unfinished one with a
checkpoint and the same config is resumed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from babybench import config as cfgmod
from babybench.errors import BabybenchError
from babybench.io import data_dir, runs_dir

ALL_FAMILIES = ["transformer", "lstm", "xlstm", "mamba", "hgrn2", "hybrid"]
DISTILL_STUDENTS = ["hgrn2", "hybrid"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--track", help="track name: configs/<track>.yaml (demo, strict-small, ...)")
    parser.add_argument("--family", help="model family (transformer, lstm, xlstm, mamba, hgrn2, hybrid)")
    parser.add_argument("--size", help="size preset (default: the track's)")
    parser.add_argument("--seed", type=int, help="seed (default: the track's)")
    parser.add_argument("--all-families", action="store_true",
                        help="train the six families, parameter-matched, on the shared tokenizer")
    parser.add_argument("--distill", action="store_true",
                        help="then distil hgrn2 and hybrid students from the best run of the track by dev BPC")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted config overrides, e.g. optim.lr=1e-3 budget.max_steps=100")


def resolve_corpus(cfg) -> None:
    """Switch to ``corpus_fallback`` (with a notice) when the corpus's data folder is missing."""
    if not cfg.corpus_fallback:
        return
    root = data_dir(required=False)
    if root is not None and (root / "corpora" / cfg.corpus).is_dir():
        print(f"notice: corpus {cfg.corpus} (from {root / 'corpora' / cfg.corpus})", flush=True)
        return
    where = f"{root / 'corpora' / cfg.corpus} not found" if root else "BABYBENCH_DATA is not set"
    print(f"notice: {where}; using corpus '{cfg.corpus_fallback}' instead of "
          f"'{cfg.corpus}' (recorded in config.yaml and run.json)", flush=True)
    cfg.corpus, cfg.corpus_fallback = cfg.corpus_fallback, None


def _status(run_dir: Path) -> str | None:
    from babybench.train.run import read_run_json

    if not (run_dir / "run.json").is_file():
        return None
    try:
        return read_run_json(run_dir).get("status")
    except BabybenchError:
        return None


def train_one(cfg, command: str) -> Path:
    """Train ``cfg`` unless complete; resume an unfinished run with the same config."""
    from babybench.train.checkpoint import checkpoint_path
    from babybench.train.loop import resume, run_dir_for, train

    resolve_corpus(cfg)
    run_dir = run_dir_for(cfg)
    status = _status(run_dir)
    if status == "complete":
        print(f"skip: {run_dir} is already complete", flush=True)
        return run_dir
    saved = run_dir / "config.yaml"
    if status == "running" and checkpoint_path(run_dir).is_file() and saved.is_file():
        if cfgmod.read_yaml(saved) == cfgmod.to_dict(cfg):
            print(f"resume: {run_dir} has an unfinished run with this config", flush=True)
            return resume(run_dir, command=command)
    return train(cfg, command=command)


def best_teacher(track: str) -> Path:
    """The completed non-distilled run of ``track`` with the lowest dev BPC."""
    from babybench.train.run import read_run_json

    best, best_bpc = None, float("inf")
    for p in sorted((runs_dir() / track).glob("*/run.json")):
        try:
            info = read_run_json(p.parent)
        except BabybenchError:
            continue
        bpc = (info.get("dev") or {}).get("bpc")
        obj = (info.get("objective") or {}).get("name")
        if info.get("status") == "complete" and obj == "lm" and bpc is not None and bpc < best_bpc:
            best, best_bpc = p.parent, bpc
    if best is None:
        raise BabybenchError(f"--distill: no completed lm run under {runs_dir() / track} to use as "
                             "teacher; train one first (e.g. --all-families)")
    print(f"distill: teacher {best.name} (dev bpc {best_bpc:.4f})", flush=True)
    return best


def _config(args, family: str, extra: list[str] | None = None):
    from babybench.models import FAMILIES
    from babybench.train.config import load_track_config

    FAMILIES.get(family)  # a mistyped family fails here, before any data is touched
    base: dict = {"model": {"family": family}}
    if args.size:
        base["model"]["size"] = args.size
    if args.seed is not None:
        base["seed"] = args.seed
    return load_track_config(args.track, list(args.overrides) + (extra or []), base)


def run(args: argparse.Namespace) -> int:
    command = shlex.join(["babybench", "train", *sys.argv[2:]]) if len(sys.argv) > 2 else None
    if args.resume:
        from babybench.train.loop import resume

        resume(Path(args.resume), command=command)
        return 0
    if not args.track:
        raise BabybenchError("give --track (e.g. --track demo) or --resume RUN_DIR")
    families = ALL_FAMILIES if args.all_families else ([args.family] if args.family else [])
    if not families and not args.distill:
        raise BabybenchError("give --family F, --all-families or --distill")
    failures = []
    jobs = [(f, None) for f in families]
    for i, (family, extra) in enumerate(jobs):
        try:
            train_one(_config(args, family, extra), command)
        except BabybenchError as e:
            if len(families) == 1 and not args.distill:
                raise
            print(f"error: {family}: {e}", file=sys.stderr, flush=True)
            failures.append(family)
    if args.distill:
        teacher = str(best_teacher(args.track))
        for family in DISTILL_STUDENTS:
            extra = ["objective.name=distill", f"objective.teachers=[{teacher}]"]
            try:
                train_one(_config(args, family, extra), command)
            except BabybenchError as e:
                print(f"error: {family} (distill): {e}", file=sys.stderr, flush=True)
                failures.append(f"{family}-distill")
    if failures:
        print(f"error: {len(failures)} run(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
