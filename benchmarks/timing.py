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


def sweep_parser(doc: str, launch: dict, default_shapes: str) -> argparse.ArgumentParser:
    """The options every Triton launch-setting sweep takes: ``--B``, ``--T``, ``--kernels`` (all of
    ``launch`` by default) and ``--shapes``; a sweep adds its own, then calls :func:`check_sweep_args`
    with the known names, ``{"--shapes": SHAPES, "--kernels": LAUNCH}``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=512)
    ap.add_argument("--kernels", default=",".join(launch))
    ap.add_argument("--shapes", default=default_shapes)
    return ap


def check_sweep_args(ap: argparse.ArgumentParser, args, known: dict[str, dict], widths: dict[str, str],
                     script: str) -> None:
    """Stop with one line on a name that a ``known`` option (name -> its known values) does not
    know, on a ``widths`` option (name -> its value) that is not a list of powers of 2 of at least
    16, or where there is no CUDA device."""
    for opt, names in known.items():
        bad = [n for n in getattr(args, opt[2:]).split(",") if n not in names]
        if bad:
            ap.error(f"{opt}: unknown {', '.join(bad)}; known: {', '.join(names)}")
    for opt, given in widths.items():
        if not all(n.isdigit() and int(n) >= 16 and not int(n) & (int(n) - 1) for n in given.split(",")):
            ap.error(f"{opt} {given}: give powers of 2 of at least 16, e.g. {opt} 32,64")
    if not torch.cuda.is_available():
        raise SystemExit(f"{script}: needs a CUDA device (it reads each kernel's CUDA time); "
                         "run it on the GPU machine")
