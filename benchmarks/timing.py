"""Wall-clock timing shared by the benchmark scripts (each runs as ``python benchmarks/<name>.py``,
so this module is imported by its plain name)."""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch


def ms_per_call(run: Callable[[], object], iters: int, device: torch.device, warmup: int = 3) -> float:
    """Mean milliseconds of ``run()`` over ``iters`` calls after ``warmup`` calls (which absorb
    compilation and autotuning); CUDA is synchronised before and after the timed calls."""
    for _ in range(warmup):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters * 1e3


def add_timing_args(ap: argparse.ArgumentParser, batch: int = 32, seq: int = 512, iters: int = 20) -> None:
    """The options every parts benchmark takes: device, batch, sequence length, timed calls,
    and whether to skip the ``torch.compile`` column."""
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--seq", type=int, default=seq)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--no-compile", action="store_true")
