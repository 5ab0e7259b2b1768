"""The model config: one dataclass shared by every family.

A :class:`ModelConfig` fully describes a :class:`~babybench.models.model.BabyLM`:
``build_model(family, size)`` fills it from the size table, and
``save_model`` writes it beside the weights. Mixer-specific options live in
``mixer_options`` keyed by the pattern character (``{"m": {"d_state": 64}}``)
and are read by the mixer through :meth:`ModelConfig.mixer_opts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from babybench.errors import BabybenchError
from babybench.models.kernels.gla import BACKENDS
from babybench.registry import suggest


@dataclass
class ModelConfig:
    """Everything needed to build a BabyLM.

    Attributes:
        family: model family name (``transformer``, ``lstm``, ``hybrid``, ...).
        size: size preset name (``debug``, ``small``, ``30m``, ``100m``) or ``custom``.
        vocab_size: number of token ids (embedding rows).
        d_model: residual stream width.
        n_layers: number of blocks; must equal the number of layers in ``pattern``.
        n_heads: attention heads (also the head count of multi-head recurrent mixers).
        pattern: one character per layer (see :mod:`babybench.models.pattern`),
            e.g. ``"aaaa"``, ``"qqaaaa"``, ``"afaf"``, ``"[a|m]a"``.
        mlp_ratio: SwiGLU hidden width as a multiple of ``d_model`` (used when
            ``mlp_hidden`` is 0); the width is rounded up to a multiple of 16.
        mlp_hidden: explicit SwiGLU hidden width (0 = derive from ``mlp_ratio``).
        max_seq_len: longest sequence the model is meant for (RoPE cache size hint).
        tie_embeddings: share the token embedding and the LM head weights.
        norm_eps: RMSNorm epsilon.
        backend: kernel choice for recurrent mixers: ``torch`` (chunked PyTorch, and cuDNN
            for the LSTM; the step for decoding), ``fla`` (fla's Triton kernels, CUDA only),
            ``triton`` (babybench's Triton kernels: the scalar-decay scan, the LSTM recurrence,
            xLSTM's block-diagonal maps, the short conv with its SiLU; CUDA only) or ``auto`` (``triton`` where it applies on an H100-class GPU, else
            ``torch``).
        chunk_size: chunk length of the chunked scalar-decay scans (Mamba-2, mLSTM,
            QRNN). HGRN2 has its own (``mixer_options.h.chunk_size``, default 32).
        init_std: std of the normal init of linear and embedding weights.
        rope_theta: RoPE base frequency of attention mixers.
        mixer_options: per-mixer options keyed by pattern character, for
            example ``{"m": {"d_state": 64, "expand": 2}, "q": {"width": 2}}``.
    """

    family: str = "transformer"
    size: str = "custom"
    vocab_size: int = 16384
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    pattern: str = "aa"
    mlp_ratio: float = 4.0
    mlp_hidden: int = 0
    max_seq_len: int = 2048
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    backend: str = "auto"
    chunk_size: int = 64
    init_std: float = 0.02
    rope_theta: float = 10000.0
    mixer_options: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise BabybenchError(f"model.backend: {self.backend!r} is not one of {list(BACKENDS)}")
        if self.d_model % self.n_heads:
            raise BabybenchError(
                f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}"
            )

    @property
    def head_dim(self) -> int:
        """Width of one head (``d_model // n_heads``)."""
        return self.d_model // self.n_heads

    @property
    def ffn_hidden(self) -> int:
        """The SwiGLU hidden width actually used."""
        if self.mlp_hidden > 0:
            return self.mlp_hidden
        return 16 * -(-int(round(self.mlp_ratio * self.d_model)) // 16)

    def mixer_opts(self, char: str, **defaults: Any) -> SimpleNamespace:
        """The options of mixer ``char``: ``defaults`` updated by ``mixer_options[char]``.

        An option not named in ``defaults`` is an error with a "did you mean".
        """
        given = dict(self.mixer_options.get(char, {}) or {})
        for key in given:
            if key not in defaults:
                raise BabybenchError(
                    f"model.mixer_options.{char}: unknown option '{key}'"
                    f"{suggest(key, list(defaults))}; known: {', '.join(sorted(defaults))}"
                )
        return SimpleNamespace(**{**defaults, **given})

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON / YAML)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model config") -> "ModelConfig":
        """Strict construction: unknown keys are an error naming the closest field."""
        from babybench.config import from_dict

        return from_dict(cls, data, where)

    def predicted_params(self) -> dict[str, int]:
        """Parameter counts predicted from the config alone: ``{"total", "non_embedding"}``.

        ``non_embedding`` excludes the token embedding and the LM head (whether
        tied or not), matching :meth:`BabyLM.num_params`.
        """
        from babybench.models.model import predict_params

        return predict_params(self)
