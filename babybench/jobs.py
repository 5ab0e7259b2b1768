"""Run several babybench commands at once, as subprocesses (``--jobs N``).

Small models leave a large GPU mostly idle: one process's kernels are tiny
and it spends its time launching them, so several processes can share the
device. On one H200 the nine runs of the first tiny-track round (three
languages x three families, `small`, eager) were trained and scored side by
side in 130 s of wall time in all; each run's training took 22-102 s (its
run.json) while sharing. Sequential training was not timed in that round, so
no speed-up is claimed here.

Each command writes its output to its own log file; :func:`run_jobs` returns
the exit statuses in the order the jobs were given.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Job:
    """One ``babybench`` command line to run in a child process."""

    name: str
    """Shown in the start / done lines (e.g. ``tiny-de/hgrn2-small-s0``)."""
    argv: list[str]
    """The arguments after ``babybench``, e.g. ``["train", "--track", "demo", ...]``."""
    log: Path
    """Where the child's stdout and stderr go (overwritten)."""


def run_jobs(jobs: list[Job], n_parallel: int, poll_s: float = 0.2) -> list[int]:
    """Run ``jobs`` with at most ``n_parallel`` at a time; returns their exit statuses.

    On Ctrl-C every running child is terminated before the interrupt goes on.
    """
    pending, running, status = list(enumerate(jobs)), {}, {}
    try:
        while pending or running:
            while pending and len(running) < max(1, n_parallel):
                i, job = pending.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                out = open(job.log, "w", encoding="utf-8")
                proc = subprocess.Popen([sys.executable, "-m", "babybench", *job.argv],
                                        stdout=out, stderr=subprocess.STDOUT)
                running[proc] = (i, job, out, time.perf_counter())
                print(f"start: {job.name} (log: {job.log})", flush=True)
            time.sleep(poll_s)
            for proc in [p for p in running if p.poll() is not None]:
                i, job, out, t0 = running.pop(proc)
                out.close()
                status[i] = proc.returncode
                what = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}; see {job.log})"
                print(f"{what}: {job.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    except KeyboardInterrupt:
        for proc, (_, _, out, _) in running.items():
            proc.terminate()
            proc.wait()
            out.close()
        raise
    return [status[i] for i in range(len(jobs))]
