"""Forward + backward time of HGRN2's chunked GLA (``gla_chunked``) per chunk / sub-chunk size.

    python benchmarks/gla_chunks.py                 # GPU: B=32, T=512, 4 heads of 128 x 128 (30m)
    python benchmarks/gla_chunks.py --device cpu --batch 2 --seq 128 --iters 2   # smoke test

Each (chunk, sub-chunk) pair is timed eager and ``torch.compile``d (bf16 inputs, fp32
log-decays as HGRN2 passes them), and its output is compared with the step-by-step
reference (``gla_recurrent``, fp32) as a relative L2 error, so a fast setting that
loses accuracy shows. A tool for choosing HGRN2's defaults.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from babybench.models.kernels.gla import gla_chunked, gla_recurrent
from timing import add_timing_args, ms_per_call


def fwd_bwd(fn, args):
    def run():
        o, _ = fn(*args)
        o.float().sum().backward()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(ap)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128, help="key = value width per head")
    ap.add_argument("--pairs", default="32x8,32x16,64x8,64x16",
                    help="chunk x sub-chunk pairs (each compiles anew: about a minute per pair on a GPU)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    B, T, H, K = args.batch, args.seq, args.heads, args.dim
    gen = torch.Generator(device=dev).manual_seed(0)
    leaf = lambda t: t.requires_grad_()  # noqa: E731
    q = leaf(F.silu(torch.randn(B, T, H, K, device=dev, generator=gen)).bfloat16())
    logf = F.logsigmoid(torch.randn(B, T, H, K, device=dev, generator=gen) + 2)
    k = leaf(-torch.expm1(logf).bfloat16())
    v = leaf(torch.randn(B, T, H, K, device=dev, generator=gen).bfloat16())
    logf = leaf(logf)
    with torch.no_grad():
        ref, _ = gla_recurrent(q.float(), k.float(), v.float(), logf)
    print(f"| chunk x sub ({dev.type}, B={B}, T={T}, H={H}, K=V={K}) | rel. error | eager ms | "
          "compiled ms |\n|---|---:|---:|---:|")
    for pair in args.pairs.split(","):
        C, sub = (int(n) for n in pair.split("x"))
        fn = lambda q, k, v, g, C=C, sub=sub: gla_chunked(q, k, v, g, chunk_size=C, sub_chunk=sub)  # noqa: E731
        with torch.no_grad():
            o, _ = fn(q, k, v, logf)
        err = ((o.float() - ref).norm() / ref.norm()).item()
        eager = ms_per_call(fwd_bwd(fn, (q, k, v, logf)), args.iters, dev)
        comp = "-" if args.no_compile else \
            f"{ms_per_call(fwd_bwd(torch.compile(fn), (q, k, v, logf)), args.iters, dev):.3f}"
        print(f"| {C} x {sub} | {err:.1e} | {eager:.3f} | {comp} |", flush=True)


if __name__ == "__main__":
    main()
