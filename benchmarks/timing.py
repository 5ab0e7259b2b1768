"""Wall-clock timing shared by the benchmark scripts (each runs as ``python benchmarks/<name>.py``,
so this module is imported by its plain name)."""
from __future__ import annotations

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
