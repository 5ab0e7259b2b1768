"""Save and load models: ``config.json`` (HF style) + ``model.safetensors``.

The directory is a valid Hugging Face checkpoint (see :mod:`babybench.models.hf`):
``save_model`` also writes two tiny ``trust_remote_code`` shims that import the
installed babybench. ``load_model`` validates everything and turns any corrupt
or mismatched file into one :class:`BabybenchError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from babybench.errors import BabybenchError
from babybench.io import atomic_path, atomic_write_json, atomic_write_text, read_json
from babybench.models.config import ModelConfig
from babybench.models.model import BabyLM

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
PREFIX = "model."  # the HF wrapper's attribute name

_SHIMS = {
    "configuration_babybench.py": (
        '"""Shim for trust_remote_code: the real code is the installed babybench."""\n'
        "from babybench.models.hf import BabybenchConfig  # noqa: F401\n"
    ),
    "modeling_babybench.py": (
        '"""Shim for trust_remote_code: the real code is the installed babybench."""\n'
        "from babybench.models.hf import BabybenchConfig, BabybenchForCausalLM  # noqa: F401\n"
    ),
}


def _unwrap(model) -> BabyLM:
    return model.model if not isinstance(model, BabyLM) and hasattr(model, "model") else model


def save_model(model, directory) -> Path:
    """Write ``config.json``, ``model.safetensors`` and the HF shims into ``directory``."""
    from safetensors.torch import save_file

    from babybench.models.hf import BabybenchConfig

    model = _unwrap(model)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    hf_cfg = BabybenchConfig.from_model_config(model.config).to_dict()
    hf_cfg["architectures"] = ["BabybenchForCausalLM"]
    hf_cfg["auto_map"] = {
        "AutoConfig": "configuration_babybench.BabybenchConfig",
        "AutoModelForCausalLM": "modeling_babybench.BabybenchForCausalLM",
    }
    atomic_write_json(out / CONFIG_FILE, hf_cfg)
    for name, text in _SHIMS.items():
        atomic_write_text(out / name, text)
    state = {
        PREFIX + k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if not (model.config.tie_embeddings and k == "lm_head.weight")
    }
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    return out


def read_config(directory) -> ModelConfig:
    """The :class:`ModelConfig` stored in ``directory/config.json`` (strictly validated)."""
    path = Path(directory) / CONFIG_FILE
    data = read_json(path, "no model config here: is this a babybench run dir? re-export it with save_model")
    if data.get("model_type") != "babybench":
        raise BabybenchError(f"{path}: model_type is {data.get('model_type')!r}, expected 'babybench'")
    fields = set(ModelConfig.__dataclass_fields__)
    return ModelConfig.from_dict({k: v for k, v in data.items() if k in fields}, str(path))


def load_model(directory, device: str | torch.device = "cpu") -> BabyLM:
    """Rebuild the model saved by :func:`save_model` in ``directory``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_config(directory)
    path = Path(directory) / WEIGHTS_FILE
    try:
        state = load_file(str(path), device=str(device))
    except FileNotFoundError:
        raise BabybenchError(f"{path}: weights file missing") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise BabybenchError(f"{path}: corrupt safetensors file ({e})") from None
    state = {k.removeprefix(PREFIX): v for k, v in state.items()}
    with torch.device(device):
        model = BabyLM(cfg)
    expected = {k: v for k, v in model.state_dict().items()
                if not (cfg.tie_embeddings and k == "lm_head.weight")}
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    bad = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or bad:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                else f"shape mismatch for {bad[0]}: {tuple(state[bad[0]].shape)} in file vs "
                     f"{tuple(expected[bad[0]].shape)} from config.json")
        raise BabybenchError(f"{path}: does not match {CONFIG_FILE}: {what}")
    model.load_state_dict(state, strict=False)
    return model.eval()
