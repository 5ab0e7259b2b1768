"""``babybench train``: one run, all six families, distilled students, or a resume.

Examples::

    babybench train --track strict-small --family hgrn2 --size 30m --seed 1 optim.lr=1e-3
    babybench train --track strict-small --all-families --distill
    babybench train --track strict-small --family transformer,hgrn2 --seed 0,1 --jobs 4
    babybench train --resume runs/strict-small/hgrn2-30m-s0

A run that is already complete (with its weights) is skipped; an unfinished
one with a checkpoint and the same config is resumed. With ``--jobs N`` the runs are
child processes, N at a time (one log per run, ``<run_dir>/train.log``);
the corpus and tokenizer are prepared once, before the first child starts.
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
    parser.add_argument("--family", help="model family, or a comma list (transformer, lstm, xlstm, mamba, "
                                           "hgrn2, hybrid)")
    parser.add_argument("--size", help="size preset (default: the track's)")
    parser.add_argument("--seed", help="seed, or a comma list such as 0,1 (default: the track's)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train up to N runs at once, as child processes (small models share a GPU well)")
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
    if status == "complete" and (run_dir / "model.safetensors").is_file():
        print(f"skip: {run_dir} is already complete", flush=True)
        return run_dir
    if status == "complete":  # e.g. checked out from git, where weights are not kept
        print(f"note: {run_dir} is recorded complete but its weights are not here; training it again",
              flush=True)
    saved = run_dir / "config.yaml"
    if status == "running" and checkpoint_path(run_dir).is_file() and saved.is_file():
        if cfgmod.read_yaml(saved) == cfgmod.to_dict(cfg):
            print(f"resume: {run_dir} has an unfinished run with this config", flush=True)
            return resume(run_dir, command=command)
    return train(cfg, command=command)


def best_teacher(track: str) -> str:
    """The completed non-distilled run of ``track`` with the lowest dev BPC, as a
    ``<track>/<run_name>`` id (what the student's run.json records: no machine's path)."""
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
    return f"{track}/{best.name}"


def _config(args, family: str, seed: int | None = None, extra: list[str] | None = None):
    from babybench.models import FAMILIES
    from babybench.train.config import load_track_config

    FAMILIES.get(family)  # a mistyped family fails here, before any data is touched
    base: dict = {"model": {"family": family}}
    if args.size:
        base["model"]["size"] = args.size
    if seed is not None:
        base["seed"] = seed
    return load_track_config(args.track, list(args.overrides) + (extra or []), base)


def _seeds(text: str | None) -> list[int | None]:
    if text is None:
        return [None]
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise BabybenchError(f"--seed {text}: give an integer or a comma list such as 0,1") from None


def _child_argv(args, family: str, seed: int | None, extra: list[str] | None) -> list[str]:
    """The ``babybench train`` arguments of one run, for a child process."""
    argv = ["train", "--track", args.track, "--family", family]
    argv += ["--size", args.size] if args.size else []
    argv += ["--seed", str(seed)] if seed is not None else []
    return argv + list(args.overrides) + list(extra or [])


def _train_jobs(args, jobs: list[tuple[str, int | None, list[str] | None]], command: str | None) -> list[str]:
    """Train ``(family, seed, extra overrides)`` runs; returns the names of those that failed."""
    failures = []
    if args.jobs <= 1:
        for family, seed, extra in jobs:
            try:
                train_one(_config(args, family, seed, extra), command)
            except BabybenchError as e:
                if len(jobs) == 1 and not args.distill:
                    raise
                name = family + ("" if seed is None else f" seed {seed}") + (" (distill)" if extra else "")
                print(f"error: {name}: {e}", file=sys.stderr, flush=True)
                failures.append(name)
        return failures
    from babybench.data import get_data
    from babybench.jobs import Job, run_jobs
    from babybench.train.loop import run_dir_for

    children, prepared = [], set()
    for family, seed, extra in jobs:
        cfg = _config(args, family, seed, extra)  # bad configs fail here, before any child starts
        resolve_corpus(cfg)
        if (cfg.corpus, cfg.data.vocab_size) not in prepared:
            get_data(cfg.corpus, cfg.data.vocab_size)
            prepared.add((cfg.corpus, cfg.data.vocab_size))
        run_dir = run_dir_for(cfg)
        children.append(Job(f"{cfg.track}/{run_dir.name}", _child_argv(args, family, seed, extra),
                            run_dir / "train.log"))
    for job, rc in zip(children, run_jobs(children, args.jobs)):
        if rc != 0:
            print(f"error: {job.name} failed (exit {rc}); its log: {job.log}", file=sys.stderr, flush=True)
            failures.append(job.name)
    return failures


def run(args: argparse.Namespace) -> int:
    command = shlex.join(["babybench", "train", *sys.argv[2:]]) if len(sys.argv) > 2 else None
    if args.resume:
        from babybench.train.loop import resume

        resume(Path(args.resume), command=command)
        return 0
    if not args.track:
        raise BabybenchError("give --track (e.g. --track demo) or --resume RUN_DIR")
    if args.all_families:
        families = ALL_FAMILIES
    else:
        families = [f.strip() for f in (args.family or "").split(",") if f.strip()]
    if not families and not args.distill:
        raise BabybenchError("give --family F, --all-families or --distill")
    seeds = _seeds(args.seed)
    failures = _train_jobs(args, [(f, s, None) for f in families for s in seeds], command)
    if args.distill:
        teacher = best_teacher(args.track)
        extra = ["objective.name=distill", f"objective.teachers=[{teacher}]"]
        failures += _train_jobs(args, [(f, s, extra) for f in DISTILL_STUDENTS for s in seeds], command)
    if failures:
        print(f"error: {len(failures)} run(s) failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
