"""babybench evaluation: task declarations + one batched scorer -> result records.

Public API::

    evaluate_run(run_dir, tasks=None, device=None, force=False, limit=None) -> list[Path]
    evaluate_model(model, tokenizer, task, device=None, limit=None, info=None) -> TaskResult
    Scorer, Score, score_naive              (babybench.eval.scorer)
    TASKS, KINDS, get_task, load_tasks      (babybench.eval.tasks)
    write_record, read_record, encode_items, decode_items, bootstrap_ci  (babybench.eval.records)
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from babybench.eval.records import (bootstrap_ci, build_record, decode_items, encode_items,
                                    read_record, record_path, write_record)
from babybench.eval.scorer import Score, Scorer, score_naive
from babybench.eval.tasks import (DEFAULT_TASKS, KINDS, TASKS, EvalContext, TaskResult, TaskSpec,
                                  data_checksum, get_task, import_kinds, load_tasks)
from babybench.errors import BabybenchError
from babybench.io import git_commit, hardware, sha256_file

__all__ = ["evaluate_run", "evaluate_model", "run_tasks", "is_current", "Scorer", "Score", "score_naive",
           "TASKS", "KINDS", "get_task", "load_tasks", "write_record", "read_record", "encode_items",
           "decode_items", "bootstrap_ci"]


def pick_device(device: str | None = None):
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate_model(model: Any, tokenizer: Any, task: str | TaskSpec, device=None, limit: int | None = None,
                   info: dict | None = None, run_dir: Path | None = None,
                   progress: Callable | None = None, scorer: Scorer | None = None) -> TaskResult:
    """Run one task on an in-memory model (no record written)."""
    import_kinds()
    spec = get_task(task) if isinstance(task, str) else task
    dev = pick_device(device) if device is None or isinstance(device, str) else device
    model = model.to(dev)
    scorer = scorer or Scorer(model, tokenizer, device=dev, max_tokens=65536 if dev.type == "cuda" else 8192)
    ctx = EvalContext(model=model, tokenizer=tokenizer, scorer=scorer, device=dev, run_dir=run_dir,
                      info=info or {}, progress=progress, limit=limit)
    return KINDS.get(spec.kind)(spec, ctx)


def task_identity(spec: TaskSpec, info: dict) -> dict[str, Any]:
    """``{"name", "kind", "version", "data_sha256"}`` of a task for a run."""
    if spec.options.get("checksum") == "run_corpus":
        sha = (info.get("corpus") or {}).get("sha256")
    else:
        sha = data_checksum(spec)
    return {"name": spec.name, "kind": spec.kind, "version": spec.version, "data_sha256": sha}


def model_checksum(run_dir: Path) -> str | None:
    p = Path(run_dir) / "model.safetensors"
    return sha256_file(p) if p.is_file() else None


def is_current(run_dir: Path, spec: TaskSpec, info: dict, model_sha: str | None) -> bool:
    """True when a record exists with the same task version, data checksum and model checksum."""
    p = record_path(run_dir, spec.name)
    if not p.is_file():
        return False
    try:
        rec = read_record(p)
    except BabybenchError:
        return False
    ident = task_identity(spec, info)
    return (rec["task"].get("version") == ident["version"]
            and rec["task"].get("data_sha256") == ident["data_sha256"]
            and rec.get("model_sha256") == model_sha)


def run_tasks(run_dir: str | Path) -> list[str]:
    """The tasks a run asks for: ``tasks`` of its config.yaml, else its track's defaults."""
    from babybench.config import read_yaml
    from babybench.train.run import read_run_json

    run_dir = Path(run_dir)
    cfg = read_yaml(run_dir / "config.yaml") if (run_dir / "config.yaml").is_file() else {}
    if cfg.get("tasks"):
        return list(cfg["tasks"])
    return DEFAULT_TASKS.get(read_run_json(run_dir).get("track", ""), ["perplexity"])


def evaluate_run(run_dir: str | Path, tasks: Sequence[str] | None = None, device: str | None = None,
                 force: bool = False, limit: int | None = None,
                 progress: Callable | None = None) -> list[Path]:
    """Score a run on ``tasks`` (default: its track's tasks) and write one record per task.

    Tasks with a current record (same task version, data checksum and model
    checksum) are skipped unless ``force``. Returns the record paths (written
    or already current).
    """
    from babybench.train.run import load_run, resolve_run_dir

    run_dir = resolve_run_dir(run_dir)
    names = list(tasks) if tasks else run_tasks(run_dir)
    specs = [get_task(n) for n in names]  # unknown names fail before the model loads
    model, tokenizer, info = load_run(run_dir)
    model_sha = model_checksum(run_dir)
    dev = pick_device(device)
    info_ctx = dict(info)
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        from babybench.config import read_yaml

        info_ctx["seq_len"] = (read_yaml(cfg_path).get("data") or {}).get("seq_len")
    # Name the run as <runs>/<track>/<run> so the stored command works on any machine.
    argv = ["babybench", "evaluate", f"runs/{run_dir.parent.name}/{run_dir.name}", "--tasks", ",".join(names)]
    argv += ["--limit", str(limit)] if limit is not None else []
    command = " ".join(shlex.quote(a) for a in argv)
    out = []
    scorer = None
    for spec in specs:
        if not force and limit is None and is_current(run_dir, spec, info, model_sha):
            out.append(record_path(run_dir, spec.name))
            continue
        t0 = time.perf_counter()
        ident = task_identity(spec, info)
        model = model.to(dev)
        scorer = scorer or Scorer(model, tokenizer, device=dev,
                                  max_tokens=65536 if dev.type == "cuda" else 8192)
        res = evaluate_model(model, tokenizer, spec, dev, limit, info_ctx, run_dir, progress, scorer)
        rec = build_record(run_info=info, task={**ident, "n_items": res.n_items}, metrics=res.metrics,
                           headline=res.headline, higher_is_better=res.higher_is_better,
                           groups=res.groups, items=res.items, ties=res.ties, command=command,
                           git_commit=git_commit(), hardware=hardware(),
                           wall_s=time.perf_counter() - t0, model_sha256=model_sha)
        rec.update(res.extra)
        if limit is not None:
            rec["limit"] = limit
        out.append(write_record(run_dir, rec))
    return out
