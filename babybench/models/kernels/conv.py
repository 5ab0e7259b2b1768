"""Short causal depthwise convolution (Mamba-2 and mLSTM blocks), with a decoding state.

y_t[c] = bias[c] + sum_w weight[c, w] * x_{t - (W - 1) + w}[c]

State = the last W - 1 inputs (B, W - 1, C); the zero state means zero history.
Both blocks follow the conv with a SiLU: :func:`causal_conv1d_silu` runs the two as
:mod:`.conv_triton`'s kernels where the backend resolves to ``triton`` and no state comes in.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from babybench.models.kernels.gla import resolve_backend


def causal_conv1d(x, weight, bias=None, state=None):
    """Fast form. x: (B, T, C); weight: (C, W); bias: (C,) or None; state: (B, W - 1, C)
    or None. Returns (y (B, T, C), new state (B, W - 1, C)).

    Eager: ``F.conv1d``. Under ``torch.compile``: the sum over the W taps, which Inductor
    fuses into one kernel. Forward + backward at the 30m xLSTM block's shapes (H200, bf16):
    1.01 ms eager for ``F.conv1d`` against 1.73 for the taps, compiled 1.26 against 0.97.
    The products and their sum are fp32 (or wider; the weights are upcast), while x and its
    zero history stay in x's dtype, so the padded input that the backward pass keeps is
    bf16, not an fp32 copy, under bf16 autocast."""
    if torch.compiler.is_compiling():
        acc = torch.promote_types(x.dtype, torch.float32)
        y, new_state = causal_conv1d_ref(x, weight.to(acc), None if bias is None else bias.to(acc),
                                         None if state is None else state.to(x.dtype))
        return y.to(x.dtype), new_state
    B, T, C = x.shape
    W = weight.shape[-1]
    if state is None:
        state = x.new_zeros(B, W - 1, C)
    xs = torch.cat([state.to(x.dtype), x], dim=1)                 # (B, W - 1 + T, C)
    y = F.conv1d(xs.transpose(1, 2), weight[:, None, :].to(x.dtype),
                 None if bias is None else bias.to(x.dtype), groups=C)  # (B, C, T)
    return y.transpose(1, 2), xs[:, xs.shape[1] - (W - 1):]


def causal_conv1d_ref(x, weight, bias=None, state=None):
    """Naive reference of ``causal_conv1d``: an explicit sum over the W taps."""
    B, T, C = x.shape
    W = weight.shape[-1]
    hist = x.new_zeros(B, W - 1, C) if state is None else state
    xs = torch.cat([hist, x], dim=1)
    y = sum(weight[:, w] * xs[:, w:w + T] for w in range(W))      # (B, T, C)
    if bias is not None:
        y = y + bias
    return y, xs[:, T:]


def causal_conv1d_silu(x, weight, bias=None, state=None, backend="auto"):
    """``silu`` of :func:`causal_conv1d` (same arguments and results, plus the kernel ``backend``).

    Where ``backend`` resolves to ``triton`` (CUDA; see ``gla.resolve_backend``) and no state
    comes in (training, scoring, prefill), :mod:`.conv_triton`'s kernels, eager or compiled:
    x read once, no padded copy, and the conv recomputed in the backward pass. Otherwise the
    conv, then ``F.silu``."""
    if state is None and resolve_backend(backend, x) == "triton":
        from babybench.models.kernels.conv_triton import causal_conv1d_silu_triton, conv_triton_ok
        if conv_triton_ok(x, weight):
            W = weight.shape[-1]
            tail = x[:, max(0, x.shape[1] - (W - 1)):]             # the new state: the last W - 1 inputs
            if tail.shape[1] < W - 1:
                tail = F.pad(tail, (0, 0, W - 1 - tail.shape[1], 0))
            return causal_conv1d_silu_triton(x, weight, bias), tail
    y, new_state = causal_conv1d(x, weight, bias, state)
    return F.silu(y), new_state
