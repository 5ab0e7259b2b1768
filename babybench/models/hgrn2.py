"""``h``: HGRN2 (gated linear RNN with outer-product state expansion), nano style.

Per head (key width K = ``expand_ratio``, value width V = d_model / H):

    f_t = lb + (1 - lb) * sigmoid(W_f x_t)     forget gate with a per-layer lower bound lb
    k_t = 1 - f_t                              input gate tied to the forget gate
    q_t = silu(W_q x_t),  v_t = W_i x_t
    S_t = diag(f_t) S_{t-1} + k_t^T v_t        (K, V) state: the "state expansion"
    o_t = q_t S_t / sqrt(K)

then RMSNorm over the concatenated heads and an output projection. The scan is
GLA with log-decay gk = log f (``kernels.gla``: chunked PyTorch, fla's ``chunk_gla``
with ``backend: fla``, the recurrent step when decoding).
The lower bound (HGRN's "forget gates get closer to 1 in higher layers") is a
learned per-channel value, initialised to layer_idx / n_layers; layer 0 has none.
Decoding state: S (B, H, K, V) fp32.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.models.config import ModelConfig
from babybench.models.kernels import gla
from babybench.models.mixers import MIXERS


def _options(cfg: ModelConfig):
    default = 128 if cfg.d_model % 128 == 0 and cfg.d_model >= 256 else cfg.head_dim
    o = cfg.mixer_opts("h", expand_ratio=default, chunk_size=32, sub_chunk=8)
    if cfg.d_model % o.expand_ratio:
        raise BabybenchError(f"model.mixer_options.h.expand_ratio={o.expand_ratio} must divide "
                             f"d_model={cfg.d_model}")
    if not (o.sub_chunk >= 1 and o.chunk_size >= 1 and o.chunk_size % o.sub_chunk == 0):
        raise BabybenchError(f"model.mixer_options.h: chunk_size={o.chunk_size} must be a positive multiple "
                             f"of sub_chunk={o.sub_chunk}; set both, e.g. "
                             "model.overrides.mixer_options.h.chunk_size=32 and ...h.sub_chunk=8")
    return o


@MIXERS.register("h")
class HGRN2Mixer(nn.Module):
    """HGRN2 layer. Options (``mixer_options["h"]``):

    - ``expand_ratio``: state expansion per head (key width; heads = d_model /
      expand_ratio). Default 128 when d_model is a multiple of 128 (fla's choice),
      else ``cfg.head_dim``.
    - ``chunk_size`` (32) and ``sub_chunk`` (8) of the chunked scan. HGRN2 has its own
      (``model.chunk_size`` is for the scalar-decay scans): the vector-decay intra-chunk
      term costs more as the chunk grows; 32 x 8 was the fastest of the pairs timed
      on an H200 (``benchmarks/gla_chunks.py``)."""

    residual_proj_names = ("out_proj",)

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        o = _options(cfg)
        D = cfg.d_model
        self.n_heads, self.head_k = D // o.expand_ratio, o.expand_ratio
        self.layer_idx, self.n_layers = layer_idx, cfg.n_layers
        self.backend, self.chunk_size, self.sub_chunk = cfg.backend, o.chunk_size, o.sub_chunk
        self.q_proj = nn.Linear(D, D, bias=False)
        self.f_proj = nn.Linear(D, D, bias=False)
        self.i_proj = nn.Linear(D, D, bias=False)
        self.norm = nn.RMSNorm(D, eps=cfg.norm_eps)
        self.out_proj = nn.Linear(D, D, bias=False)
        # lower bound logit per channel (absent in layer 0, whose forget gate may reach 0)
        self.lb_logit = nn.Parameter(torch.zeros(D)) if layer_idx > 0 else None
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        if self.lb_logit is not None:
            p = self.layer_idx / self.n_layers
            self.lb_logit.fill_(math.log(p / (1 - p)))

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        """4 d^2 (q, f, i, out) + d (norm) + d (lower bound, layers > 0)."""
        D = cfg.d_model
        return 4 * D * D + D + (D if layer_idx > 0 else 0)

    def forward(self, x, state=None, return_state=False):  # x: (B, T, D)
        B, T, D = x.shape
        H, K = self.n_heads, self.head_k
        acc = torch.promote_types(x.dtype, torch.float32)         # fp32 gates (fp64 in tests)
        q = F.silu(self.q_proj(x))
        logf = F.logsigmoid(self.f_proj(x).to(acc))                # (B, T, D) fp32
        if self.lb_logit is not None:  # f = lb + (1 - lb) sigmoid(.), in log space
            lb = torch.sigmoid(self.lb_logit.to(acc))
            logf = torch.logaddexp(lb.log(), torch.log1p(-lb) + logf)
        k = -torch.expm1(logf)                                     # 1 - f, accurate near f = 1
        v = self.i_proj(x)
        q, k, logf = (t.view(B, T, H, K) for t in (q, k, logf))    # (B, T, H, K)
        v = v.view(B, T, H, D // H)                                # (B, T, H, V)
        o, S = gla(q, k.to(v.dtype), v, logf, initial_state=state,
                   output_final_state=return_state, backend=self.backend,
                   chunk_size=self.chunk_size, sub_chunk=self.sub_chunk)
        y = self.out_proj(self.norm(o.reshape(B, T, D).to(acc)))  # norm in fp32 (weights' dtype)
        return y, S
