"""Timing shared by the benchmark scripts (each runs as ``python benchmarks/<name>.py``, so this
module is imported by its plain name): wall clock per call, and kernels' own CUDA time."""
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


def kernel_us(step: Callable[[], object], kernels, calls: int = 10, warmup: int = 3):
    """(``step()``'s result after ``warmup`` calls, {kernel name: mean CUDA us per call} over
    ``calls`` profiled calls) for the kernels named in ``kernels``. The profiler's kernel times
    repeat to about 1 us, where wall-clock times of whole calls were too noisy to rank launch
    settings (CUDA only)."""
    from torch.profiler import ProfilerActivity, profile
    out = [step() for _ in range(warmup)][-1]             # compile and warm up
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            step()
        torch.cuda.synchronize()
    return out, {e.key: e.device_time_total / calls for e in prof.key_averages() if e.key in kernels}


def max_rel_diff(a, b) -> float:
    """The largest max-abs difference of paired tensors, relative to the second's max-abs value."""
    return max(((x.float() - y.float()).abs().max() / y.float().abs().max()).item() for x, y in zip(a, b))


def add_timing_args(ap: argparse.ArgumentParser, batch: int = 32, seq: int = 512, iters: int = 20) -> None:
    """The options every parts benchmark takes: device, batch, sequence length, timed calls,
    and whether to skip the ``torch.compile`` column."""
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--seq", type=int, default=seq)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--no-compile", action="store_true")
