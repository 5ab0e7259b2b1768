"""``torch.compile`` for training, with the Inductor settings babybench's Triton kernels want.

The trainer compiles through :func:`compile_model`, and ``benchmarks/throughput.py`` sets the
same defaults (its ``--inductor`` options on top), so the benchmark times what training runs.
:func:`family_compile_mode` resolves ``runtime.compile_mode: auto`` to a family's mode.
"""
from __future__ import annotations

import torch

#: ``torch._inductor.config`` options set before compiling (those this torch lacks are skipped).
#: - ``static_launch_user_defined_triton_kernels``: launch babybench's own Triton kernels (the
#:   scan, block-diagonal maps, conv) from Inductor's code with its static CUDA launcher, as it
#:   launches its own kernels, not through Triton's Python launcher. The 30m xLSTM issues 183
#:   of them a step; its host time fell from 35.3 to 30.0 ms and its step from 35.4 to 33.3 ms
#:   (H200, B = 32, T = 512; benchmarks/README.md, thirteenth session).
INDUCTOR_DEFAULTS = {"static_launch_user_defined_triton_kernels": True}


def set_inductor_defaults() -> dict:
    """Set :data:`INDUCTOR_DEFAULTS` in ``torch._inductor.config`` (process-wide: Inductor reads
    them when it compiles, on the first call, and again for the backward pass); returns what it set."""
    import torch._inductor.config as ic

    known = ic.get_config_copy()
    applied = {k: v for k, v in INDUCTOR_DEFAULTS.items() if k in known}
    for key, value in applied.items():
        setattr(ic, key, value)
    return applied


def compile_model(model: torch.nn.Module, mode: str = "default"):
    """``torch.compile(model, mode=mode)`` after :func:`set_inductor_defaults`."""
    set_inductor_defaults()
    return torch.compile(model, mode=mode)


def family_compile_mode(mode: str, family: str) -> str:
    """``mode`` as given, except ``auto``: the family's ``compile_mode`` (``default`` for a name
    that is not a babybench family, e.g. a benchmark's peer model)."""
    if mode != "auto":
        return mode
    from babybench.models.sizes import FAMILIES

    return FAMILIES.get(family).compile_mode if family in FAMILIES else "default"
