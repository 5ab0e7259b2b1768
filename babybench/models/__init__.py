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

# Mixer modules register themselves on import.
from babybench.models import attention as _attention  # noqa: F401
from babybench.models import lstm as _lstm  # noqa: F401
from babybench.models import qrnn as _qrnn  # noqa: F401


def _import_optional(name: str) -> None:
    """Import a kernels-helper module that may not exist yet (parallel development)."""
    try:
        importlib.import_module(f"babybench.models.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"babybench.models.{name}":
            raise


for _name in ("hgrn2", "mamba", "xlstm"):
    _import_optional(_name)

from babybench.models.model import BabyLM, LMOutput  # noqa: E402
from babybench.models.sizes import FAMILIES, SIZES, build_model, make_config  # noqa: E402

__all__ = [
    "BabyLM", "LMOutput", "ModelConfig", "MIXERS", "FAMILIES", "SIZES",
    "build_model", "make_config",
]

from babybench.models.io import load_model, save_model  # noqa: E402

__all__ += ["save_model", "load_model"]
