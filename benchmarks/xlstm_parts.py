"""Forward + backward time of the xLSTM block's parts, fast form against the alternatives.

    python benchmarks/xlstm_parts.py            # GPU: B=32, T=512, the 30m block (di=992, 8 heads)
    python benchmarks/xlstm_parts.py --device cpu --batch 2 --seq 128 --iters 2   # smoke test
    python benchmarks/xlstm_parts.py --only "GLA form"   # the cases whose name holds a string

Times, per call, bf16 autocast, eager and ``torch.compile``d: the short causal conv
(``F.conv1d`` vs shift-and-add; with its SiLU, shift-and-add vs, on CUDA, babybench's Triton kernels), the mLSTM cell (``mlstm_chunked`` vs ``mlstm_gla``), and the
block-diagonal q/k/v map (fused broadcast products vs a batched 4x4 einsum vs one dense
matmul with the blocks expanded vs the ``torch.block_diag`` reference vs, on CUDA, babybench's
Triton kernels). The GLA form runs with its head widths padded to multiples of 16 (its CUDA
default) and unpadded, at chunk 64 (the default) and 128, and (CUDA) on babybench's Triton
kernel. A diagnosis tool for choosing the fast paths.
"""
from __future__ import annotations

import argparse
from functools import partial

import torch
import torch.nn.functional as F

from babybench.models.kernels import triton_available
from babybench.models.kernels.conv import causal_conv1d, causal_conv1d_ref
from babybench.models.kernels.mlstm import mlstm_chunked, mlstm_gla
from babybench.models.xlstm import block_diag_dense, block_diag_einsum, block_diag_linear_ref, block_diag_products
from timing import add_timing_args, ms_per_call


def _block_diag_triton(x, weight):
    from babybench.models.kernels.blockdiag_triton import block_diag_triton  # needs triton
    return block_diag_triton(x, weight)


def _conv_silu_triton(x, weight, bias):
    from babybench.models.kernels.conv_triton import causal_conv1d_silu_triton  # needs triton
    return causal_conv1d_silu_triton(x, weight, bias)


def _conv_silu_taps(x, weight, bias):
    return F.silu(causal_conv1d_ref(x, weight, bias)[0])


def fwd_bwd(fn, args, device):
    def run():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            y = fn(*args)
        (y[0] if isinstance(y, tuple) else y).float().sum().backward()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(ap)
    ap.add_argument("--inner", type=int, default=992, help="the block's inner width di")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    args = ap.parse_args()
    dev = torch.device(args.device)
    B, T, C, H = args.batch, args.seq, args.inner, args.heads
    leaf = lambda *s, dtype=torch.bfloat16: torch.randn(*s, device=dev, dtype=dtype).requires_grad_()  # noqa: E731
    x = leaf(B, T, C)
    q, k, v = (leaf(B, T, H, C // H) for _ in range(3))
    i, f = leaf(B, T, H, dtype=torch.float32), leaf(B, T, H, dtype=torch.float32)
    cases = [
        ("conv: F.conv1d", causal_conv1d, (x, leaf(C, 4, dtype=torch.float32), None)),
        ("conv: shift-and-add", causal_conv1d_ref, (x, leaf(C, 4, dtype=torch.float32), None)),
        ("conv + SiLU: shift-and-add, then SiLU", _conv_silu_taps,
         (x, leaf(C, 4, dtype=torch.float32), leaf(C, dtype=torch.float32))),
        ("conv + SiLU: babybench Triton kernels", _conv_silu_triton,
         (x, leaf(C, 4, dtype=torch.float32), leaf(C, dtype=torch.float32))),
        ("mLSTM cell: chunked", mlstm_chunked, (q, k, v, i, f)),
        ("mLSTM cell: GLA form, heads padded to 16", partial(mlstm_gla, align=16), (q, k, v, i, f)),
        ("mLSTM cell: GLA form, unpadded", partial(mlstm_gla, align=1), (q, k, v, i, f)),
        ("mLSTM cell: GLA form, padded, chunk 128", partial(mlstm_gla, align=16, chunk_size=128), (q, k, v, i, f)),
        ("mLSTM cell: GLA form, babybench Triton kernel", partial(mlstm_gla, backend="triton"), (q, k, v, i, f)),
        ("block-diag 4x4: fused products", block_diag_products, (x, leaf(C // 4, 4, 4, dtype=torch.float32))),
        ("block-diag 4x4: batched einsum", block_diag_einsum, (x, leaf(C // 4, 4, 4, dtype=torch.float32))),
        ("block-diag 4x4: dense matmul (compiled CUDA without the kernels)", block_diag_dense,
         (x, leaf(C // 4, 4, 4, dtype=torch.float32))),
        ("block-diag 4x4: dense reference", block_diag_linear_ref, (x, leaf(C // 4, 4, 4, dtype=torch.float32))),
        ("block-diag 4x4: babybench Triton kernel", _block_diag_triton, (x, leaf(C // 4, 4, 4, dtype=torch.float32))),
    ]
    if not (dev.type == "cuda" and triton_available()):
        cases = [c for c in cases if "Triton" not in c[0]]
    print(f"| part ({dev.type}, B={B}, T={T}, di={C}, H={H}) | eager ms | compiled ms |\n|---|---:|---:|")
    for name, fn, a in (c for c in cases if args.only in c[0]):
        eager = ms_per_call(fwd_bwd(fn, a, dev), args.iters, dev)
        comp = "-" if args.no_compile else f"{ms_per_call(fwd_bwd(torch.compile(fn), a, dev), args.iters, dev):.3f}"
        print(f"| {name} | {eager:.3f} | {comp} |", flush=True)


if __name__ == "__main__":
    main()
