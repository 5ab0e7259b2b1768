"""Kind ``ewok``: Elements of World Knowledge, the BabyLM 2025 way.

For each row compare log P(" " + Target1 | [BOS] + Context1) against
log P(" " + Target2 | [BOS] + Context1); the row is correct when Target1 wins,
a tie is half correct. Accuracy per domain, headline = macro average over
the 11 domains (micro beside it).

The data is a password-protected zip (EWoK's terms: the plain text must never
be published). It is read straight from the zip into memory and never written
anywhere. The password comes from ``$BABYBENCH_EWOK_PASSWORD`` or the task's
``options.password``; a wrong one is a one-line error.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from babybench.errors import BabybenchError
from babybench.eval.minimal_pair import accuracy_result, compare
from babybench.eval.tasks import KINDS, EvalContext, TaskResult, TaskSpec

FIELDS = ("Domain", "Context1", "Target1", "Target2")


def read_ewok_zip(path: str | Path, password: str) -> list[dict]:
    """All rows of every ``*.jsonl`` member of the zip, decrypted in memory."""
    p = Path(path)
    try:
        zf = zipfile.ZipFile(p)
    except (FileNotFoundError, zipfile.BadZipFile) as e:
        raise BabybenchError(f"{p}: cannot open EWoK zip ({e})") from None
    rows: list[dict] = []
    with zf:
        members = sorted(n for n in zf.namelist() if n.endswith(".jsonl"))
        if not members:
            raise BabybenchError(f"{p}: no .jsonl members in the zip")
        for name in members:
            try:
                text = zf.read(name, pwd=password.encode()).decode("utf-8")
            except RuntimeError as e:
                if "password" in str(e).lower():
                    raise BabybenchError(f"{p}: wrong EWoK zip password; set BABYBENCH_EWOK_PASSWORD "
                                         "or options.password in evaluations/ewok.toml") from None
                raise
            for i, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise BabybenchError(f"{p}/{name}:{i}: malformed JSON ({e.msg})") from None
                missing = [k for k in FIELDS if not isinstance(row.get(k), str)]
                if missing:
                    raise BabybenchError(f"{p}/{name}:{i}: missing field(s) {missing}")
                rows.append(row)
    return rows


def ewok_password(spec: TaskSpec) -> str:
    return os.environ.get("BABYBENCH_EWOK_PASSWORD") or spec.options.get("password", "")


def load_ewok(spec: TaskSpec, limit: int | None = None) -> list[dict]:
    """Rows of the task's zip (first ``limit`` per domain when given)."""
    rows = read_ewok_zip(spec.data_path(), ewok_password(spec))
    if not limit:
        return rows
    seen: dict[str, int] = {}
    kept = []
    for r in rows:
        seen[r["Domain"]] = seen.get(r["Domain"], 0) + 1
        if seen[r["Domain"]] <= limit:
            kept.append(r)
    return kept


@KINDS.register("ewok")
def run_ewok(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    """Score each row's two targets after Context1; see the module docstring."""
    rows = load_ewok(spec, ctx.limit)
    reqs = [(r["Context1"], " " + r["Target1"]) for r in rows] + \
           [(r["Context1"], " " + r["Target2"]) for r in rows]
    scores = ctx.scorer.score(reqs, ctx.bar(spec.name, len(reqs)))
    lp = np.array([s.logprob for s in scores])
    n = len(rows)
    return accuracy_result(compare(lp[:n], lp[n:]), [r["Domain"] for r in rows])
