"""The shared decoder skeleton: embedding -> blocks -> final RMSNorm -> LM head.

Every family is this one model with a different layer pattern. A block is

    x = x + mixer(norm1(x))        # sequence mixer from MIXERS[pattern char]
    x = x + mlp(norm2(x))          # SwiGLU, skipped when the mixer has_mlp

``f`` layers are MLP-only blocks (no mixer), and ``[a|m]`` groups run several
mixers on the same input, merged by a learned projection. The init follows
GPT-2 / Llama: normal(0, init_std) weights, zero biases, and the projections
that write into the residual stream scaled by 1/sqrt(2 * n_layers).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.models.config import ModelConfig
from babybench.models.mixers import MIXERS
from babybench.models.pattern import parse_pattern
from babybench.errors import BabybenchError


class LMOutput(NamedTuple):
    """What :meth:`BabyLM.forward` returns."""

    logits: torch.Tensor  # (B, T, V)
    loss: torch.Tensor | None  # scalar fp32 mean CE, or None without targets
    state: list | None  # one entry per layer, or None unless return_state


@MIXERS.register("f")
class MLPOnly(nn.Module):
    """Placeholder for ``f``: the block has no mixer, only its MLP (PAR)."""

    no_mixer = True

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        return 0


class SwiGLU(nn.Module):
    """SwiGLU MLP with a fused gate/up projection."""

    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.out_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x):  # (B, T, D)
        gate, up = self.gate_up(x).chunk(2, dim=-1)  # (B, T, H) each
        return self.out_proj(F.silu(gate) * up)


class ParallelMixer(nn.Module):
    """Several mixers on the same input; outputs concatenated and projected to D."""

    def __init__(self, cfg: ModelConfig, layer_idx: int, chars: tuple[str, ...]):
        super().__init__()
        self.mixers = nn.ModuleList(MIXERS.get(c)(cfg, layer_idx) for c in chars)
        self.out_proj = nn.Linear(len(chars) * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, state=None, return_state=False):
        outs, states = [], []
        for i, mixer in enumerate(self.mixers):
            y, s = mixer(x, None if state is None else state[i], return_state)
            outs.append(y)  # (B, T, D)
            states.append(s)
        y = self.out_proj(torch.cat(outs, dim=-1))
        return y, (tuple(states) if return_state else None)


def _mixer_param_count(cfg: ModelConfig, char: str, layer_idx: int) -> int:
    cls = MIXERS.get(char)
    if hasattr(cls, "param_count"):
        return int(cls.param_count(cfg, layer_idx))
    with torch.device("meta"):
        return sum(p.numel() for p in cls(cfg, layer_idx).parameters())


class Block(nn.Module):
    """Pre-norm residual block: optional mixer, then (unless skipped) a SwiGLU MLP."""

    def __init__(self, cfg: ModelConfig, layer_idx: int, chars: tuple[str, ...]):
        super().__init__()
        self.chars = chars
        cls = MIXERS.get(chars[0])
        self.mixer: nn.Module | None = None
        if len(chars) > 1:
            self.mixer = ParallelMixer(cfg, layer_idx, chars)
        elif not getattr(cls, "no_mixer", False):
            self.mixer = cls(cfg, layer_idx)
        self.norm1 = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps) if self.mixer is not None else None
        has_mlp = len(chars) == 1 and getattr(cls, "has_mlp", False)
        self.mlp = None if has_mlp else SwiGLU(cfg.d_model, cfg.ffn_hidden)
        self.norm2 = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps) if self.mlp is not None else None

    def forward(self, x, state=None, return_state=False):  # x: (B, T, D)
        new_state = None
        if self.mixer is not None:
            y, new_state = self.mixer(self.norm1(x), state, return_state)
            x = x + y
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x, new_state


def predict_params(cfg: ModelConfig) -> dict[str, int]:
    """Analytic parameter count of ``BabyLM(cfg)``: ``{"total", "non_embedding"}``."""
    D = cfg.d_model
    body = D  # final norm
    for i, chars in enumerate(parse_pattern(cfg.pattern)):
        cls = MIXERS.get(chars[0])
        if len(chars) > 1:
            body += D + sum(_mixer_param_count(cfg, c, i) for c in chars) + len(chars) * D * D
        elif not getattr(cls, "no_mixer", False):
            body += D + _mixer_param_count(cfg, chars[0], i)
        if len(chars) > 1 or not getattr(cls, "has_mlp", False):
            body += D + 3 * D * cfg.ffn_hidden
    emb = cfg.vocab_size * D * (1 if cfg.tie_embeddings else 2)
    return {"total": body + emb, "non_embedding": body}


class BabyLM(nn.Module):
    """A decoder LM over any layer pattern. See the module docstring."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = cfg = config
        layers = parse_pattern(cfg.pattern)
        if len(layers) != cfg.n_layers:
            raise BabybenchError(
                f"model.pattern '{cfg.pattern}' has {len(layers)} layers but "
                f"model.n_layers={cfg.n_layers}; make them agree"
            )
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i, chars) for i, chars in enumerate(layers))
        self.norm_f = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 / Llama init; mixers may refine theirs with ``init_weights()``."""
        std = self.config.init_std
        resid_std = std / math.sqrt(2 * self.config.n_layers)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, std)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for m in self.modules():
            names = getattr(m, "residual_proj_names", ("out_proj",))
            for name in names:
                sub = getattr(m, name, None)
                if isinstance(sub, nn.Linear):
                    nn.init.normal_(sub.weight, 0.0, resid_std)
        for m in self.modules():
            if m is not self and hasattr(m, "init_weights"):
                m.init_weights()

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states (B, T, D) for ``idx`` (B, T)."""
        x, _ = self._trunk(idx, None, False)
        return x

    def _trunk(self, idx, state, return_state):
        x = self.embed(idx)  # (B, T, D)
        new_state = [] if return_state else None
        for i, block in enumerate(self.blocks):
            x, s = block(x, None if state is None else state[i], return_state)
            if return_state:
                new_state.append(s)
        return self.norm_f(x), new_state

    def forward(self, idx, targets=None, state=None, return_state=False) -> LMOutput:
        """Logits (B, T, V) for ``idx`` (B, T); mean CE loss in fp32 if ``targets`` given.

        ``state`` is the list returned by a previous call with ``return_state=True``
        (continue the sequence from there); None starts from scratch.
        """
        x, new_state = self._trunk(idx, state, return_state)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100
            )
        return LMOutput(logits, loss, new_state)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` drops the embedding (and an untied head)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.embed.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n
