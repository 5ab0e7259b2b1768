"""Training objectives: what loss the loop minimises.

An objective is called as ``objective(model, idx, targets) -> (loss, metrics)``,
where ``metrics`` maps names (``ce``, ``kl``) to detached scalar tensors that
the loop logs. Objectives are registered in :data:`OBJECTIVES`:

- ``lm``: next-token cross-entropy.
- ``distill``: ``alpha * CE + (1 - alpha) * T^2 * KL(teacher || student)`` at
  temperature ``T``. Teachers are frozen (eval mode, no grad, bf16 on CUDA)
  babybench runs or Hugging Face causal LMs sharing the student's tokenizer; an
  ensemble is averaged in probability space (as BabyLlama does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.registry import Registry


@dataclass
class ObjectiveContext:
    """What an objective factory may need besides its config section."""

    device: torch.device
    tokenizer_sha256: str | None
    vocab_size: int


OBJECTIVES: Registry[Callable[..., "Objective"]] = Registry("objective")


class Objective:
    """Base class: ``__call__(model, idx, targets) -> (loss, {name: scalar tensor})``."""

    name = "base"

    def __call__(self, model: torch.nn.Module, idx: torch.Tensor, targets: torch.Tensor):
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """The ``objective`` block of run.json."""
        return {"name": self.name, "alpha": None, "temperature": None, "teachers": []}

    def extra_flops_per_token(self) -> float:
        """FLOPs per training token spent outside the student (teacher forward passes)."""
        return 0.0


@OBJECTIVES.register("lm")
class LMObjective(Objective):
    """Plain next-token cross-entropy (the model computes it, in fp32)."""

    name = "lm"

    def __init__(self, section=None, ctx: ObjectiveContext | None = None):
        pass

    def __call__(self, model, idx, targets):
        out = model(idx, targets)
        return out.loss, {"ce": out.loss.detach()}


# ---------------------------------------------------------------- distillation
def teacher_probs(teacher_logits: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """Average of the teachers' softmax(logits / T), in fp32: (..., V)."""
    probs = [F.softmax(t.float() / temperature, dim=-1) for t in teacher_logits]
    return torch.stack(probs).mean(0)


def distill_kl(student_logits: torch.Tensor, probs: torch.Tensor, temperature: float,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over tokens of KL(p_teacher || softmax(student / T)).

    Args:
        student_logits: (..., V) raw student logits.
        probs: (..., V) teacher probabilities at the same temperature.
        temperature: T.
        mask: (...) bool, tokens to average over (default all).

    Returns the unscaled KL (callers multiply by T^2), a scalar.
    """
    logq = F.log_softmax(student_logits.float() / temperature, dim=-1)
    # xlogy gives 0 * log 0 = 0 for teacher probabilities that underflow.
    kl = (torch.xlogy(probs, probs) - probs * logq).sum(-1)  # (...)
    if mask is None:
        return kl.mean()
    return (kl * mask).sum() / mask.sum().clamp_min(1)


class Teacher:
    """A frozen teacher: ``logits(idx) -> (B, T, V)``; eval mode, no grad, bf16 on CUDA."""

    def __init__(self, model: torch.nn.Module, spec: str, is_hf: bool, n_params: int):
        self.model, self.spec, self.is_hf, self.n_params = model, spec, is_hf, n_params

    @torch.no_grad()
    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        out = self.model(idx)
        return out.logits if hasattr(out, "logits") else out[0]


def _check_tokenizer(spec: str, sha: str | None, vocab: int | None, ctx: ObjectiveContext) -> None:
    if sha and ctx.tokenizer_sha256 and sha != ctx.tokenizer_sha256:
        raise BabybenchError(
            f"teacher {spec}: tokenizer sha256 {sha[:12]} differs from the student's "
            f"{ctx.tokenizer_sha256[:12]}; distillation needs the same tokenizer (same corpus and vocab_size)")
    if vocab is not None and vocab != ctx.vocab_size:
        raise BabybenchError(
            f"teacher {spec}: vocab size {vocab} differs from the student's {ctx.vocab_size}; "
            "distillation needs the same tokenizer")


def load_teacher(spec: str, ctx: ObjectiveContext) -> Teacher:
    """Load a teacher from a babybench run folder/id or a Hugging Face causal LM name/path."""
    from babybench.train.run import load_run, resolve_run_dir

    try:
        run_dir = resolve_run_dir(spec)
    except BabybenchError:
        run_dir = None
    if run_dir is not None:
        model, tok, info = load_run(run_dir)
        tinfo = info.get("tokenizer", {})
        _check_tokenizer(spec, tinfo.get("sha256") or getattr(tok, "sha256", None),
                         tinfo.get("vocab_size") or getattr(tok, "vocab_size", None), ctx)
        is_hf = False
    else:
        model = _load_hf_teacher(spec, ctx)
        is_hf = True
    n_params = sum(p.numel() for p in model.parameters())
    model.requires_grad_(False)
    model.eval()
    dtype = torch.bfloat16 if ctx.device.type == "cuda" else torch.float32
    model.to(device=ctx.device, dtype=dtype)
    return Teacher(model, spec, is_hf, n_params)


def _load_hf_teacher(spec: str, ctx: ObjectiveContext) -> torch.nn.Module:
    from babybench.io import sha256_file

    try:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(spec, trust_remote_code=True)
    except Exception as e:
        raise BabybenchError(
            f"teacher '{spec}' is neither a babybench run (no run.json) nor a loadable Hugging Face "
            f"causal LM ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    tok_file = Path(spec) / "tokenizer.model"
    sha = sha256_file(tok_file) if tok_file.is_file() else None
    _check_tokenizer(spec, sha, getattr(model.config, "vocab_size", None), ctx)
    return model


@OBJECTIVES.register("distill")
class DistillObjective(Objective):
    """``alpha * CE + (1 - alpha) * T^2 * KL(mean teacher probs || student)``.

    Args:
        section: the ``objective`` config (alpha, temperature, teachers).
        ctx: device and the student's tokenizer identity.
        teachers: already-built teachers (tests); default loads ``section.teachers``.
    """

    name = "distill"

    def __init__(self, section, ctx: ObjectiveContext, teachers: list[Teacher] | None = None):
        if teachers is None:
            if not section.teachers:
                raise BabybenchError("objective.teachers is empty; distill needs at least one teacher "
                                     "(a run folder, <track>/<run_name> or a Hugging Face model)")
            teachers = [load_teacher(t, ctx) for t in section.teachers]
        self.teachers = teachers
        self.alpha = section.alpha
        self.temperature = section.temperature

    def __call__(self, model, idx, targets):
        out = model(idx, targets)
        ce = out.loss
        V = out.logits.shape[-1]
        # (B, T, V) each; teachers may pad their vocabulary: keep the shared ids.
        t_logits = [t.logits(idx)[..., :V] for t in self.teachers]
        probs = teacher_probs(t_logits, self.temperature)
        kl = distill_kl(out.logits, probs, self.temperature, mask=targets != -100)
        T2 = self.temperature ** 2
        loss = self.alpha * ce + (1 - self.alpha) * T2 * kl
        return loss, {"ce": ce.detach(), "kl": kl.detach()}

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha, "temperature": self.temperature,
                "teachers": [t.spec for t in self.teachers]}

    def extra_flops_per_token(self) -> float:
        return float(sum(2 * t.n_params for t in self.teachers))


def build_objective(section, ctx: ObjectiveContext) -> Objective:
    """The objective named by ``section.name``, built from its config section."""
    return OBJECTIVES.get(section.name)(section, ctx)
