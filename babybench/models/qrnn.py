"""``q``: the QRNN (quasi-recurrent network) of the hybrid RNN-Transformer paper.

A causal convolution over time (width 2: x_t and x_{t-1}) gives candidate z,
forget gate f and output gate o for every position at once; the only sequential
part is the elementwise "f-pooling"

    h_t = f_t * h_{t-1} + (1 - f_t) * z_t,      y_t = o_t * h_t

Three implementations of the f-pooling scan, all on (B, T, D) with an fp32 state:

- :func:`fpool_recurrent`: the naive step-by-step reference (also used for T=1).
- :func:`fpool_chunked`: chunked log-space scan in PyTorch, no per-token loop.
- fla's ``fused_recurrent_hgrn`` on CUDA (same recurrence: h = exp(g) h + x),
  imported lazily, used when ``backend`` is ``auto``/``fla`` and fla is installed.

State for decoding: ``(x_tail, h)`` with x_tail (B, width-1, D) the last inputs
(for the convolution) and h (B, D_h) the pooled state.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.models.config import ModelConfig
from babybench.models.kernels.gla import resolve_backend
from babybench.models.mixers import MIXERS

_TINY = 1e-30  # floor before log(); contributes < 1e-30 to any state


def fpool_recurrent(log_f, u, h0=None):
    """Reference: h_t = exp(log_f_t) * h_{t-1} + u_t, one step at a time.

    log_f, u: (B, T, D). h0: (B, D) or None. Returns h (B, T, D) and h_T (B, D), fp32.
    """
    B, T, D = u.shape
    h = u.new_zeros(B, D, dtype=torch.float32) if h0 is None else h0.float()
    f, u = log_f.float().exp(), u.float()
    outs = []
    for t in range(T):
        h = f[:, t] * h + u[:, t]
        outs.append(h)
    return torch.stack(outs, dim=1), h


def _local_scan(A, u):
    """Zero-initialised scan inside each chunk, in log space.

    A: (B, n, C, D) within-chunk cumulative log decay; u: (B, n, C, D).
    h_t = sum_{s<=t} exp(A_t - A_s) u_s, computed as exp(A_t + logcumsumexp(log u_s - A_s))
    separately for the positive and negative parts of u (logs need positive numbers).
    """
    def pos_part(v):  # v >= 0
        return torch.exp(torch.logcumsumexp(v.clamp_min(_TINY).log() - A, dim=2) + A)

    return pos_part(u.clamp_min(0)) - pos_part((-u).clamp_min(0))


def fpool_chunked(log_f, u, h0=None, chunk_size: int = 64):
    """Fast scan: log-space inside chunks of ``chunk_size``, a short carry across chunks.

    Same contract as :func:`fpool_recurrent`; T need not be a multiple of the chunk.
    """
    B, T, D = u.shape
    C = max(1, min(chunk_size, T))
    pad = (-T) % C
    log_f, u = log_f.float(), u.float()
    if pad:  # f = 1, u = 0 on padding: the state passes through unchanged
        log_f, u = F.pad(log_f, (0, 0, 0, pad)), F.pad(u, (0, 0, 0, pad))
    n = (T + pad) // C
    A = log_f.view(B, n, C, D).cumsum(dim=2)  # (B, n, C, D), <= 0, decreasing in C
    local = _local_scan(A, u.view(B, n, C, D))  # (B, n, C, D)
    decay = A.exp()  # (B, n, C, D): product of f from the chunk start
    h = u.new_zeros(B, D) if h0 is None else h0.float()
    outs = []
    for c in range(n):  # n = T / C carries, not T steps
        out = local[:, c] + decay[:, c] * h[:, None]  # (B, C, D)
        outs.append(out)
        h = out[:, -1]
    out = torch.cat(outs, dim=1)[:, :T]
    return out, h


def _fpool_fla(log_f, u, h0=None):
    from fla.ops.hgrn import fused_recurrent_hgrn  # lazy: only on CUDA with fla installed

    out, hT = fused_recurrent_hgrn(
        u.float().contiguous(), log_f.float().contiguous(),
        initial_state=None if h0 is None else h0.float(), output_final_state=True,
    )
    return out, hT


@MIXERS.register("q")
class QRNN(nn.Module):
    """QRNN layer: width-w causal conv -> (z, f, o) -> f-pooling -> output gate -> projection.

    Options (``mixer_options["q"]``): ``width`` (conv width, 2), ``expand`` (hidden
    width as a multiple of d_model, 1), ``impl`` (``auto``, ``chunked``,
    ``recurrent`` or ``fla``; ``auto`` follows ``cfg.backend`` through ``resolve_backend``:
    fla's ``fused_recurrent_hgrn`` when it is ``fla``, else the chunked form, and the step for
    decoding).
    """

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        o = cfg.mixer_opts("q", width=2, expand=1, impl="auto")
        if o.impl not in ("auto", "chunked", "recurrent", "fla"):
            raise BabybenchError(f"model.mixer_options.q.impl: {o.impl!r} is not auto|chunked|recurrent|fla")
        self.width, self.d_hidden, self.impl = o.width, o.expand * cfg.d_model, o.impl
        self.backend, self.chunk_size = cfg.backend, cfg.chunk_size
        self.conv = nn.Linear(o.width * cfg.d_model, 3 * self.d_hidden)  # taps x_t, x_{t-1}, ...
        self.out_proj = nn.Linear(self.d_hidden, cfg.d_model, bias=False)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        o = cfg.mixer_opts("q", width=2, expand=1, impl="auto")
        Dh = o.expand * cfg.d_model
        return o.width * cfg.d_model * 3 * Dh + 3 * Dh + Dh * cfg.d_model

    def _scan(self, log_f, u, h0):
        impl = self.impl
        if impl == "auto":   # as every recurrent mixer: fla only when cfg.backend asks for it
            form = resolve_backend(self.backend, log_f)
            impl = form if form in ("recurrent", "fla") else "chunked"   # no Triton kernel of its own
        if impl == "fla":
            return _fpool_fla(log_f, u, h0)
        if impl == "recurrent":
            return fpool_recurrent(log_f, u, h0)
        return fpool_chunked(log_f, u, h0, self.chunk_size)

    def forward(self, x, state=None, return_state=False):
        B, T, D = x.shape
        w = self.width
        tail = x.new_zeros(B, w - 1, D) if state is None else state[0].to(x.dtype)
        xx = torch.cat([tail, x], dim=1)  # (B, T + w - 1, D)
        # Tap k sees x_{t-k}: concatenate shifted copies -> one matmul for the whole conv.
        taps = torch.cat([xx[:, w - 1 - k : w - 1 - k + T] for k in range(w)], dim=-1)  # (B, T, wD)
        z, f, o = self.conv(taps).chunk(3, dim=-1)  # (B, T, Dh) each
        log_f = F.logsigmoid(f.float())
        u = torch.sigmoid(-f.float()) * torch.tanh(z.float())  # (1 - f) * z
        h, hT = self._scan(log_f, u, None if state is None else state[1])
        y = self.out_proj((torch.sigmoid(o) * h.to(o.dtype)))  # (B, T, D)
        new_state = (xx[:, xx.shape[1] - (w - 1) :], hT) if return_state else None
        return y, new_state
