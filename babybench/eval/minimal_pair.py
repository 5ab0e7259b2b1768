"""Kind ``minimal_pair``: BLiMP, BLiMP supplement, CLAMS, the demo pairs.

Each item is a (good, bad) sentence pair. Both are scored as whole texts,
``[BOS] + ids(sentence)`` with every token after BOS counted, and the item is
correct when log P(good) > log P(bad). A tie counts as half correct (item
score 1 of 2) and ties are counted: a model that gives every sentence the
same score gets 50 %, not 100 %. Sentences are used verbatim (the supplement's
dialogue turns keep their newlines).

Headline: ``macro_accuracy`` = unweighted mean over paradigms (files), as
BabyLM reports BLiMP; ``micro_accuracy`` (over all items) beside it, and for
BLiMP a macro accuracy per linguistic field.

Data formats (``options.format``), a registry so new formats are one function:
``blimp_jsonl`` (a folder of BLiMP-style jsonl: sentence_good, sentence_bad,
optional field) and ``clams_tsv`` (a folder of ``True/False<TAB>sentence``
lines, grammatical first, then its ungrammatical twin).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from babybench.errors import BabybenchError
from babybench.eval.records import bootstrap_ci, metric
from babybench.eval.tasks import KINDS, EvalContext, TaskResult, TaskSpec
from babybench.io import iter_lines, read_jsonl
from babybench.registry import Registry


@dataclass
class Pair:
    """One minimal pair: ``group`` is the paradigm, ``field`` its broader area."""

    good: str
    bad: str
    group: str
    field: str = ""


PAIR_FORMATS: Registry[Callable[[Path], list[Pair]]] = Registry("minimal-pair data format")


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".gz", ".jsonl", ".txt", ".tsv"):
        name = name.removesuffix(suffix)
    return name


def _files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise BabybenchError(f"minimal-pair data folder not found: {folder}")
    files = sorted({f for pat in patterns for f in folder.glob(pat)})
    if not files:
        raise BabybenchError(f"{folder}: no data files matching {', '.join(patterns)}")
    return files


@PAIR_FORMATS.register("blimp_jsonl")
def load_blimp_jsonl(folder: Path) -> list[Pair]:
    """A folder of BLiMP-style jsonl files; the file name is the paradigm."""
    pairs = []
    for f in _files(folder, ("*.jsonl", "*.jsonl.gz")):
        for i, row in enumerate(read_jsonl(f), start=1):
            if not isinstance(row.get("sentence_good"), str) or not isinstance(row.get("sentence_bad"), str):
                raise BabybenchError(f"{f}: row {i} lacks string fields sentence_good/sentence_bad")
            field = row.get("field") or ""
            pairs.append(Pair(row["sentence_good"], row["sentence_bad"], _stem(f), str(field)))
    return pairs


@PAIR_FORMATS.register("clams_tsv")
def load_clams_tsv(folder: Path) -> list[Pair]:
    """CLAMS: ``True<TAB>good`` followed by ``False<TAB>bad``, per file (paradigm)."""
    pairs = []
    for f in _files(folder, ("*.txt", "*.txt.gz", "*.tsv", "*.tsv.gz")):
        good = None
        for i, line in enumerate(iter_lines(f), start=1):
            if not line.strip():
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in ("True", "False"):
                raise BabybenchError(f"{f}:{i}: expected 'True<TAB>sentence' or 'False<TAB>sentence'")
            if label == "True":
                if good is not None:
                    raise BabybenchError(f"{f}:{i}: two grammatical lines in a row (missing False twin)")
                good = text
            else:
                if good is None:
                    raise BabybenchError(f"{f}:{i}: ungrammatical line without its grammatical twin before it")
                pairs.append(Pair(good, text, _stem(f)))
                good = None
        if good is not None:
            raise BabybenchError(f"{f}: last grammatical sentence has no ungrammatical twin")
    return pairs


def load_pairs(spec: TaskSpec) -> list[Pair]:
    """Load a task's pairs with its declared format (default ``blimp_jsonl``)."""
    folder = spec.data_path()  # generated data (demo pairs) is written on first use
    return PAIR_FORMATS.get(spec.options.get("format", "blimp_jsonl"))(folder)


def cap_per_group(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """Keep the first ``limit`` pairs of each group (quick checks)."""
    if not limit:
        return pairs
    seen: dict[str, int] = defaultdict(int)
    out = []
    for p in pairs:
        if seen[p.group] < limit:
            seen[p.group] += 1
            out.append(p)
    return out


def compare(good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Item scores: 2 when good > bad, 1 on an exact tie, 0 otherwise."""
    return np.where(good > bad, 2, np.where(good == bad, 1, 0)).astype(np.uint8)


def accuracy_result(items: np.ndarray, groups: list[str], fields: list[str] | None = None) -> TaskResult:
    """Macro (over groups) and micro accuracy with bootstrap CIs, from 2/1/0 item scores."""
    values = items.astype(np.float64) / 2.0
    g = np.asarray(groups)
    names = sorted(set(groups))
    per_group = {k: {"n": int((g == k).sum()), "accuracy": float(values[g == k].mean())} for k in names}
    macro = float(np.mean([per_group[k]["accuracy"] for k in names]))
    metrics = {
        "macro_accuracy": metric(macro, bootstrap_ci(values, g, macro=True)),
        "micro_accuracy": metric(values.mean(), bootstrap_ci(values, g, macro=False)),
    }
    if fields and any(fields):
        f = np.asarray(fields)
        for name in sorted(set(fields) - {""}):
            sel = f == name
            m = float(np.mean([per_group[k]["accuracy"] for k in sorted(set(g[sel].tolist()))]))
            key = "field_" + name.replace("/", "_").replace("-", "_") + "_macro_accuracy"
            metrics[key] = metric(m, bootstrap_ci(values[sel], g[sel], macro=True))
    return TaskResult(metrics=metrics, headline="macro_accuracy", groups=per_group, items=items,
                      ties=int((items == 1).sum()), n_items=int(items.size))


@KINDS.register("minimal_pair")
def run_minimal_pair(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    """Score every pair of ``spec`` with ``ctx.scorer``; see the module docstring."""
    pairs = cap_per_group(load_pairs(spec), ctx.limit)
    texts = [p.good for p in pairs] + [p.bad for p in pairs]
    scores = ctx.scorer.score_texts(texts, ctx.bar(spec.name, len(set(texts))))
    lp = np.array([s.logprob for s in scores])
    n = len(pairs)
    items = compare(lp[:n], lp[n:])
    return accuracy_result(items, [p.group for p in pairs], [p.field for p in pairs])
