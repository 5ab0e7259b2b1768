"""The typed training config: one :class:`TrainRunConfig` per run.

A track file ``configs/<track>.yaml`` holds the defaults of a track (corpus,
model size, optimiser, budget, evaluation tasks); the command line adds the
family and dotted overrides (``optim.lr=1e-3``). The resolved config is saved
as ``config.yaml`` in the run folder, so every run records exactly what it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from babybench import config as cfgmod
from babybench.errors import BabybenchError
from babybench.io import PROJECT_ROOT
from babybench.registry import suggest

CONFIGS_DIR = PROJECT_ROOT / "configs"
MAX_EPOCHS = 10.0  # BabyLM rule: at most ten passes over the corpus


@dataclass
class ModelSection:
    """Which model to build (``babybench.models.build_model``)."""

    family: str
    """Model family: transformer, lstm, xlstm, mamba, hgrn2, hybrid (required, no default)."""
    size: str = "debug"
    """Size preset: debug, small, 30m, 100m (parameter-matched across families)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Extra ``ModelConfig`` fields passed to ``build_model`` (e.g. ``{pattern: qqaaaa}``)."""


@dataclass
class DataSection:
    """How the token stream is cut into training windows."""

    seq_len: int = 512
    """Tokens per training window (each window holds seq_len + 1 tokens: inputs and shifted targets)."""
    vocab_size: int | None = None
    """Tokenizer vocabulary size; null = the corpus recipe's default."""

    def __post_init__(self) -> None:
        if self.seq_len < 2:
            raise ValueError(f"data.seq_len={self.seq_len} must be at least 2")
        if self.vocab_size is not None and self.vocab_size < 16:
            raise ValueError(f"data.vocab_size={self.vocab_size} is too small (>= 16)")


@dataclass
class OptimSection:
    """AdamW, learning-rate schedule, batch size and clipping."""

    lr: float = 1e-3
    """Peak learning rate (reached at the end of warm-up)."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of ``lr``."""
    weight_decay: float = 0.1
    """AdamW weight decay on matrices; norms, biases and embeddings get none."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    """Decay after warm-up: cosine, onecycle (linear down) or constant."""
    warmup_steps: int | None = None
    """Linear warm-up steps; null = ``warmup_frac`` of the total steps."""
    warmup_frac: float = 0.05
    """Warm-up as a fraction of the total steps when ``warmup_steps`` is null."""
    batch_size: int = 32
    """Global batch in sequences per optimiser step (micro_batch x grad_accum x world size)."""
    micro_batch_size: int | None = None
    """Sequences per forward pass on one device; null = the whole per-device batch."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0 = off)."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"optim.lr={self.lr} must be positive")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"optim.min_lr_ratio={self.min_lr_ratio} must be in [0, 1]")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optim.betas={self.betas} must be two numbers in [0, 1)")
        if self.batch_size < 1:
            raise ValueError(f"optim.batch_size={self.batch_size} must be >= 1")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"optim.micro_batch_size={self.micro_batch_size} must be >= 1")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"optim.warmup_frac={self.warmup_frac} must be in [0, 1)")


@dataclass
class BudgetSection:
    """How much to train: BabyLM counts words and epochs."""

    epochs: float = 10.0
    """Passes over the training stream (fractional allowed, at most 10 by BabyLM rules)."""
    words: int | None = None
    """Word budget; when set it replaces ``epochs`` (epochs = words / corpus train words)."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (smoke runs); the schedule is fitted to it."""

    def __post_init__(self) -> None:
        if not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise ValueError(f"budget.epochs={self.epochs} must be a positive number")
        if self.epochs > MAX_EPOCHS:
            raise ValueError(f"budget.epochs={self.epochs} exceeds the BabyLM limit of {MAX_EPOCHS:g} epochs")
        if self.words is not None and self.words < 1:
            raise ValueError(f"budget.words={self.words} must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"budget.max_steps={self.max_steps} must be >= 1")


@dataclass
class ObjectiveSection:
    """The training loss (``babybench.train.objectives.OBJECTIVES``)."""

    name: str = "lm"
    """Objective name: lm (cross-entropy) or distill (CE + KL to frozen teachers)."""
    alpha: float = 0.5
    """distill: weight of the cross-entropy term; (1 - alpha) goes to the KL term."""
    temperature: float = 2.0
    """distill: softmax temperature T of teacher and student; the KL term is scaled by T^2."""
    teachers: list[str] = field(default_factory=list)
    """distill: babybench run dirs (or ``<track>/<run_name>`` ids) or Hugging Face causal-LM names/paths."""

    def __post_init__(self) -> None:
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"objective.alpha={self.alpha} must be in [0, 1]")
        if not self.temperature > 0:
            raise ValueError(f"objective.temperature={self.temperature} must be positive")


@dataclass
class RuntimeSection:
    """Where and how the loop runs, and how often it logs, evaluates and checkpoints."""

    device: str = "auto"
    """auto (cuda if available, else cpu), cpu, cuda or cuda:N."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """auto = bf16 autocast on CUDA, fp32 on CPU."""
    compile: bool = False
    """Wrap the model in torch.compile for training. CUDA only (ignored on CPU, where the
    compile time outweighs the gain for short runs); about 1.8x tokens/s on an H100."""
    compile_mode: Literal["auto", "default", "reduce-overhead"] = "auto"
    """torch.compile's mode when ``compile`` is on. reduce-overhead replays every step as CUDA
    graphs, which removes the GPU's idle time between kernel launches: on an H200 (30m, B=32,
    T=512) xLSTM's step went from 32.2 to 29.0 ms, while transformer, LSTM, Mamba-2 and HGRN2
    gained nothing; it holds about 0.4 GB more memory (benchmarks/README.md). One process and
    one micro-batch a step only (refused otherwise, with the reason). auto = the family's mode
    (``reduce-overhead`` for xlstm, else ``default``), and ``default`` where CUDA graphs cannot run."""
    log_every: int = 10
    """Steps between log lines / train_log.jsonl rows."""
    eval_every: int = 200
    """Steps between dev evaluations (0 = only at the end)."""
    eval_max_tokens: int | None = 2_000_000
    """Dev tokens scored by periodic evaluations (null = all); the final evaluation scores all."""
    ckpt_every: int = 500
    """Steps between checkpoints (0 = only at the end)."""
    quiet: bool = False
    """Plain periodic log lines instead of a progress bar (automatic when not a TTY or under CI)."""
    threads: int | None = None
    """torch CPU threads (null = torch's default)."""

    def __post_init__(self) -> None:
        for name in ("log_every", "eval_every", "ckpt_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"runtime.{name}={getattr(self, name)} must be >= 0")
        if self.log_every == 0:
            raise ValueError("runtime.log_every must be >= 1")


@dataclass
class TrainRunConfig:
    """Everything one training run needs; saved as ``config.yaml`` in its run folder."""

    track: str
    """Track name (demo, strict-small, strict, tiny-de, ...): the runs/<track>/ folder."""
    corpus: str
    """Corpus recipe name (``corpora/<name>.toml``)."""
    model: ModelSection
    """Model family, size and overrides."""
    corpus_fallback: str | None = None
    """Corpus used when ``$BABYBENCH_DATA/corpora/<corpus>`` is missing (a notice is printed)."""
    seed: int = 0
    """Seed for model init, data order and dropout."""
    run_name: str | None = None
    """Run folder name; null = ``<family>-<size>-s<seed>`` (+ ``-distill``)."""
    data: DataSection = field(default_factory=DataSection)
    """Windowing and tokenizer size."""
    optim: OptimSection = field(default_factory=OptimSection)
    """Optimiser and schedule."""
    budget: BudgetSection = field(default_factory=BudgetSection)
    """Epochs / words / max steps."""
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    """The loss."""
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    """Device, precision, intervals."""
    tasks: list[str] = field(default_factory=list)
    """Evaluation tasks the evaluator runs for this track (e.g. blimp, perplexity)."""

    def resolved_run_name(self) -> str:
        """The run folder name (``run_name`` or the derived default)."""
        if self.run_name:
            return self.run_name
        name = f"{self.model.family}-{self.model.size}-s{self.seed}"
        return name + ("-distill" if self.objective.name == "distill" else "")


def list_tracks() -> list[str]:
    """Track names with a ``configs/<track>.yaml`` file."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))


def track_path(track: str) -> Path:
    """``configs/<track>.yaml``, or a one-line error listing the known tracks."""
    p = CONFIGS_DIR / f"{track}.yaml"
    if not p.is_file():
        known = list_tracks()
        raise BabybenchError(f"unknown track '{track}'{suggest(track, known)}; known: {', '.join(known)}")
    return p


def load_track_config(track: str, overrides: list[str] | None = None,
                      base: dict[str, Any] | None = None) -> TrainRunConfig:
    """Load ``configs/<track>.yaml`` with ``base`` (e.g. the family) and dotted overrides on top."""
    data = cfgmod.merge(cfgmod.read_yaml(track_path(track)), base or {})
    data = cfgmod.merge(data, {"track": track})
    if overrides:
        data = cfgmod.merge(data, cfgmod.parse_overrides(overrides))
    return cfgmod.from_dict(TrainRunConfig, data, str(track_path(track).relative_to(PROJECT_ROOT)))


def load_config_file(path: str | Path) -> TrainRunConfig:
    """Load a saved (resolved) ``config.yaml``."""
    return cfgmod.load(TrainRunConfig, path)
