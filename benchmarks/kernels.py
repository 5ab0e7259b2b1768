"""Recurrent kernels: correctness and fwd+bwd speed of each backend.

    python benchmarks/kernels.py            # CUDA: B=32, T=512, 30m shapes, bf16
    python benchmarks/kernels.py --tiny     # CPU-sized shapes (also the default without CUDA)

For each op (HGRN2's GLA, Mamba-2's simple GLA, xLSTM's mLSTM) it runs the fla
Triton kernel (when installed, CUDA only; where fla refuses chunk_simple_gla's
backward, its chunk_gla with broadcast gates, as babybench does), the chunked
PyTorch form and the step-by-step recurrent reference (mLSTM also as one simple-GLA
call, "torch-gla" / "fla"); reports the relative L2 error of the output,
final state and input gradients against the recurrent reference computed in fp32,
and the median fwd+bwd time (triton.testing.do_bench after warm-up on CUDA,
a plain timer on CPU). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import importlib

G = importlib.import_module("babybench.models.kernels.gla")
M = importlib.import_module("babybench.models.kernels.mlstm")

# (op, heads, key dim, value dim) at the 30m preset (d_model 512):
#   HGRN2: expand_ratio 128 -> 4 heads of 128 x 128
#   Mamba-2: d_inner 1024, head_dim 64 -> 16 heads, d_state 64
#   mLSTM: proj_factor 1.9375 -> 992 wide, 8 heads of 124
SHAPES = [("gla", 4, 128, 128), ("simple_gla", 16, 64, 64), ("mlstm", 8, 124, 124)]


def make_inputs(op, B, T, H, K, V, dtype, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    q, k, v = r(B, T, H, K), r(B, T, H, K) * K ** -0.5, r(B, T, H, V)
    if op == "gla":
        gates = [F.logsigmoid(r(B, T, H, K) + 2)]
    elif op == "simple_gla":
        gates = [F.logsigmoid(r(B, T, H) + 2)]
    else:
        gates = [r(B, T, H), r(B, T, H) + 3]                     # input, forget pre-activations
    xs = [q, k, v] + gates
    return [x.to(device=device, dtype=dtype if i < 3 else torch.float32) for i, x in enumerate(xs)]


def forms(op):
    """name -> callable(*inputs) -> (out, final state tensor)."""
    if op == "mlstm":
        def wrap(fn):
            return lambda q, k, v, i, f: (lambda o, s: (o, s[0]))(*fn(q, k, v, i, f, output_final_state=True))
        out = {"recurrent": wrap(M.mlstm_recurrent), "torch": wrap(M.mlstm_chunked),
               "torch-gla": wrap(M.mlstm_gla)}
        if torch.cuda.is_available() and G.fla_available():
            out["fla"] = wrap(lambda *a, **kw: M.mlstm_gla(*a, **kw, backend="fla"))
        if torch.cuda.is_available() and G.triton_available():       # stateless: no final state
            out["triton"] = lambda *a: (M.mlstm_gla(*a, backend="triton")[0], None)
        return out
    ref, chunked, disp = (getattr(G, f"{op}_recurrent"), getattr(G, f"{op}_chunked"), getattr(G, op))
    out = {"recurrent": lambda *a: ref(*a, output_final_state=True),
           "torch": lambda *a: chunked(*a, output_final_state=True)}
    if torch.cuda.is_available() and G.fla_available():
        out["fla"] = lambda *a: disp(*a, output_final_state=True, backend="fla")
    if op == "simple_gla" and torch.cuda.is_available() and G.triton_available():
        out["triton"] = lambda *a: (disp(*a, backend="triton")[0], None)
    return out


def run(fn, inputs, do):
    xs = [x.detach().requires_grad_() for x in inputs]
    o, S = fn(*xs)
    loss = (o.float() * do).sum()
    if S is not None:                       # a stateless form (triton) is compared without it
        loss = loss + S.float().sum() * 1e-3
    loss.backward()
    return [o.float(), None if S is None else S.float()] + [x.grad.float() for x in xs]


def rel_errs(a, b):
    """Relative L2 error of each result (out, state, input grads); None where a form has none."""
    return [None if x is None else ((x - y).norm() / y.norm().clamp_min(1e-12)).item() for x, y in zip(a, b)]


def bench_ms(fn, inputs, do, cuda):
    step = lambda: run(fn, inputs, do)  # noqa: E731
    if cuda:
        import triton
        return triton.testing.do_bench(step, warmup=50, rep=200, return_mode="median")
    step()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="small CPU-sized shapes")
    ap.add_argument("--dtype", default=None, help="bf16|fp16|fp32 (default bf16 on CUDA, fp32 on CPU)")
    ap.add_argument("--B", type=int, default=None)
    ap.add_argument("--T", type=int, default=None)
    ap.add_argument("--skip-recurrent-timing", action="store_true")
    ap.add_argument("--ops", default="gla,simple_gla,mlstm", help="comma-separated subset of the ops")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[
        args.dtype or ("bf16" if cuda else "fp32")]
    B, T = args.B or (32 if cuda else 2), args.T or (512 if cuda else 128)
    print(f"device={device} ({torch.cuda.get_device_name() if cuda else 'cpu'}) dtype={dtype} "
          f"B={B} T={T} fla={'yes' if G.fla_available() else 'no'} torch={torch.__version__}")
    rows = []
    for op, H, K, V in SHAPES:
        if op not in args.ops.split(","):
            continue
        if not cuda:
            H, K, V = 2, 32, 32
        inputs = make_inputs(op, B, T, H, K, V, dtype, device)
        do = torch.randn(B, T, H, V, device=device, generator=None)
        fs = forms(op)
        ref = run(fs["recurrent"], [x.float() for x in inputs], do)  # fp32 reference
        for name, fn in fs.items():
            errs = rel_errs(run(fn, inputs, do), ref)
            err = max(e for e in errs if e is not None)
            ms = float("nan") if (name == "recurrent" and args.skip_recurrent_timing) \
                else bench_ms(fn, inputs, do, cuda)
            rows.append((op, f"H={H} K={K} V={V}", name, err, ms))
            each = " ".join(f"{n}={'-' if e is None else f'{e:.1e}'}" for n, e in
                            zip(["out", "state"] + [f"d{i}" for i in range(len(inputs))], errs))
            print(f"  {op:10s} {name:9s} rel_err={err:.2e} ({each})  fwd+bwd={ms:.2f} ms", flush=True)
    print("\n| op | shape | backend | max rel. error vs fp32 recurrent (out, state, grads) | fwd+bwd ms |")
    print("|---|---|---|---|---|")
    for op, shape, name, err, ms in rows:
        print(f"| {op} | {shape} | {name} | {err:.2e} | {ms:.2f} |")


if __name__ == "__main__":
    main()
