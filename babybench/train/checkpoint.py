"""Resumable checkpoints: one file, written atomically.

``checkpoint/state.pt`` holds the model and optimizer state, the scheduler,
the RNG states (python, numpy, torch, cuda), the data position and the step.
It is written through a temp file and a rename, so a crash mid-write leaves
the previous good checkpoint in place.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from babybench.errors import BabybenchError
from babybench.io import atomic_path

CKPT_DIR = "checkpoint"
CKPT_FILE = "state.pt"


def checkpoint_path(run_dir: str | Path) -> Path:
    """``<run_dir>/checkpoint/state.pt``."""
    return Path(run_dir) / CKPT_DIR / CKPT_FILE


def rng_state() -> dict[str, Any]:
    """The RNG states of python, numpy, torch and (when present) every CUDA device."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(run_dir: str | Path, *, model: torch.nn.Module, optimizer, scheduler,
                    data_state: dict, step: int, extra: dict | None = None) -> Path:
    """Write ``checkpoint/state.pt`` atomically and return its path."""
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "data": data_state,
        "extra": extra or {},
    }
    path = checkpoint_path(run_dir)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """Read ``checkpoint/state.pt`` (on CPU) or raise a one-line error naming it."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        raise BabybenchError(f"{path} not found; nothing to resume (start the run again instead)")
    try:
        # RNG states hold numpy arrays and python tuples, hence weights_only=False:
        # the file is our own, written by save_checkpoint.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, ValueError) as e:
        raise BabybenchError(f"{path}: corrupt checkpoint ({type(e).__name__}); "
                             "delete it to restart the run from scratch") from None
    missing = {"step", "model", "optimizer", "scheduler", "rng", "data"} - set(state)
    if missing:
        raise BabybenchError(f"{path}: checkpoint lacks {sorted(missing)}; it was not written by this trainer")
    return state


def restore(state: dict[str, Any], *, model: torch.nn.Module, optimizer, scheduler, sampler,
            where: str | Path) -> int:
    """Load a checkpoint's states into the live objects; returns the step."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise BabybenchError(f"{where}: checkpoint does not fit the model "
                             f"({str(e).splitlines()[0]}); the config changed since it was written") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    sampler.load_state_dict(state["data"])
    set_rng_state(state["rng"])
    return int(state["step"])
