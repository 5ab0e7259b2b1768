"""Learning-rate schedules: linear warm-up, then a registered decay.

A schedule is a function ``(step, total, warmup, min_ratio) -> multiplier`` of
the peak learning rate. :func:`build_scheduler` wraps it in a
``torch.optim.lr_scheduler.LambdaLR`` so its state is checkpointed like any
other scheduler.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from babybench.registry import Registry

Schedule = Callable[[int, int, int, float], float]
SCHEDULES: Registry[Schedule] = Registry("lr schedule")


def _warmup(step: int, warmup: int) -> float | None:
    """Linear warm-up multiplier for ``step < warmup`` (starts above zero), else None."""
    if step < warmup:
        return (step + 1) / warmup
    return None


@SCHEDULES.register("cosine")
def cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Warm-up, then half a cosine from 1 down to ``min_ratio`` at ``total``."""
    w = _warmup(step, warmup)
    if w is not None:
        return w
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@SCHEDULES.register("onecycle")
def onecycle(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Warm-up, then a straight line from 1 down to ``min_ratio`` at ``total``."""
    w = _warmup(step, warmup)
    if w is not None:
        return w
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 1 - (1 - min_ratio) * progress


@SCHEDULES.register("constant")
def constant(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Warm-up, then the peak learning rate until the end."""
    w = _warmup(step, warmup)
    return 1.0 if w is None else w


def warmup_steps(total: int, warmup_steps_cfg: int | None, warmup_frac: float) -> int:
    """The warm-up length: the explicit value, or a fraction of ``total`` (never all of it)."""
    w = warmup_steps_cfg if warmup_steps_cfg is not None else int(round(warmup_frac * total))
    return max(0, min(w, total - 1))


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, total: int, warmup: int,
                    min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following schedule ``name`` over ``total`` optimiser steps."""
    fn = SCHEDULES.get(name)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: fn(step, total, warmup, min_ratio))
