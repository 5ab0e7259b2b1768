"""Launch-setting sweep for babybench's Triton GLA kernels (CUDA only).

    python benchmarks/gla_triton_sweep.py

For the Mamba-2 (16 heads of 64) and mLSTM (8 heads of 124, padded to 128) shapes of the
30m preset at B=32, T=512, bf16, times fwd+bwd of ``simple_gla_triton`` for each setting of
warps and pipelining stages of one kernel at a time (the others at ``LAUNCH``'s values), next
to the chunked PyTorch form. Settings that do not fit in shared memory print as such.
"""
from __future__ import annotations

import argparse
import importlib
import itertools

import torch
import triton

GT = importlib.import_module("babybench.models.kernels.gla_triton")
G = importlib.import_module("babybench.models.kernels.gla")


def bench(fn, ins):
    def step():
        xs = [x.detach().requires_grad_() for x in ins]
        fn(*xs).float().sum().backward()
    return triton.testing.do_bench(step, warmup=25, rep=100, return_mode="median")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--T", type=int, default=512)
    ap.add_argument("--kernels", default="_grads,_out_fwd,_states_fwd,_states_bwd")
    args = ap.parse_args()
    for name, H, K in (("mamba", 16, 64), ("mlstm", 8, 128)):
        q, k, v = (torch.randn(args.B, args.T, H, K, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        g = -torch.rand(args.B, args.T, H, device="cuda") * 0.1
        ins = (q, k * K ** -0.5, v, g)
        chunked = bench(lambda *a: G.simple_gla_chunked(*a)[0], ins)
        print(f"{name} H={H} K=V={K}: chunked torch {chunked:.3f} ms", flush=True)
        for kern in args.kernels.split(","):
            base = dict(GT.LAUNCH[kern])
            for w, s in itertools.product((4, 8), (1, 2, 3)):
                GT.LAUNCH[kern] = {"num_warps": w, "num_stages": s}
                try:
                    ms = f"{bench(lambda *a: GT.simple_gla_triton(*a), ins):.3f} ms"
                except Exception as e:  # noqa: BLE001 - out of shared memory is an answer here
                    ms = type(e).__name__
                print(f"  {kern} warps={w} stages={s}: {ms}", flush=True)
            GT.LAUNCH[kern] = base


if __name__ == "__main__":
    main()
