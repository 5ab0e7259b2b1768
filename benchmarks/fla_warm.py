"""Compile fla's Triton autotuning configs in parallel, before throughput.py times the fla peer.

    python benchmarks/fla_warm.py --procs 14            # GPU, fla installed; then, same TRITON_CACHE_DIR:
    python benchmarks/throughput.py --families '' --peers fla-hgrn2 --fla-unchecked

fla autotunes each of its kernels the first time it runs, compiling one config after another. For
fla HGRN2 at the 30m shape that took longer than a 5-minute run on an H200 (fla ships no tuned
configs for it). Here worker k of N keeps only configs k, k + N, ... of every autotuned kernel
(after the kernel's own pruning) and runs one training step of the peer, so that Triton's on-disk
cache ends up with every config compiled. The timed run then still tunes over all configs, but it
only has to benchmark them (about two minutes with 14 workers on an H200 machine of 16 CPU cores;
benchmarks/README.md). Workers do not store their partial tuning results (``FLA_CACHE_RESULTS=0``).
Give it the shape the timed run will use (``--size``, ``--batch``, ``--seq``, ``--vocab``): the
tuning is keyed on the shapes, and the binaries are specialised on them.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time


def share(configs: list, k: int, n: int) -> list:
    """Worker ``k`` of ``n``'s configs: every n-th from the k-th (one, cycling, when there are fewer)."""
    return configs[k::n] or [configs[k % len(configs)]]


def _worker(k: int, n: int, args) -> int:
    import torch
    from triton.runtime.autotuner import Autotuner

    prune = Autotuner.prune_configs

    def prune_share(self, *a, **kw):   # after the kernel's own pruning, which may drop a share
        return share(prune(self, *a, **kw), k, n)

    Autotuner.prune_configs = prune_share
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from throughput import _run_here, build_parser

    opts = build_parser().parse_args(["--size", args.size, "--batch", str(args.batch), "--seq", str(args.seq),
                                      "--vocab", str(args.vocab), "--steps", "1", "--warmup", "1",
                                      "--fla-unchecked"])     # eager: the mode fla was timed in
    row = _run_here(args.peer, True, opts, torch.device("cuda"))
    print(f"worker {k}/{n}: {row.get('error', 'done')}", flush=True)
    return 1 if "error" in row else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, default=max(1, min(16, (os.cpu_count() or 2) - 2)))
    p.add_argument("--peer", default="fla-hgrn2")
    p.add_argument("--size", default="30m")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        return _worker(args.worker, args.procs, args)
    import torch

    if not (torch.cuda.is_available() and importlib.util.find_spec("fla")):
        print("fla_warm: needs a CUDA GPU and the flash-linear-attention package "
              "(pip install flash-linear-attention)", file=sys.stderr)
        return 2
    t0 = time.time()
    env = dict(os.environ, FLA_CACHE_RESULTS="0")
    base = [sys.executable, os.path.abspath(__file__), "--procs", str(args.procs), "--peer", args.peer,
            "--size", args.size, "--batch", str(args.batch), "--seq", str(args.seq), "--vocab", str(args.vocab)]
    procs = [subprocess.Popen([*base, "--worker", str(k)], env=env) for k in range(args.procs)]
    failed = sum(pr.wait() != 0 for pr in procs)
    print(f"fla_warm: {args.procs} workers, {failed} failed, {time.time() - t0:.0f} s "
          f"(cache: {os.environ.get('TRITON_CACHE_DIR', '~/.triton/cache')})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
