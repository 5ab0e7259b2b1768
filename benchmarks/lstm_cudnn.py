"""How fast can ``torch.nn.LSTM`` go at the lstm family's shapes? Forward + backward times.

    python benchmarks/lstm_cudnn.py            # GPU: 5 layers of LSTM(512, 512), B=32, T=512
    python benchmarks/lstm_cudnn.py --device cpu --batch 2 --seq 32 --width 16 --iters 1   # smoke test

Cases (bf16 autocast unless named otherwise):
- one layer, bf16 autocast (what the lstm family runs) and fp16 weights and input (PyTorch
  lets cuDNN pick its persistent-kernel algorithm only for fp16, at these shapes);
- the stack of ``--layers`` layers, one call per layer over the whole sequence;
- the same stack as one ``nn.LSTM(num_layers=--layers)`` call, where cuDNN may overlap the
  layers itself (layer l + 1 starts a step as soon as layer l has finished it); this is a
  different model (no norm, MLP or residual between the layers), timed only for comparison;
- the same stack as a wavefront over time chunks: layer l runs chunk c on its own CUDA stream
  while layer l + 1 runs chunk c - 1, to overlap the latency-bound recurrences. Its largest
  difference from the stack of single-layer calls is printed with it;
- one layer and the stack on babybench's persistent Triton kernels (``kernels.lstm_triton``, what
  the lstm family runs on an H100-class GPU), with their largest output difference from cuDNN.
``--cases`` picks groups of them (default all): single, fp16, stack, stacked, wavefront, triton.
"""
from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn as nn

from timing import add_timing_args, ms_per_call


def stack_forward(layers, x):
    for layer in layers:
        x, _ = layer(x)
    return x


def wavefront_forward(layers, x, n_chunks, streams):
    """``stack_forward`` over ``n_chunks`` time chunks in wavefront order; on CUDA each layer
    has its own stream (``streams``), elsewhere ``streams`` is a list of None."""
    L, xs = len(layers), x.chunk(n_chunks, dim=1)
    outs, states = [[None] * n_chunks for _ in range(L)], [None] * L
    cur = torch.cuda.current_stream() if x.is_cuda else None
    for s in filter(None, streams):
        s.wait_stream(cur)
    for wave in range(L + n_chunks - 1):
        for l in reversed(range(L)):    # later layers first: stream l - 1 then holds chunks <= c only
            c = wave - l
            if not 0 <= c < n_chunks:
                continue
            if streams[l] is not None and l:
                streams[l].wait_stream(streams[l - 1])
            with torch.cuda.stream(streams[l]) if streams[l] is not None else contextlib.nullcontext():
                outs[l][c], states[l] = layers[l](xs[c] if l == 0 else outs[l - 1][c], states[l])
    for s in filter(None, streams):
        cur.wait_stream(s)
    return torch.cat(outs[-1], dim=1)


CASES = ("single", "fp16", "stack", "stacked", "wavefront", "triton")


def triton_forward(layers, x):
    """``stack_forward`` with each layer's recurrence on babybench's Triton kernels."""
    from babybench.models.kernels.lstm_triton import lstm_triton
    for m in layers:
        x, _ = lstm_triton(x.to(torch.bfloat16), m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
    return x


def triton_cases(layers, x, ref, fwd_bwd, amp):
    """The Triton kernels' cases, where they take the shape (CUDA, triton installed); else none."""
    from babybench.models.kernels import triton_available
    if not (x.is_cuda and triton_available()):
        return []
    from babybench.models.kernels.lstm_triton import lstm_triton_ok
    if not lstm_triton_ok(x, layers[0].hidden_size, torch.bfloat16):
        return []
    with torch.no_grad(), amp():
        one = (triton_forward(layers[:1], x).float() - layers[0](x)[0].float()).abs().max().item()
        full = (triton_forward(layers, x).float() - ref).abs().max().item()
    return [("1 layer, babybench Triton kernels", fwd_bwd(lambda t: triton_forward(layers[:1], t)), f"{one:.1e} (vs cuDNN)"),
            (f"{len(layers)} layers, babybench Triton kernels", fwd_bwd(lambda t: triton_forward(layers, t)), f"{full:.1e}")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(ap, iters=10)
    ap.add_argument("--width", type=int, default=512, help="input and hidden width (the 30m d_model)")
    ap.add_argument("--layers", type=int, default=5, help="the 30m lstm family's depth")
    ap.add_argument("--chunks", default="4,8,16", help="wavefront chunk counts")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of case groups: {', '.join(CASES)}")
    args = ap.parse_args()
    want = set(args.cases.split(","))
    if want - set(CASES):
        ap.error(f"--cases: unknown {', '.join(sorted(want - set(CASES)))}; known: {', '.join(CASES)}")
    dev = torch.device(args.device)
    torch.manual_seed(0)
    B, T, D = args.batch, args.seq, args.width
    layers = nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(args.layers)).to(dev)
    x = torch.randn(B, T, D, device=dev, requires_grad=True)
    amp = lambda: torch.autocast(dev.type, dtype=torch.bfloat16)  # noqa: E731

    def fwd_bwd(forward, inp=x):
        def run():
            with amp():
                y = forward(inp)
            y.float().square().mean().backward()
        return run

    streams = [torch.cuda.Stream() if dev.type == "cuda" else None for _ in layers]
    cases = []
    if "single" in want:
        cases.append(("1 layer, bf16 autocast", fwd_bwd(lambda t: layers[0](t)[0]), ""))
    if "fp16" in want and dev.type == "cuda":  # fp16 LSTMs run on CUDA only
        half, xh = nn.LSTM(D, D, batch_first=True).to(dev).half(), x.detach().half().requires_grad_()
        cases.append(("1 layer, fp16", fwd_bwd(lambda t: half(t)[0], xh), ""))
    if "stack" in want:
        cases.append((f"{args.layers} layers, one call each", fwd_bwd(lambda t: stack_forward(layers, t)), ""))
    if "stacked" in want:
        stacked = nn.LSTM(D, D, num_layers=args.layers, batch_first=True).to(dev)
        cases.append((f"{args.layers} layers, one nn.LSTM(num_layers={args.layers}) call",
                      fwd_bwd(lambda t: stacked(t)[0]), ""))
    with torch.no_grad(), amp():
        ref = stack_forward(layers, x).float()
    if "triton" in want:
        cases += triton_cases(layers, x, ref, fwd_bwd, amp)
    for n in (int(c) for c in args.chunks.split(",")) if "wavefront" in want else ():
        with torch.no_grad(), amp():
            diff = (wavefront_forward(layers, x, n, streams).float() - ref).abs().max().item()
        cases.append((f"{args.layers} layers, wavefront of {n} chunks",
                      fwd_bwd(lambda t, n=n: wavefront_forward(layers, t, n, streams)), f"{diff:.1e}"))
    print(f"| case ({dev.type}, B={B}, T={T}, width {D}) | fwd + bwd ms | max diff vs one call each |")
    print("|---|---:|---:|")
    for name, run, diff in cases:
        print(f"| {name} | {ms_per_call(run, args.iters, dev):.2f} | {diff or '-'} |", flush=True)


if __name__ == "__main__":
    main()
