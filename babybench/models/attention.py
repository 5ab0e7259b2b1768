"""``a``: causal multi-head softmax attention with RoPE.

Fused QKV projection, rotary position embeddings, and
``F.scaled_dot_product_attention(is_causal=True)`` so that CUDA picks the flash
kernel. For decoding, the state is a KV cache ``(k, v)`` of shape
(B, H, T_past, hd); the number of cached positions is the RoPE offset.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.models.config import ModelConfig
from babybench.models.mixers import MIXERS


def rope_cos_sin(positions, head_dim: int, theta: float, dtype):
    """cos, sin of shape (T, hd/2) for integer ``positions`` (T,)."""
    inv_freq = 1.0 / theta ** (
        torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, hd/2)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    """Rotate pairs (x1, x2) of the two halves of the head dim. x: (B, H, T, hd)."""
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, hd/2)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


@MIXERS.register("a")
class Attention(nn.Module):
    """Causal self-attention; state = KV cache ``(k, v)``."""

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        cfg.mixer_opts("a")  # no options yet; rejects unknown ones
        self.n_heads, self.head_dim, self.theta = cfg.n_heads, cfg.head_dim, cfg.rope_theta
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        return 4 * cfg.d_model * cfg.d_model

    def forward(self, x, state=None, return_state=False):
        B, T, D = x.shape
        H, hd = self.n_heads, self.head_dim
        q, k, v = self.qkv(x).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, hd)
        past = 0 if state is None else state[0].shape[2]
        pos = torch.arange(past, past + T, device=x.device)
        cos, sin = rope_cos_sin(pos, hd, self.theta, q.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if state is not None:
            k = torch.cat([state[0], k], dim=2)  # (B, H, past+T, hd)
            v = torch.cat([state[1], v], dim=2)
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v)  # one query sees the whole cache
        else:
            # is_causal would align the mask top-left; new queries sit bottom-right.
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = self.out_proj(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)
        return y, ((k, v) if return_state else None)
