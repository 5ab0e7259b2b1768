"""The one batched zero-shot scorer.

Every zero-shot task reduces to requests ``(context, continuation)`` whose
answer is the summed log-probability of the continuation's tokens given
``[BOS] + context``. Token convention (CONTRACTS): a text is scored as
``[BOS] + ids(text)`` and every token after BOS counts, so a request with an
empty context scores the whole sentence, first word included.

Tokenisation follows lm-eval's rule: ``whole = ids(context + continuation)``,
``n_ctx = len(ids(context))`` and the continuation is ``whole[n_ctx:]``, so
the two parts never straddle a merged token twice.

Speed without changing the numbers:

- identical full token sequences are scored once (BLiMP repeats sentences,
  EWoK and BEAR share contexts and whole statements); per-token log-probs of
  a unique sequence are kept, and each request sums its own slice;
- sequences are sorted by length and packed into batches under a token
  budget, right-padded (causal models never look right, so padding cannot
  change a real position);
- bf16 autocast on CUDA for the forward pass, but the log-softmax is done in
  fp32, on the scored rows only, a chunk of rows at a time, so no fp32
  ``(B, T, V)`` tensor is ever built.

:func:`score_naive` is the one-request-at-a-time fp32 reference that the
tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from babybench.errors import BabybenchError

Request = tuple[str, str]  # (context, continuation)


@dataclass(frozen=True)
class Score:
    """The answer for one request.

    Attributes:
        logprob: summed natural-log probability of the continuation tokens.
        n_tokens: how many tokens were scored.
    """

    logprob: float
    n_tokens: int


# ------------------------------------------------------------------ adapters
class TokenizerAdapter:
    """Uniform ``encode(text) -> ids`` (no specials) and ``bos_id``.

    Accepts a babybench :class:`~babybench.data.tokenizer.Tokenizer` (has
    ``encode`` and ``bos_id``) or a Hugging Face tokenizer (BOS falls back on
    EOS, as GPT-2 style tokenizers have no separate BOS).
    """

    def __init__(self, tok: Any):
        self.tok = tok
        self.is_hf = hasattr(tok, "convert_tokens_to_ids")
        if self.is_hf:
            bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        else:
            bos = tok.bos_id
        if bos is None:
            raise BabybenchError("tokenizer has neither a BOS nor an EOS token; scoring needs one")
        self.bos_id = int(bos)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        if self.is_hf:
            return list(self.tok(text, add_special_tokens=False)["input_ids"])
        return list(self.tok.encode(text))

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        """Batch form of :meth:`encode` (threaded for sentencepiece and fast HF tokenizers)."""
        if not texts:
            return []
        if self.is_hf:
            ids = self.tok(texts, add_special_tokens=False)["input_ids"]
        elif hasattr(self.tok, "encode_batch"):
            ids = self.tok.encode_batch(texts)
        else:
            ids = [self.tok.encode(t) for t in texts]
        return [x if t else [] for x, t in zip(ids, texts)]


def logits_fn(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return ``idx (B, T) -> logits (B, T, V)`` for a BabyLM or an HF causal LM."""
    if hasattr(model, "hidden_states") and not hasattr(model, "generation_config"):
        return lambda idx: model(idx).logits  # babybench BabyLM -> LMOutput
    return lambda idx: model(input_ids=idx).logits  # transformers PreTrainedModel


def model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


# ------------------------------------------------------------------ kernels
def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                    chunk_rows: int = 4096) -> torch.Tensor:
    """fp32 log p(target) at the masked positions, in row order.

    logits (B, T, V) any dtype; targets (B, T) long; mask (B, T) bool.
    Only ``mask.sum()`` rows are upcast, ``chunk_rows`` at a time.
    """
    rows = logits[mask]                                   # (N, V) model dtype
    tgt = targets[mask]                                   # (N,)
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=rows.device)
    for s in range(0, rows.shape[0], chunk_rows):
        r = rows[s:s + chunk_rows].float()               # (n, V) fp32
        lse = torch.logsumexp(r, dim=-1)                  # (n,)
        out[s:s + chunk_rows] = r.gather(1, tgt[s:s + chunk_rows, None]).squeeze(1) - lse
    return out


# ------------------------------------------------------------------ scorer
class Scorer:
    """Batched log-likelihood scorer for any babybench BabyLM or HF causal LM.

    Args:
        model: a BabyLM (``model(idx).logits``) or HF causal LM (``model(input_ids=...)``).
        tokenizer: babybench Tokenizer or HF tokenizer.
        device: where to run (default: the model's device).
        max_tokens: token budget per batch (``B * T_max``), the memory knob.
        max_batch: cap on sequences per batch.
        max_len: longest sequence; longer ones lose context from the left
            (BOS kept). Default: ``model.config.max_seq_len`` when known.
        autocast: bf16 autocast on CUDA.
    """

    def __init__(self, model: Any, tokenizer: Any, device: str | torch.device | None = None,
                 max_tokens: int = 32768, max_batch: int = 1024, max_len: int | None = None,
                 autocast: bool = True):
        self.model = model
        self.tok = tokenizer if isinstance(tokenizer, TokenizerAdapter) else TokenizerAdapter(tokenizer)
        self.device = torch.device(device) if device is not None else model_device(model)
        self.max_tokens, self.max_batch = int(max_tokens), int(max_batch)
        cfg = getattr(model, "config", None)
        self.max_len = max_len or getattr(cfg, "max_seq_len", None) or getattr(cfg, "n_positions", None)
        self.autocast = autocast and self.device.type == "cuda"
        self._logits = logits_fn(model)

    # -- tokenisation
    def encode(self, context: str, continuation: str) -> tuple[list[int], int]:
        """Return ``([BOS] + ids(context + continuation), n_ctx)``; scored tokens are ``ids[n_ctx:]``."""
        whole = self.tok.encode(context + continuation)
        n_ctx = 1 + len(self.tok.encode(context)) if context else 1
        return [self.tok.bos_id] + whole, min(n_ctx, len(whole) + 1)

    def score(self, requests: Sequence[Request], progress: Callable[[int], None] | None = None) -> list[Score]:
        """Score ``(context, continuation)`` requests; see the module docstring."""
        whole = self.tok.encode_many([c + x for c, x in requests])
        ctxs = sorted({c for c, _ in requests if c})
        ctx_len = dict(zip(ctxs, (len(i) for i in self.tok.encode_many(ctxs))))
        enc = [([self.tok.bos_id] + w, min(1 + ctx_len.get(c, 0), len(w) + 1))
               for (c, _), w in zip(requests, whole)]
        return self.score_ids(enc, progress)

    def score_texts(self, texts: Iterable[str], progress: Callable[[int], None] | None = None) -> list[Score]:
        """Whole-text log-probs: ``[BOS] + ids(text)``, every token after BOS scored."""
        return self.score([("", t) for t in texts], progress)

    def score_ids(self, encoded: Sequence[tuple[list[int], int]],
                  progress: Callable[[int], None] | None = None) -> list[Score]:
        """Score pre-tokenised ``(ids_with_bos, n_ctx)`` pairs."""
        encoded = [self._truncate(ids, n) for ids, n in encoded]
        uniq: dict[tuple[int, ...], int] = {}
        which = np.fromiter((uniq.setdefault(tuple(ids), len(uniq)) for ids, _ in encoded),
                            dtype=np.int64, count=len(encoded))
        seqs = list(uniq)
        flat, offset = self._token_logprobs(seqs, progress)  # all token log-probs, each seq's start
        csum = np.concatenate([[0.0], np.cumsum(flat, dtype=np.float64)])
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        n_ctx = np.fromiter((n for _, n in encoded), dtype=np.int64, count=len(encoded))
        start = offset[which] + n_ctx - 1                    # first scored token of each request
        end = offset[which] + lens[which] - 1
        lp, n_tok = (csum[end] - csum[start]).tolist(), (end - start).tolist()
        return [Score(a, b) for a, b in zip(lp, n_tok)]

    def _truncate(self, ids: list[int], n_ctx: int) -> tuple[list[int], int]:
        if not self.max_len or len(ids) <= self.max_len:
            return ids, n_ctx
        cut = len(ids) - self.max_len  # drop tokens right after BOS
        return [ids[0]] + ids[1 + cut:], max(1, n_ctx - cut)

    def _batches(self, order: list[int], lengths: list[int]) -> Iterable[list[int]]:
        batch: list[int] = []
        for i in order:  # longest first: the first batch reveals OOM at once
            t_max = lengths[batch[0]] if batch else lengths[i]
            if batch and (len(batch) + 1 > self.max_batch or (len(batch) + 1) * t_max > self.max_tokens):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    @torch.no_grad()
    def _token_logprobs(self, seqs: list[tuple[int, ...]],
                        progress: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray]:
        """Log-probs of every token after the first, laid out in processing (length) order.

        Returns ``flat`` (sum of len-1 over seqs,) fp32 and ``offset`` (n_seqs,):
        seq i's token log-probs are ``flat[offset[i]:offset[i] + len_i - 1]``.
        """
        lengths = [len(s) for s in seqs]
        order = sorted(range(len(seqs)), key=lambda i: -lengths[i])
        offset = np.zeros(len(seqs), dtype=np.int64)
        pos = 0
        for i in order:
            offset[i] = pos
            pos += lengths[i] - 1
        parts: list[np.ndarray] = []
        was_training = getattr(self.model, "training", False)
        if hasattr(self.model, "eval"):
            self.model.eval()
        try:
            for batch in self._batches(order, lengths):
                parts.append(self._forward_batch([seqs[i] for i in batch]))
                if progress:
                    progress(len(batch))
        finally:
            if was_training:
                self.model.train()
        flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return flat, offset

    def _forward_batch(self, seqs: list[tuple[int, ...]]) -> np.ndarray:
        B, T = len(seqs), max(len(s) for s in seqs)
        arr = np.zeros((B, T), dtype=np.int64)               # right padding with 0
        for b, s in enumerate(seqs):
            arr[b, :len(s)] = s
        lens = torch.tensor([len(s) for s in seqs])
        idx = torch.from_numpy(arr).to(self.device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            logits = self._logits(idx)                        # (B, T, V)
        targets = idx[:, 1:]                                  # (B, T-1)
        mask = (torch.arange(T - 1)[None, :] < (lens[:, None] - 1)).to(self.device)
        # rows come out batch-major, each sequence's tokens in order: the flat layout above
        return gather_logprobs(logits[:, :-1], targets, mask).cpu().numpy()


# ------------------------------------------------------------------ reference
@torch.no_grad()
def score_naive(model: Any, tokenizer: Any, requests: Sequence[Request]) -> list[Score]:
    """Reference: one request at a time, full fp32 log-softmax, no dedupe."""
    tok = tokenizer if isinstance(tokenizer, TokenizerAdapter) else TokenizerAdapter(tokenizer)
    fn = logits_fn(model)
    dev = model_device(model)
    out = []
    for ctx, cont in requests:
        whole = [tok.bos_id] + tok.encode(ctx + cont)
        n_ctx = 1 + len(tok.encode(ctx)) if ctx else 1
        idx = torch.tensor([whole], device=dev)
        lp = torch.log_softmax(fn(idx).float(), dim=-1)[0, :-1]       # (T-1, V)
        tok_lp = lp.gather(1, idx[0, 1:, None]).squeeze(1)[n_ctx - 1:]
        out.append(Score(float(tok_lp.double().sum()), int(tok_lp.numel())))
    return out
