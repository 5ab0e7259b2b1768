"""Read a track's runs and result records into :class:`RunEntry` objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from babybench.errors import BabybenchError
from babybench.io import runs_dir


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BabybenchError(f"cannot read {path}: {e}; delete it or re-run the step that writes it") from None


@dataclass
class RunEntry:
    """One run of a track: its ``run.json`` summary and its result records by task name."""

    run_id: str
    dir: Path
    info: dict[str, Any]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ------------------------------------------------------------ run facts
    def get(self, dotted: str, default: Any = None) -> Any:
        """A value of ``run.json`` by dotted key (``"params.total"``), or ``default``."""
        cur: Any = self.info
        for part in dotted.split("."):
            if not isinstance(cur, dict) or cur.get(part) is None:
                return default
            cur = cur[part]
        return cur

    @property
    def run_name(self) -> str:
        return self.get("run_name", self.dir.name)

    @property
    def family(self) -> str:
        return self.get("family", "?")

    @property
    def size(self) -> str:
        return self.get("size", "?")

    @property
    def seed(self) -> int | None:
        return self.get("seed")

    @property
    def config_key(self) -> tuple:
        """Runs with the same key differ only in their seed (they form a seed group)."""
        obj = self.get("objective.name", "lm")
        return (self.family, self.size, self.get("pattern", ""), obj)

    # ------------------------------------------------------------ metrics
    def metric(self, task: str, name: str | None = None) -> tuple[float, list[float] | None] | None:
        """``(value, ci95)`` of ``name`` (default: the headline) of ``task``, or None."""
        rec = self.records.get(task)
        if rec is None:
            return None
        m = rec.get("metrics", {}).get(name or rec.get("headline", ""))
        if not m or m.get("value") is None:
            return None
        return float(m["value"]), m.get("ci95")

    def items(self, task: str) -> np.ndarray | None:
        """Per-item scores (2 correct, 1 tie, 0 wrong) of ``task``, or None."""
        rec = self.records.get(task)
        if rec is None or not rec.get("items"):
            return None
        from babybench.eval.records import decode_items

        return decode_items(rec["items"])


def _load_run(run_dir: Path) -> RunEntry | None:
    records = {}
    for p in sorted((run_dir / "results").glob("*.json")):
        rec = _read_json(p)
        records[rec.get("task", {}).get("name", p.stem)] = rec
    info_path = run_dir / "run.json"
    if info_path.is_file():
        info = _read_json(info_path)
    elif records:  # a record carries a copy of run.json
        info = next(iter(records.values())).get("run", {})
    else:
        return None
    run_id = info.get("run_id") or f"{run_dir.parent.name}/{run_dir.name}"
    return RunEntry(run_id=run_id, dir=run_dir, info=info, records=records)


def _shown(e: RunEntry | None) -> bool:
    """A run is listed once it has a result record, or once its training completed (its
    dev BPC is in run.json; the suites it was not scored on show ``n/a``)."""
    return e is not None and (bool(e.records) or e.get("status") == "complete")


def collect(track: str, root: str | Path | None = None) -> list[RunEntry]:
    """Every listed run of ``track`` (see ``_shown``), sorted by family, size, seed."""
    base = Path(root) if root is not None else runs_dir()
    folder = base / track
    if not folder.is_dir():
        raise BabybenchError(f"no runs for track '{track}' under {base}; "
                             f"train and evaluate first (babybench train --track {track} ...)")
    entries = [e for d in sorted(folder.iterdir()) if d.is_dir() and _shown(e := _load_run(d))]
    return sorted(entries, key=lambda e: (e.family != "transformer", e.family, e.size,
                                          str(e.get("pattern", "")), e.seed or 0, e.run_name))


def list_tracks(root: str | Path | None = None) -> list[str]:
    """Tracks under the runs folder that hold at least one listed run."""
    base = Path(root) if root is not None else runs_dir()
    if not base.is_dir():
        return []
    return sorted(d.name for d in base.iterdir()
                  if d.is_dir() and any(r.is_dir() and _shown(_load_run(r)) for r in d.iterdir()))
