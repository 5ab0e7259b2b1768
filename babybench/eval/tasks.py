"""Task declarations and the two registries behind them.

A task is data plus a scorer kind, declared in a small versioned TOML file
``evaluations/<name>.toml``::

    name = "blimp"
    kind = "minimal_pair"          # a key of KINDS
    version = 1                    # bump when scoring or data handling changes
    data = "evaluation/blimp"      # relative to $BABYBENCH_DATA (or the cache, root = "cache")
    description = "..."            # incl. the BOS / first-token policy
    [source]                       # where real users get the data, with checksums
    [options]                      # kind-specific settings (format, password, ...)

``TASKS`` maps task names to :class:`TaskSpec` (filled from ``evaluations/``);
``KINDS`` maps kind names to scorer functions ``fn(spec, ctx) -> TaskResult``.
Nothing dispatches on task names.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from babybench.errors import BabybenchError
from babybench.io import PROJECT_ROOT, cache_dir, data_dir, sha256_file, sha256_text
from babybench.registry import Registry

EVAL_DIR = PROJECT_ROOT / "evaluations"


@dataclass
class TaskSpec:
    """One parsed ``evaluations/<name>.toml``.

    Attributes:
        name: task name (file stem; used for the record file name).
        kind: scorer kind, a key of :data:`KINDS`.
        version: integer bumped whenever results would change.
        data: data location relative to ``root``.
        description: what is scored and how (BOS policy included).
        root: ``"data"`` ($BABYBENCH_DATA) or ``"cache"`` ($BABYBENCH_CACHE).
        source: official source for real users (url, commit, sha256 ...).
        options: kind-specific options.
        path: the TOML file it came from.
    """

    name: str
    kind: str
    version: int
    data: str
    description: str
    root: str = "data"
    source: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def data_path(self, must_exist: bool = True) -> Path:
        """Absolute data location; one-line error when it is missing."""
        base = cache_dir() if self.root == "cache" else data_dir()
        p = base / self.data
        if must_exist and self.options.get("generator") and not p.exists():
            self._generate(p)
        if must_exist and not (p.exists() or p.with_name(p.name + ".gz").exists()):
            raise BabybenchError(f"task '{self.name}': data not found at {p} "
                                 f"(declared in {self.path}); see the [source] section there")
        return p


    def _generate(self, out: Path) -> None:
        """Write generated data (``options.generator = "module:function"``, called as
        ``fn(folder, **n_*, seed)``) into a folder of this process's own, then rename it to ``out``:
        another process (``evaluate --jobs``) sees all of it or none. Where one of them renamed
        first, the others drop their copy (the same data)."""
        import importlib
        import os
        import shutil

        module, _, fn = self.options["generator"].partition(":")
        kwargs = {k: v for k, v in self.options.items() if k.startswith("n_") or k == "seed"}
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        getattr(importlib.import_module(module), fn)(tmp, **kwargs)
        try:
            tmp.rename(out)
        except OSError:
            if not out.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class TaskResult:
    """What a scorer kind returns; evaluate_run turns it into a record.

    Attributes:
        metrics: metric name -> ``{"value", "ci95"}`` (see records.metric).
        headline: the metric shown on leaderboards.
        higher_is_better: direction of the headline.
        groups: per paradigm/domain/relation/subtask ``{"n", "accuracy"}``.
        items: per-item scores (2 correct, 1 tie, 0 wrong) or None.
        ties: number of tied items.
        n_items: number of scored items.
        extra: kind-specific additions copied into the record (e.g. GLUE's
            unavailable subtasks and hyper-parameters).
    """

    metrics: dict[str, dict]
    headline: str
    higher_is_better: bool = True
    groups: dict[str, dict] = field(default_factory=dict)
    items: np.ndarray | None = None
    ties: int = 0
    n_items: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    """What a scorer kind may use: the model, its tokenizer, a Scorer, run info."""

    model: Any
    tokenizer: Any
    scorer: Any
    device: Any
    run_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str, int], Callable[[int], None]] | None = None
    limit: int | None = None   # cap items per group (quick checks, benchmarks)

    def bar(self, label: str, total: int) -> Callable[[int], None] | None:
        return self.progress(label, total) if self.progress else None


KINDS: Registry[Callable[[TaskSpec, EvalContext], TaskResult]] = Registry("task kind")
TASKS: Registry[TaskSpec] = Registry("task")

_FIELDS = {"name", "kind", "version", "data", "description", "root", "source", "options"}
_REQUIRED = {"name", "kind", "version", "data", "description"}


def parse_task(path: str | Path) -> TaskSpec:
    """Parse and validate one task TOML; every problem is a one-line error naming the file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BabybenchError(f"task file not found: {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise BabybenchError(f"{p}: invalid TOML ({e})") from None
    unknown = set(raw) - _FIELDS
    if unknown:
        raise BabybenchError(f"{p}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    missing = _REQUIRED - set(raw)
    if missing:
        raise BabybenchError(f"{p}: missing required field(s) {sorted(missing)}")
    if raw["name"] != p.stem:
        raise BabybenchError(f"{p}: name '{raw['name']}' must equal the file name '{p.stem}'")
    if not isinstance(raw["version"], int):
        raise BabybenchError(f"{p}: version must be an integer")
    if raw.get("root", "data") not in ("data", "cache"):
        raise BabybenchError(f"{p}: root must be 'data' or 'cache'")
    return TaskSpec(path=p, **raw)


@functools.cache
def load_tasks(eval_dir: str = str(EVAL_DIR)) -> list[str]:
    """Register every ``evaluations/*.toml`` in :data:`TASKS` (once); return the names."""
    import_kinds()
    names = []
    for p in sorted(Path(eval_dir).glob("*.toml")):
        spec = parse_task(p)
        KINDS.get(spec.kind)  # unknown kind -> did-you-mean error naming the kinds
        if spec.name not in TASKS:
            TASKS.register(spec.name, spec)
        names.append(spec.name)
    return names


def get_task(name: str) -> TaskSpec:
    """The spec of task ``name`` (did-you-mean error for unknown names)."""
    load_tasks()
    return TASKS.get(name)


def import_kinds() -> None:
    # Each kind module registers itself in KINDS on import.
    from babybench.eval import bear, ewok, glue, minimal_pair, perplexity  # noqa: F401


# ------------------------------------------------------------------ checksums
@functools.cache
def _checksum(path: str, mtime_key: tuple) -> str:
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    parts = []
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        parts += [str(f.relative_to(p)), sha256_file(f)]
    return sha256_text(*parts)


def data_checksum(spec: TaskSpec) -> str:
    """SHA-256 of the task's data (a file, or every file of a folder by relative name)."""
    p = spec.data_path()
    if not p.exists():
        p = p.with_name(p.name + ".gz")
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _checksum(str(p), key)


# ------------------------------------------------------------------ defaults per track
DEFAULT_TASKS: dict[str, list[str]] = {
    "demo": ["demo-pairs", "perplexity"],
    "strict-small": ["blimp", "blimp_supplement", "ewok", "glue", "bear", "perplexity"],
    "strict": ["blimp", "blimp_supplement", "ewok", "glue", "bear", "perplexity"],
}
"""Tasks for a run whose config names none (track -> tasks); others get perplexity only."""
