"""Kind ``bear``: the BEAR knowledge probe, scored the lm-pub-quiz way.

For every relation, every instance and each of the relation's 3 templates,
the template is filled with the subject (``[X]``) and, in turn, with every
answer of the relation's answer space (``[Y]``); the first letter is
capitalised. Each filled statement is scored as a whole text (``[BOS] +
ids(statement)``, every token after BOS counted, summed log-likelihood) and
the answers are ranked. An instance is correct when the gold answer ranks
first (accuracy@1); if the gold answer shares the top score with another
answer it counts as a tie (half correct, counted in ``ties``).

Metrics: ``accuracy_first_template`` (template 1 only, comparable to
published BEAR scores), ``accuracy`` (the headline: mean over the templates),
``accuracy_template_<k>``, and ``accuracy_relation_macro`` (unweighted mean
over relations). Like lm-pub-quiz's accumulated score, the per-template
accuracy averages relations weighted by their number of instances.

Per-item scores: 2/1/0 for every (template, instance), template-major, then
relations in sorted order, then instances in file order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babybench.errors import BabybenchError
from babybench.eval.records import bootstrap_ci, metric
from babybench.eval.tasks import KINDS, EvalContext, TaskResult, TaskSpec
from babybench.io import read_json, read_jsonl, resolve_text_file

_SLOT = re.compile(r"\[X\]|\[Y\]")


@dataclass
class Relation:
    """One BEAR relation: its templates, answer space and instances (subject, gold index)."""

    code: str
    templates: list[str]
    answers: list[str]
    instances: list[tuple[str, int]]


def fill(template: str, subject: str, answer: str) -> str:
    """Fill ``[X]``/``[Y]`` (one pass, so labels containing brackets are safe) and capitalise."""
    text = _SLOT.sub(lambda m: subject if m.group() == "[X]" else answer, template)
    return text[:1].upper() + text[1:]


def load_bear(folder: Path, limit: int | None = None) -> list[Relation]:
    """Read ``metadata_relations.json`` and each ``<code>.jsonl(.gz)`` of the folder."""
    meta_path = folder / "metadata_relations.json"
    meta = read_json(meta_path, "BEAR's metadata is missing or damaged: fetch the BEAR release again")
    relations = []
    for code in sorted(meta):
        m = meta[code]
        for key in ("templates", "answer_space_labels"):
            if key not in m:
                raise BabybenchError(f"{meta_path}: relation {code} lacks '{key}'")
        f = resolve_text_file(folder / f"{code}.jsonl")
        inst = []
        for i, row in enumerate(read_jsonl(f), start=1):
            idx = row.get("answer_idx")
            if not isinstance(idx, int) or not 0 <= idx < len(m["answer_space_labels"]) or "sub_label" not in row:
                raise BabybenchError(f"{f}: row {i} needs sub_label and an answer_idx within the answer space")
            inst.append((row["sub_label"], idx))
        relations.append(Relation(code, list(m["templates"]), list(m["answer_space_labels"]), inst[:limit or None]))
    return relations


def rank_items(scores: np.ndarray, gold: int) -> int:
    """2 when ``gold`` alone has the top score, 1 when it shares it, 0 otherwise."""
    top = scores.max()
    if scores[gold] < top:
        return 0
    return 2 if (scores == top).sum() == 1 else 1


@KINDS.register("ranked_choice")
def run_bear(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    """Rank every answer for every (relation, template, instance); see the module docstring."""
    rels = load_bear(spec.data_path(), ctx.limit)
    n_t = {len(r.templates) for r in rels}
    if len(n_t) != 1:
        raise BabybenchError(f"{spec.data_path()}: relations have different numbers of templates {sorted(n_t)}")
    n_templates = n_t.pop()
    texts = [fill(t, s, a) for r in rels for t in r.templates for s, _ in r.instances for a in r.answers]
    scores = ctx.scorer.score_texts(texts, ctx.bar(spec.name, len(set(texts))))
    lp = np.array([s.logprob for s in scores])
    items = np.zeros((n_templates, sum(len(r.instances) for r in rels)), dtype=np.uint8)  # (T, N)
    groups: list[str] = []
    pos, col = 0, 0
    for r in rels:
        k = len(r.answers)
        for t in range(n_templates):
            for j, (_, gold) in enumerate(r.instances):
                items[t, col + j] = rank_items(lp[pos:pos + k], gold)
                pos += k
        col += len(r.instances)
        groups += [r.code] * len(r.instances)
    return bear_result(items, groups)


def bear_result(items: np.ndarray, groups: list[str]) -> TaskResult:
    """Metrics from (templates, instances) item scores and each instance's relation."""
    vals = items.astype(np.float64) / 2.0                 # (T, N)
    per_inst = vals.mean(0)                                # (N,) mean over templates
    g = np.asarray(groups)
    metrics = {
        "accuracy": metric(per_inst.mean(), bootstrap_ci(per_inst, g)),
        "accuracy_first_template": metric(vals[0].mean(), bootstrap_ci(vals[0], g)),
    }
    for t in range(vals.shape[0]):
        metrics[f"accuracy_template_{t + 1}"] = metric(vals[t].mean())
    names = sorted(set(groups))
    per_rel = {k: {"n": int((g == k).sum()), "accuracy": float(per_inst[g == k].mean())} for k in names}
    metrics["accuracy_relation_macro"] = metric(np.mean([v["accuracy"] for v in per_rel.values()]),
                                                bootstrap_ci(per_inst, g, macro=True))
    return TaskResult(metrics=metrics, headline="accuracy", groups=per_rel, items=items.reshape(-1),
                      ties=int((items == 1).sum()), n_items=int(items.size))
