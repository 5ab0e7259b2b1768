"""``m``: Mamba-2 (SSD) mixer, nano style.

    z, xBC, dt = in_proj(u)                      (gate, conv input, per-head step)
    x, B, C    = silu(causal_conv1d(xBC))        short depthwise conv, width 4
    dt         = softplus(dt + dt_bias)          (B, T, H)
    a          = -exp(A_log) * dt                log decay per head and step (<= 0)
    h_t        = exp(a_t) h_{t-1} + B_t^T (x_t dt_t)    state (H, N, P)
    y_t        = C_t h_t + D * x_t
    out        = out_proj(rmsnorm(y * silu(z)))

The scan is "simple GLA" (scalar decay per head) with q = C, k = B, v = x * dt,
g = a and scale 1 (``kernels.simple_gla``: chunked PyTorch, fla's ``chunk_simple_gla``
with ``backend: fla``, the recurrent step when decoding). One group: B and C
are shared by all heads.
Decoding state: (conv_state (B, W - 1, d_inner + 2 N), ssm_state (B, H, N, P) fp32).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.models.config import ModelConfig
from babybench.models.kernels import causal_conv1d_silu, simple_gla
from babybench.models.mixers import MIXERS


def _options(cfg: ModelConfig):
    o = cfg.mixer_opts("m", d_state=64, expand=2, head_dim=min(64, 2 * cfg.d_model), d_conv=4,
                       dt_min=0.001, dt_max=0.1)
    d_inner = o.expand * cfg.d_model
    if d_inner % o.head_dim:
        raise BabybenchError(f"model.mixer_options.m.head_dim={o.head_dim} must divide "
                             f"expand * d_model = {d_inner}")
    return o, d_inner, d_inner // o.head_dim


@MIXERS.register("m")
class Mamba2Mixer(nn.Module):
    """Mamba-2 layer. Options (``mixer_options["m"]``): ``d_state`` (N, 64), ``expand``
    (d_inner = expand * d_model, 2), ``head_dim`` (P, 64), ``d_conv`` (4), ``dt_min`` /
    ``dt_max`` (range of the initial step size)."""

    residual_proj_names = ("out_proj",)

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        o, d_inner, H = _options(cfg)
        self.opts, self.d_inner, self.n_heads, self.d_state = o, d_inner, H, o.d_state
        self.backend, self.chunk_size = cfg.backend, cfg.chunk_size
        conv_dim = d_inner + 2 * o.d_state
        self.in_proj = nn.Linear(cfg.d_model, d_inner + conv_dim + H, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(conv_dim, o.d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(conv_dim))
        self.dt_bias = nn.Parameter(torch.empty(H))
        self.A_log = nn.Parameter(torch.empty(H))
        self.D = nn.Parameter(torch.ones(H))
        self.norm = nn.RMSNorm(d_inner, eps=cfg.norm_eps)
        self.out_proj = nn.Linear(d_inner, cfg.d_model, bias=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        o = self.opts
        bound = o.d_conv ** -0.5                                   # nn.Conv1d's default range
        self.conv_weight.uniform_(-bound, bound)
        self.conv_bias.zero_()
        # dt ~ log-uniform in [dt_min, dt_max]; dt_bias = softplus^-1(dt)
        dt = torch.exp(torch.rand(self.n_heads) * (math.log(o.dt_max) - math.log(o.dt_min))
                       + math.log(o.dt_min))
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log.copy_(torch.empty(self.n_heads).uniform_(1, 16).log())
        self.D.fill_(1.0)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        """d*(2 di + 2N + H) + (di + 2N)(W + 1) + 3H + di (norm) + di*d, di = expand*d."""
        o, di, H = _options(cfg)
        D, N = cfg.d_model, o.d_state
        conv_dim = di + 2 * N
        return D * (di + conv_dim + H) + conv_dim * (o.d_conv + 1) + 3 * H + di + di * D

    def forward(self, u, state=None, return_state=False):  # u: (B, T, D)
        Bsz, T, _ = u.shape
        H, N, di = self.n_heads, self.d_state, self.d_inner
        P = di // H
        acc = torch.promote_types(u.dtype, torch.float32)         # fp32 decays (fp64 in tests)
        conv_state, ssm_state = state if state is not None else (None, None)
        z, xBC, dt = self.in_proj(u).split([di, di + 2 * N, H], dim=-1)
        xBC, conv_state = causal_conv1d_silu(xBC, self.conv_weight, self.conv_bias, conv_state,
                                             self.backend)
        x, Bm, Cm = xBC.split([di, N, N], dim=-1)                  # (B, T, di), (B, T, N) x2
        dt = F.softplus(dt.to(acc) + self.dt_bias.to(acc))         # (B, T, H) fp32
        g = -torch.exp(self.A_log.to(acc)) * dt                    # (B, T, H) log decay
        x = x.view(Bsz, T, H, P)
        q = Cm[:, :, None, :].expand(Bsz, T, H, N)                 # one group: shared by heads
        k = Bm[:, :, None, :].expand(Bsz, T, H, N)
        v = (x.to(acc) * dt[..., None]).to(x.dtype)                # (B, T, H, P)
        y, ssm_state = simple_gla(q, k, v, g, scale=1.0, initial_state=ssm_state,
                                  output_final_state=return_state, backend=self.backend,
                                  chunk_size=self.chunk_size)
        y = y + x * self.D.to(x.dtype)[:, None]                    # skip connection D
        y = y.reshape(Bsz, T, di)
        y = self.norm((y * F.silu(z)).to(acc))                     # gated RMSNorm, fp32
        out = self.out_proj(y.to(u.dtype))
        return out, ((conv_state, ssm_state) if return_state else None)
