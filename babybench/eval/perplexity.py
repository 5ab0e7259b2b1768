"""Kind ``perplexity``: dev-set perplexity and bits per character.

The run's corpus (``run.json`` corpus name) is prepared through
``babybench.data.prepare`` (cached), and its dev split is tokenised with the
*run's* tokenizer exactly as training does: each line becomes
``[BOS] + ids(line)``, all concatenated. The stream is cut into windows of
``seq_len + 1`` tokens with stride ``seq_len``; every token but the stream's
first is predicted exactly once, with the context available in its window.

- ``perplexity`` = exp(mean NLL per predicted token) (tokenizer dependent);
- ``bpc`` = total NLL in bits / dev characters (comparable across tokenizers;
  the headline, lower is better). The BOS predictions stand for the line
  breaks, so they are counted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from babybench.errors import BabybenchError
from babybench.eval.records import metric
from babybench.eval.tasks import KINDS, EvalContext, TaskResult, TaskSpec
from babybench.io import iter_lines


def dev_stream(tokenizer, dev_path: str | Path) -> np.ndarray:
    """``[BOS] + ids(line)`` for every non-empty dev line, concatenated. -> (N,) int64"""
    lines = [ln for ln in iter_lines(dev_path) if ln.strip()]
    if not lines:
        raise BabybenchError(f"{dev_path}: dev split is empty")
    enc = tokenizer.encode_batch(lines) if hasattr(tokenizer, "encode_batch") else \
        [tokenizer.encode(ln) for ln in lines]
    out = []
    for ids in enc:
        out.append(tokenizer.bos_id)
        out.extend(ids)
    return np.asarray(out, dtype=np.int64)


def stream_nll(scorer, stream: np.ndarray, seq_len: int, max_windows: int | None = None,
               progress=None) -> tuple[float, int]:
    """Total NLL (nats) and number of predicted tokens over windows of the stream."""
    windows = [(stream[s:s + seq_len + 1].tolist(), 1) for s in range(0, len(stream) - 1, seq_len)]
    if max_windows:
        windows = windows[:max_windows]
    scores = scorer.score_ids(windows, progress)
    return -sum(s.logprob for s in scores), sum(s.n_tokens for s in scores)


def _seq_len(ctx: EvalContext, spec: TaskSpec) -> int:
    cfg = getattr(ctx.model, "config", None)
    max_len = getattr(cfg, "max_seq_len", None) or 1024
    want = int(spec.options.get("seq_len") or ctx.info.get("seq_len") or 512)
    return max(2, min(want, max_len - 1))


@KINDS.register("perplexity")
def run_perplexity(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    """Dev perplexity and BPC of the run's own corpus; see the module docstring."""
    from babybench.data.prepare import prepare

    corpus = (ctx.info.get("corpus") or {}).get("name")
    if not corpus:
        raise BabybenchError(f"{ctx.run_dir}/run.json: no corpus.name; cannot find the dev split")
    prepared = prepare(corpus)
    stream = dev_stream(ctx.tokenizer, prepared.dev_path)
    seq_len = _seq_len(ctx, spec)
    n_win = math.ceil((len(stream) - 1) / seq_len)
    nll, n_tok = stream_nll(ctx.scorer, stream, seq_len, ctx.limit, ctx.bar(spec.name, n_win))
    chars = prepared.dev_chars
    if ctx.limit:  # a prefix of the stream: scale the characters by the token share
        chars = chars * n_tok / max(1, len(stream) - 1)
    metrics = {"bpc": metric(nll / math.log(2) / max(chars, 1)),
               "perplexity": metric(math.exp(nll / max(n_tok, 1))),
               "nll_per_token": metric(nll / max(n_tok, 1))}
    res = TaskResult(metrics=metrics, headline="bpc", higher_is_better=False, n_items=n_tok)
    res.extra = {"corpus": {"name": corpus, "sha256": prepared.sha256, "dev_chars": prepared.dev_chars,
                            "dev_tokens": int(len(stream))}, "seq_len": seq_len}
    return res
