"""Launch-setting sweep for babybench's Triton GLA kernels (CUDA only).

    python benchmarks/gla_triton_sweep.py [--kernels _grads,_states_fwd] [--shapes mlstm] [--bv 64,128]

For the Mamba-2 (16 heads of 64) and mLSTM (8 heads of 124, padded to 128) shapes of the
30m preset at B=32, T=512, bf16, runs fwd+bwd of ``simple_gla_triton`` for each setting
(value block width BV, warps, pipelining stages) of one kernel at a time, the others at
``LAUNCH``'s values (``LAUNCH_SMALL_K`` is off for the kernel swept), and prints each
kernel's own CUDA time from the profiler (mean of 10 calls). Wall-clock timing of the whole
call was too noisy to rank settings (earlier sessions); the profiler's kernel times repeat to
about 1 us. Settings that do not fit print the error. The largest relative difference of the
outputs and gradients from the ``LAUNCH`` run is printed too.
"""
from __future__ import annotations

import importlib
import itertools

import torch
from timing import check_sweep_args, kernel_us, max_rel_diff, sweep_parser

GT = importlib.import_module("babybench.models.kernels.gla_triton")
SHAPES = {"mamba": (16, 64), "mlstm": (8, 128)}   # heads, head width


def kernel_times(ins, do, calls=10):
    """(outputs and gradients, {kernel: mean CUDA us}) of ``calls`` fwd + bwd runs."""
    def step():
        xs = [x.detach().requires_grad_() for x in ins]
        o = GT.simple_gla_triton(*xs)
        o.backward(do)
        return [o] + [x.grad for x in xs]
    return kernel_us(step, GT.LAUNCH, calls)


def main():
    ap = sweep_parser(__doc__, GT.LAUNCH, ",".join(SHAPES))
    ap.add_argument("--bv", default="32,64,128", help="value block widths to try")
    args = ap.parse_args()
    check_sweep_args(ap, args, {"--shapes": SHAPES, "--kernels": GT.LAUNCH}, {"--bv": args.bv},
                     "gla_triton_sweep.py")
    torch.manual_seed(0)
    for name in args.shapes.split(","):
        H, K = SHAPES[name]
        q, k, v = (torch.randn(args.B, args.T, H, K, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        g = -torch.rand(args.B, args.T, H, device="cuda") * 0.1
        ins, do = (q, k * K ** -0.5, v, g), torch.randn_like(v)
        ref, times = kernel_times(ins, do)
        print(f"{name} (B={args.B}, T={args.T}, {H} heads of {K}), LAUNCH: "
              + ", ".join(f"{n} {t:.0f} us" for n, t in times.items()), flush=True)
        for kern in args.kernels.split(","):
            base, small = dict(GT.LAUNCH[kern]), GT.LAUNCH_SMALL_K.pop(kern, None)
            for bv, w, s in itertools.product(map(int, args.bv.split(",")), (4, 8), (1, 2, 3)):
                GT.LAUNCH[kern] = {"BV": bv, "num_warps": w, "num_stages": s}
                try:
                    outs, times = kernel_times(ins, do)
                    got = f"{times[kern]:6.0f} us (all four {sum(times.values()):.0f}), diff {max_rel_diff(outs, ref):.0e}"
                except Exception as e:  # noqa: BLE001 - out of shared memory is an answer here
                    got = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
                print(f"  {kern} BV={bv} warps={w} stages={s}: {got}", flush=True)
            GT.LAUNCH[kern] = base
            if small is not None:
                GT.LAUNCH_SMALL_K[kern] = small


if __name__ == "__main__":
    main()
