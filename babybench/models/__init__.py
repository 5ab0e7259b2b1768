"""babybench models: one decoder skeleton, many sequence mixers.

Importing this package registers every mixer in :data:`MIXERS` and every
family in :data:`FAMILIES`. Public API::

    build_model(family, size="debug", vocab_size=16384, **overrides) -> BabyLM
    save_model(model, dir); load_model(dir) -> BabyLM
    ModelConfig, BabyLM, LMOutput, FAMILIES, MIXERS, SIZES
"""

import importlib

from babybench.models.config import ModelConfig
from babybench.models.mixers import MIXERS


def _import_optional(name: str) -> None:
    """Import a module that may not exist yet (during parallel development)."""
    try:
        importlib.import_module(f"babybench.models.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"babybench.models.{name}":
            raise


# Mixer modules register themselves on import (bootstrap: all guarded for now).
for _name in ("attention", "lstm", "qrnn", "hgrn2", "mamba", "xlstm"):
    _import_optional(_name)

__all__ = ["ModelConfig", "MIXERS"]
