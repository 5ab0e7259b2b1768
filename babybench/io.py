"""Small I/O helpers shared by every step.

- atomic writes (temp file in the same folder, fsync, rename), so an
  interrupted step never leaves a half-written file behind;
- reading text that may be plain or gzip-compressed, with one-line errors;
- where data, caches and runs live (``$BABYBENCH_DATA``, ``$BABYBENCH_CACHE``);
- provenance: file checksums, the git commit, a hardware string.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

from babybench.errors import BabybenchError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically (keys kept in insertion order)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


class atomic_path:
    """Context manager giving a temp path that is renamed onto ``path`` on success.

    For writers that want a file name (``torch.save``, ``safetensors``, numpy)::

        with atomic_path("model.safetensors") as tmp:
            save_file(tensors, tmp)
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- reading text
def resolve_text_file(path: str | Path) -> Path:
    """Return ``path`` or ``path.gz``, whichever exists, else raise a clear error."""
    p = Path(path)
    if p.is_file():
        return p
    gz = p.with_name(p.name + ".gz")
    if gz.is_file():
        return gz
    raise BabybenchError(f"file not found: {p} (nor {gz.name})")


def open_text(path: str | Path):
    """Open a plain or ``.gz`` text file for reading as UTF-8 (strict)."""
    p = resolve_text_file(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8", errors="strict", newline="")
    return open(p, "r", encoding="utf-8", errors="strict", newline="")


def read_text(path: str | Path) -> str:
    """Read a whole plain or ``.gz`` text file; one-line error if it is not UTF-8."""
    p = resolve_text_file(path)
    try:
        with open_text(p) as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise BabybenchError(f"{p}: not valid UTF-8 at byte {e.start}; re-encode the file as UTF-8") from None
    except (OSError, EOFError) as e:
        raise BabybenchError(f"{p}: cannot read ({e})") from None


def iter_lines(path: str | Path) -> Iterator[str]:
    """Stream the lines of a plain or ``.gz`` text file (without line endings)."""
    p = resolve_text_file(path)
    try:
        with open_text(p) as f:
            for line in f:
                yield line.rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise BabybenchError(f"{p}: not valid UTF-8 at byte {e.start}; re-encode the file as UTF-8") from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a malformed row names the file and line number."""
    p = resolve_text_file(path)
    rows = []
    for i, line in enumerate(iter_lines(p), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise BabybenchError(f"{p}:{i}: malformed JSON ({e.msg}); fix or remove that line") from None
        if not isinstance(row, dict):
            raise BabybenchError(f"{p}:{i}: expected a JSON object per line")
        rows.append(row)
    return rows


def read_json(path: str | Path, fix: str) -> dict[str, Any]:
    """Read a JSON object; a missing, corrupt or non-object file is a one-line error
    naming the file and ending with ``fix`` (what the user should do)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BabybenchError(f"{p} not found; {fix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BabybenchError(f"{p}: corrupt JSON ({e}); {fix}") from None
    if not isinstance(data, dict):
        raise BabybenchError(f"{p}: expected a JSON object; {fix}")
    return data


# ---------------------------------------------------------------- locations
def data_dir(required: bool = True) -> Path | None:
    """The data root named by ``$BABYBENCH_DATA`` (layout of ``shared/data``)."""
    value = os.environ.get("BABYBENCH_DATA")
    if not value:
        if required:
            raise BabybenchError(
                "BABYBENCH_DATA is not set; point it at the data folder "
                "(e.g. export BABYBENCH_DATA=../shared/data)"
            )
        return None
    p = Path(value).expanduser()
    if not p.is_dir():
        if required:
            raise BabybenchError(f"BABYBENCH_DATA={value} is not a folder; set it to the data folder")
        return None
    return p


def cache_dir() -> Path:
    """Where prepared corpora, tokenizers and shards are cached (``$BABYBENCH_CACHE``)."""
    p = Path(os.environ.get("BABYBENCH_CACHE", PROJECT_ROOT / ".cache"))
    p.mkdir(parents=True, exist_ok=True)
    return p


def runs_dir() -> Path:
    """Where training runs live (``$BABYBENCH_RUNS``, default ``./runs``)."""
    return Path(os.environ.get("BABYBENCH_RUNS", PROJECT_ROOT / "runs"))


# ---------------------------------------------------------------- provenance
def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(*parts: str) -> str:
    """Hex SHA-256 of strings joined with NUL separators."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def git_commit() -> str:
    """The project's current commit (short), with ``+dirty`` when the tree has changes.

    ``$BABYBENCH_GIT_COMMIT`` names it where the code runs from a copy without ``.git``
    (a tarball, a remote machine); otherwise such a copy records ``unknown``.
    """
    if os.environ.get("BABYBENCH_GIT_COMMIT"):
        return os.environ["BABYBENCH_GIT_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not sha:
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def hardware() -> str:
    """A short description of the accelerator (or CPU) this process runs on."""
    try:
        import torch

        if torch.cuda.is_available():
            n = torch.cuda.device_count()
            return f"{n}x {torch.cuda.get_device_name(0)}"
    except Exception:  # pragma: no cover - torch missing or broken CUDA
        pass
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


class atomic_dir:
    """Context manager giving a temp folder that replaces ``path`` on success.

    For multi-file outputs (a prepared corpus, a tokenizer, token shards): the
    folder appears complete or not at all; on error the temp folder is removed::

        with atomic_dir(out) as tmp:
            (tmp / "train.txt").write_text(...)
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.path.exists():  # a forced rebuild, or another process finished first
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
