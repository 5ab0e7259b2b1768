"""babybench models: one decoder skeleton, many sequence mixers.

Importing this package registers every mixer in :data:`MIXERS` and every
family in :data:`FAMILIES`. Public API::

    build_model(family, size="debug", vocab_size=16384, **overrides) -> BabyLM
    save_model(model, dir); load_model(dir) -> BabyLM
    ModelConfig, BabyLM, LMOutput, FAMILIES, MIXERS, SIZES
"""

from babybench.models.config import ModelConfig
from babybench.models.mixers import MIXERS

# Mixer modules register themselves (pattern char -> class) on import.
from babybench.models import attention, hgrn2, lstm, mamba, qrnn, xlstm  # noqa: F401

from babybench.models.model import BabyLM, LMOutput
from babybench.models.sizes import FAMILIES, SIZES, build_model, make_config
from babybench.models.io import load_model, save_model

__all__ = [
    "BabyLM", "LMOutput", "ModelConfig", "MIXERS", "FAMILIES", "SIZES",
    "build_model", "make_config", "save_model", "load_model",
]
