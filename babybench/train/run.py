"""A finished run folder as an object: ``load_run`` and the ``run.json`` summary.

Layout of ``runs_dir()/<track>/<run_name>/``::

    config.yaml          resolved TrainRunConfig
    config.json          model config (save_model, Hugging Face style)
    model.safetensors    final weights (save_model)
    tokenizer.model      the sentencepiece model the run was trained with
    train_log.jsonl      one row per log / eval event
    checkpoint/state.pt  model, optimizer, scheduler, RNG, data position, step
    run.json             summary (schema in notes/CONTRACTS.md)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babybench.errors import BabybenchError
from babybench.io import atomic_write_json, read_json, runs_dir

RUN_JSON = "run.json"
TOKENIZER_FILE = "tokenizer.model"


def resolve_run_dir(spec: str | Path) -> Path:
    """A run folder from a path or a ``<track>/<run_name>`` id under ``runs_dir()``."""
    p = Path(spec).expanduser()
    if (p / RUN_JSON).is_file():
        return p
    q = runs_dir() / str(spec)
    if (q / RUN_JSON).is_file():
        return q
    tried = p / RUN_JSON if q == p else f"{p / RUN_JSON} nor {q / RUN_JSON}"
    raise BabybenchError(f"no run at {spec}: found no {tried}; give a run folder or a <track>/<run> id")


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``run.json``, with one-line errors for a missing or corrupt file."""
    return read_json(Path(run_dir) / RUN_JSON,
                     f"is {run_dir} a babybench run folder? re-run or resume its training run")


def write_run_json(run_dir: str | Path, info: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically."""
    return atomic_write_json(Path(run_dir) / RUN_JSON, info)


def load_tokenizer(run_dir: str | Path):
    """The run's tokenizer (``tokenizer.model``), or a one-line error naming the file."""
    from babybench.data.tokenizer import Tokenizer

    p = Path(run_dir) / TOKENIZER_FILE
    if not p.is_file():
        raise BabybenchError(f"{p} not found; the run folder is incomplete (re-run the training)")
    try:
        return Tokenizer.load(p)
    except BabybenchError:
        raise
    except Exception as e:  # sentencepiece raises RuntimeError/OSError on corrupt files
        raise BabybenchError(f"{p}: cannot load tokenizer ({type(e).__name__}: {e})") from None


def load_run(run_dir: str | Path):
    """Load a finished run: ``(model, tokenizer, info)``.

    Args:
        run_dir: the run folder, or a ``<track>/<run_name>`` id under ``runs_dir()``.

    Returns:
        model: the ``BabyLM`` in eval mode on CPU, from ``config.json`` + ``model.safetensors``.
        tokenizer: the run's ``Tokenizer``.
        info: the ``run.json`` summary (a dict).

    Raises:
        BabybenchError: one line naming the missing or corrupt file.
    """
    from babybench.models import load_model

    run_dir = resolve_run_dir(run_dir)
    info = read_run_json(run_dir)
    for name in ("config.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            status = info.get("status", "unknown")
            if status == "complete":  # e.g. a run checked out from git, where weights are not kept
                cmd = info.get("command") or "babybench train ..."
                how = f"weights are not kept in git; re-create them with the run's command `{cmd}`"
            else:
                how = f"finish it with `babybench train --resume {run_dir}`"
            raise BabybenchError(f"{run_dir / name} not found (run status: {status}); {how}")
    try:
        model = load_model(run_dir)
    except BabybenchError:
        raise
    except Exception as e:
        raise BabybenchError(
            f"{run_dir / 'model.safetensors'}: cannot load model ({type(e).__name__}: {e})") from None
    model.eval()
    return model, load_tokenizer(run_dir), info
