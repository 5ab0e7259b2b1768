"""Launch-setting sweep for babybench's Triton conv + SiLU kernels (CUDA only).

    python benchmarks/conv_triton_sweep.py [--shapes xlstm,mamba] [--kernels _conv_fwd] [--json best.json]

At the 30m blocks' shapes (B=32, T=512, bf16; x a strided slice of the projection, as in the
models) runs fwd + bwd of ``causal_conv1d_silu_triton`` for each tile (rows x channels) and warp
count of one kernel at a time, the others at ``LAUNCH``'s values, and prints each kernel's own
CUDA time from the profiler (mean of 10 calls), then the fastest setting per kernel. ``--json``
writes those settings (per shape) to a file. Outputs and gradients must match the ``LAUNCH`` run
to 1e-5 (relative; the weight-gradient sums change order with the row tile), or the setting is marked.
"""
from __future__ import annotations

import importlib
import itertools
import json

import torch
from timing import check_sweep_args, kernel_us, max_rel_diff, sweep_parser

CT = importlib.import_module("babybench.models.kernels.conv_triton")
#: (channels, row stride of the projection the conv input is sliced from, offset of the slice)
SHAPES = {"xlstm": (992, 1984, 0), "mamba": (1152, 2192, 1024)}


def kernel_times(ins, dy, off, calls=10):
    """(outputs and gradients, {kernel: mean CUDA us}) of ``calls`` fwd + bwd runs; the conv input
    is ``ins[0]``'s channels from ``off`` on."""
    C = ins[1].shape[0]

    def step():
        xs = [t.detach().requires_grad_() for t in ins]
        y = CT.causal_conv1d_silu_triton(xs[0][..., off:off + C], xs[1], xs[2])
        y.backward(dy)
        return [y] + [t.grad for t in xs]
    return kernel_us(step, CT.LAUNCH, calls)


def main():
    ap = sweep_parser(__doc__, CT.LAUNCH, "xlstm")
    ap.add_argument("--rows", default="32,64,128")
    ap.add_argument("--channels", default="64,128,256")
    ap.add_argument("--json", default="", help="write the fastest setting per shape and kernel here")
    args = ap.parse_args()
    check_sweep_args(ap, args, {"--shapes": SHAPES, "--kernels": CT.LAUNCH},
                     {"--rows": args.rows, "--channels": args.channels}, "conv_triton_sweep.py")
    torch.manual_seed(0)
    best = {}
    for name in args.shapes.split(","):
        C, width, off = SHAPES[name]
        ins = (torch.randn(args.B, args.T, width, device="cuda", dtype=torch.bfloat16),
               torch.randn(C, 4, device="cuda") * 0.5, torch.randn(C, device="cuda"))
        dy = torch.randn(args.B, args.T, C, device="cuda", dtype=torch.bfloat16)
        ref, times = kernel_times(ins, dy, off)
        print(f"{name} (B={args.B}, T={args.T}, {C} channels), LAUNCH: "
              + ", ".join(f"{n} {t:.1f} us" for n, t in times.items()), flush=True)
        best[name] = {}
        for kern in args.kernels.split(","):
            base, found = dict(CT.LAUNCH[kern]), []
            for br, bc, nw in itertools.product(map(int, args.rows.split(",")), map(int, args.channels.split(",")), (4, 8)):
                CT.LAUNCH[kern] = {"BR": br, "BC": bc, "num_warps": nw}
                try:
                    outs, times = kernel_times(ins, dy, off)
                    diff = max_rel_diff(outs, ref)
                    got = f"{times[kern]:6.1f} us (all three {sum(times.values()):.1f}), diff {diff:.0e}"
                    if diff < 1e-5:
                        found.append((times[kern], dict(CT.LAUNCH[kern])))
                    else:
                        got += "  DIFFERS"
                except Exception as e:  # noqa: BLE001 - a setting that does not compile is an answer here
                    got = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
                print(f"  {kern} BR={br} BC={bc} warps={nw}: {got}", flush=True)
            CT.LAUNCH[kern] = base
            if found:
                t, setting = min(found, key=lambda f: f[0])
                best[name][kern] = setting
                print(f"  fastest {kern}: {setting} {t:.1f} us", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(best, f, indent=1)


if __name__ == "__main__":
    main()
