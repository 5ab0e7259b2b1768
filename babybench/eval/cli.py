"""``babybench evaluate [RUN_DIR ...] [--all] [--track T] [--tasks a,b] [--force]``.

Scores runs on their tasks and writes ``results/<task>.json`` records.
``--all`` walks every run under ``runs_dir()`` (optionally one track) and
scores only what lacks a current record, so an interrupted sweep resumes.
``--jobs N`` scores up to N runs at once in child processes (one log per
run, ``<run_dir>/evaluate.log``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babybench.errors import BabybenchError
from babybench.io import runs_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders or <track>/<run_name> ids")
    parser.add_argument("--all", action="store_true", help="every run under runs_dir() lacking current records")
    parser.add_argument("--track", help="with --all: only this track")
    parser.add_argument("--tasks", help="comma-separated task names (default: the run's track tasks)")
    parser.add_argument("--force", action="store_true", help="re-score even when a current record exists")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--limit", type=int, help="at most N items per group (quick check; record marked)")
    parser.add_argument("--list", action="store_true", help="list the registered tasks and exit")
    parser.add_argument("--jobs", type=int, default=1, help="score up to N runs at once, as child processes")


def find_runs(track: str | None = None) -> list[Path]:
    """Every finished run folder (``run.json`` with status complete) under ``runs_dir()``."""
    import json

    root = runs_dir() / track if track else runs_dir()
    out = []
    for p in sorted(root.glob("**/run.json")):
        try:
            status = json.loads(p.read_text()).get("status")
        except (OSError, ValueError):
            continue
        if status in (None, "complete") and (p.parent / "model.safetensors").is_file():
            out.append(p.parent)
    return out


def _progress_factory(progress):
    def make(label: str, total: int):
        task = progress.add_task(label, total=total)
        return lambda n: progress.advance(task, n)
    return make


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from babybench.eval import evaluate_run, load_tasks
    from babybench.eval.records import read_record

    if args.list:
        from babybench.eval.tasks import TASKS

        for name in load_tasks():
            spec = TASKS.get(name)
            print(f"{name:18s} {spec.kind:14s} v{spec.version}  {spec.description.splitlines()[0][:70]}")
        return 0
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    runs = [Path(r) for r in args.runs]
    if args.all:
        runs += find_runs(args.track)
    if not runs:
        raise BabybenchError("no runs to evaluate; name RUN_DIRs or use --all (runs_dir: "
                             f"{runs_dir()})")
    if args.jobs > 1 and len(runs) > 1:
        return _run_parallel(args, runs)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as progress:
        make = _progress_factory(progress)
        paths = []
        for r in runs:
            paths += evaluate_run(r, tasks, device=args.device, force=args.force, limit=args.limit,
                                  progress=make)
    for p in paths:
        rec = read_record(p)
        h = rec["headline"]
        m = rec["metrics"][h]
        ci = f" [{m['ci95'][0]:.4f}, {m['ci95'][1]:.4f}]" if m["ci95"] else ""
        print(f"{rec['run_id']}  {rec['task']['name']:18s} {h} = {m['value']:.4f}{ci}  -> {p}")
    return 0


def _run_parallel(args: argparse.Namespace, runs: list[Path]) -> int:
    """Each run in its own ``babybench evaluate`` child, ``args.jobs`` at a time."""
    from babybench.jobs import Job, run_jobs
    from babybench.train.run import resolve_run_dir

    flags = [f"--{k}={v}" for k, v in (("tasks", args.tasks), ("device", args.device), ("limit", args.limit))
             if v is not None] + (["--force"] if args.force else [])
    jobs = []
    for r in runs:
        d = resolve_run_dir(r)  # a bad run folder fails here, before any child starts
        jobs.append(Job(f"{d.parent.name}/{d.name}", ["evaluate", str(d), *flags], d / "evaluate.log"))
    failed = [j.name for j, rc in zip(jobs, run_jobs(jobs, args.jobs)) if rc != 0]
    if failed:
        print(f"error: {len(failed)} run(s) failed to evaluate: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
