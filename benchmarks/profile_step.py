"""Where does a training step's GPU time go? One family, torch.profiler, top kernels.

    python benchmarks/profile_step.py --families xlstm,hgrn2 --size 30m

Builds the family, runs warm-up steps (forward + backward + AdamW, bf16 autocast),
profiles one step and prints the kernels with the most CUDA time, the number of
kernel launches, the step's (profiler-inflated) wall time, and the CUDA time and launches
per kernel group (matmuls, Inductor's Triton kernels, babybench's scan, cuDNN, ...). The GPU's
idle time between kernels is throughput.py's step time minus the group total. With
``--host-steps N`` it also runs N more steps under Python's cProfile and prints the host
functions with the most own time: where the CPU's time to issue a step goes (launchers,
Inductor's wrapper code, autograd), for a step that waits on the host. A diagnosis
tool, not a benchmark.

    python benchmarks/profile_step.py --families xlstm --compile --host-steps 10
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import time

import torch
from torch.profiler import ProfilerActivity, profile

from babybench.models import build_model
from babybench.models.compile import compile_model


#: Kernel-name patterns of the summary's groups, first match wins (the rest is "other").
GROUPS = (
    ("cuDNN LSTM", r"(?<![a-z])lstm|rnn"),           # not a babybench _mlstm_* kernel
    ("matmul (cuBLAS / CUTLASS)", r"nvjet|gemm|cutlass|sm90_|sm80_|ampere_"),
    ("babybench Triton scan", r"^_(states_fwd|out_fwd|states_bwd|grads)$"),
    ("babybench Triton block-diag map", r"^_block_diag_(fwd|bwd)$"),
    ("babybench Triton conv + SiLU", r"^_conv_(fwd|bwd_g|bwd_x)$"),
    ("attention (SDPA)", r"flash|fmha|attention"),
    ("Inductor Triton", r"^triton_"),
)


def group_times(events) -> dict[str, tuple[float, int]]:
    """CUDA ms and launches of every kernel, summed per :data:`GROUPS` entry."""
    out = {name: [0.0, 0] for name, _ in GROUPS} | {"other": [0.0, 0]}
    for e in events:
        if e.device_type.name != "CUDA":
            continue
        name = next((g for g, pat in GROUPS if re.search(pat, e.key, re.I)), "other")
        out[name][0] += e.self_device_time_total / 1e3
        out[name][1] += e.count
    return {k: (ms, n) for k, (ms, n) in out.items() if n}


def step(model, opt, idx):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(idx[:, :-1], targets=idx[:, 1:]).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def host_profile(run_step, steps: int, top: int) -> str:
    """cProfile of ``steps`` calls of ``run_step``: the ``top`` functions by own time, as text
    (the host's Python and C calls; kernels that run on the GPU do not show)."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        run_step()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="xlstm,hgrn2,mamba")
    ap.add_argument("--size", default="30m")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model first")
    ap.add_argument("--host-steps", type=int, default=0,
                    help="also cProfile this many steps on the host and print its top functions (0 = off)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("profile_step.py: needs a CUDA device (it profiles GPU kernel time); "
                         "run it on the GPU machine")
    for fam in args.families.split(","):
        model = build_model(fam, size=args.size, vocab_size=16384).cuda()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        if args.compile:
            model = compile_model(model)
        idx = torch.randint(0, 16384, (args.batch, args.seq + 1), device="cuda")
        for _ in range(3):
            step(model, opt, idx)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step(model, opt, idx)
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        events = prof.key_averages()
        n_launch = sum(e.count for e in events if e.device_type.name == "CUDA")
        mode = "compiled" if args.compile else "eager"
        print(f"\n## {fam} {mode} ({args.size}, B={args.batch}, T={args.seq}): step {wall * 1e3:.1f} ms "
              f"(profiled), {n_launch} kernel launches")
        print(events.table(sort_by="self_cuda_time_total", row_limit=args.top, max_name_column_width=60))
        groups = group_times(events)
        busy = sum(ms for ms, _ in groups.values())
        print(f"| group | CUDA ms | launches |\n|---|---:|---:|")
        for g, (ms, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
            print(f"| {g} | {ms:.2f} | {n} |")
        # The profiled wall time is inflated by the profiler: take idle time from throughput.py.
        print(f"| all kernels | {busy:.2f} | {n_launch} |")
        if args.host_steps:
            print(f"\n### host, {args.host_steps} steps under cProfile\n")
            print(host_profile(lambda: step(model, opt, idx), args.host_steps, 3 * args.top))
            torch.cuda.synchronize()
        del model, opt
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
