"""Kind ``finetune``: (Super)GLUE classification as BabyLM 2025 runs it.

For each subtask a copy of the model plus a linear head is fine-tuned on the
train split and evaluated on the validation split. Inputs are the subtask's
text segments joined with BOS, like sentences in the training stream:
``[BOS] + ids(seg1) + [BOS] + ids(seg2)``. The pooled representation is the
final-norm hidden state at the last *real* token, found from the true
lengths (right padding would otherwise pool a pad position, and a decoder
collapses to the majority class).

Fixed hyper-parameters and seed (``[options]`` of ``evaluations/glue.toml``):
AdamW, linear warm-up/decay, at most ``max_train`` training examples (a
seeded sample) and ``epochs`` epochs, sequences cut to ``max_len`` tokens.
The defaults (10k examples, 3 epochs, 256 tokens, batch 32) fit a 30M model
in a few GPU minutes for all five subtasks. Subtasks without a train split
(BoolQ, MultiRC in the shared data) are reported as not available, never
trained on a made-up split.

Metrics come from scikit-learn: accuracy, F1 (binary; macro for 3 classes)
and MCC per subtask; each subtask's main metric (``metric`` in its options)
goes into the headline ``average``. CIs: multinomial bootstrap over the
validation confusion matrix (the same as resampling items).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from babybench.eval.records import N_RESAMPLES, SEED, metric
from babybench.eval.scorer import TokenizerAdapter, model_device
from babybench.eval.tasks import KINDS, EvalContext, TaskResult, TaskSpec
from babybench.io import read_jsonl, resolve_text_file
from babybench.errors import BabybenchError


@dataclass
class FinetuneConfig:
    """Fixed fine-tuning hyper-parameters (see module docstring)."""

    lr: float = 3e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    epochs: int = 3
    max_train: int = 10000
    max_eval: int = 0            # 0 = the whole validation split
    max_len: int = 256
    warmup: float = 0.06
    seed: int = 0


# ------------------------------------------------------------------ pooling
def pool_last(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Hidden state at the last real token. h (B, T, D), lengths (B,) -> (B, D)."""
    return h[torch.arange(h.shape[0], device=h.device), lengths.to(h.device) - 1]


def hidden_fn(model: Any):
    if hasattr(model, "hidden_states"):
        return model.hidden_states
    return lambda idx: model(input_ids=idx, output_hidden_states=True).hidden_states[-1]


def encode_example(tok: TokenizerAdapter, segments: Sequence[str], max_len: int) -> list[int]:
    """``[BOS] seg1 [BOS] seg2 ...``, cut to ``max_len`` tokens (keeps the start)."""
    ids: list[int] = []
    for s in segments:
        ids += [tok.bos_id] + tok.encode(s)
    return ids[:max_len]


def _pad(batch: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    lens = torch.tensor([len(x) for x in batch])
    idx = torch.zeros(len(batch), int(lens.max()), dtype=torch.long)
    for i, x in enumerate(batch):
        idx[i, :len(x)] = torch.tensor(x)
    return idx.to(device), lens


class Classifier(nn.Module):
    """Body (a language model) + linear head on the last-real-token state."""

    def __init__(self, body: nn.Module, n_labels: int, d_model: int):
        super().__init__()
        self.body, self.head = body, nn.Linear(d_model, n_labels)
        self._hidden = hidden_fn(body)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self._hidden(idx)                                   # (B, T, D)
        return self.head(pool_last(h, lengths).float())          # (B, n_labels)


def _d_model(model: Any, device) -> int:
    with torch.no_grad():
        return int(hidden_fn(model)(torch.zeros(1, 2, dtype=torch.long, device=device)).shape[-1])


def finetune_predict(model: Any, tokenizer: Any, train: list[tuple[list[str], int]],
                     valid: list[tuple[list[str], int]], n_labels: int, cfg: FinetuneConfig,
                     device=None) -> np.ndarray:
    """Fine-tune a copy of ``model`` + head on ``train``; return predictions on ``valid``."""
    tok = tokenizer if isinstance(tokenizer, TokenizerAdapter) else TokenizerAdapter(tokenizer)
    device = torch.device(device) if device else model_device(model)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    body = copy.deepcopy(model).to(device).float()
    clf = Classifier(body, n_labels, _d_model(body, device)).to(device)
    x_tr = [encode_example(tok, s, cfg.max_len) for s, _ in train]
    y_tr = torch.tensor([y for _, y in train])
    steps = max(1, cfg.epochs * math.ceil(len(x_tr) / cfg.batch_size))
    opt = torch.optim.AdamW([{"params": clf.body.parameters(), "lr": cfg.lr},
                             {"params": clf.head.parameters(), "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    amp = device.type == "cuda"
    clf.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(x_tr))
        for b in range(0, len(order), cfg.batch_size):
            sel = order[b:b + cfg.batch_size]
            idx, lens = _pad([x_tr[i] for i in sel], device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                logits = clf(idx, lens)
            loss = nn.functional.cross_entropy(logits.float(), y_tr[sel].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(clf.parameters(), 1.0)
            opt.step()
            sched.step()
    return predict(clf, [encode_example(tok, s, cfg.max_len) for s, _ in valid], device, cfg.batch_size * 4)


@torch.no_grad()
def predict(clf: Classifier, xs: list[list[int]], device, batch_size: int) -> np.ndarray:
    clf.eval()
    out = []
    for b in range(0, len(xs), batch_size):
        idx, lens = _pad(xs[b:b + batch_size], device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(clf(idx, lens).argmax(-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


# ------------------------------------------------------------------ metrics
def sk_metrics(y: np.ndarray, p: np.ndarray, n_labels: int) -> dict[str, float]:
    """accuracy, f1 (binary, or macro for >2 labels) and mcc from scikit-learn."""
    avg = "binary" if n_labels == 2 else "macro"
    return {"accuracy": float(accuracy_score(y, p)),
            "f1": float(f1_score(y, p, average=avg, labels=list(range(n_labels)), zero_division=0)),
            "mcc": float(matthews_corrcoef(y, p))}


def confusion_stat(C: np.ndarray, name: str) -> np.ndarray:
    """Metric from confusion matrices C (..., K, K) [true, pred]; matches sk_metrics."""
    C = C.astype(np.float64)
    n = C.sum((-1, -2))
    tp = np.diagonal(C, axis1=-2, axis2=-1)                     # (..., K)
    if name == "accuracy":
        return tp.sum(-1) / n
    t, p = C.sum(-1), C.sum(-2)                                 # true / predicted per class
    if name == "f1":
        f1 = np.divide(2 * tp, t + p, out=np.zeros_like(tp), where=(t + p) > 0)
        return f1[..., 1] if C.shape[-1] == 2 else f1.mean(-1)
    if name == "mcc":
        cov = tp.sum(-1) * n - (t * p).sum(-1)
        den = np.sqrt((n ** 2 - (p * p).sum(-1)) * (n ** 2 - (t * t).sum(-1)))
        return np.divide(cov, den, out=np.zeros_like(cov), where=den > 0)
    raise BabybenchError(f"unknown GLUE metric '{name}'; use accuracy, f1 or mcc")


def confusion_resamples(y: np.ndarray, p: np.ndarray, n_labels: int, name: str,
                        n: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Bootstrap draws of a metric: multinomial over confusion cells. -> (n,)"""
    C = np.zeros((n_labels, n_labels))
    np.add.at(C, (y, p), 1)
    draws = np.random.default_rng(seed).multinomial(len(y), C.reshape(-1) / len(y), size=n)
    return confusion_stat(draws.reshape(n, n_labels, n_labels), name)


# ------------------------------------------------------------------ the kind
def _rows(spec: TaskSpec, name: str, split: str) -> list[dict] | None:
    try:
        return read_jsonl(resolve_text_file(spec.data_path() / f"{name}.{split}.jsonl"))
    except BabybenchError as e:
        if "file not found" in str(e):
            return None
        raise


def _examples(rows: list[dict], sub: dict, where: str) -> list[tuple[list[str], int]]:
    out = []
    for i, r in enumerate(rows, start=1):
        try:
            out.append(([t.format(**r) for t in sub["text"]], int(r["label"])))
        except (KeyError, ValueError) as e:
            raise BabybenchError(f"{where}: row {i} lacks field {e} needed by the subtask's text") from None
    return out


@KINDS.register("finetune")
def run_glue(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    """Fine-tune and evaluate every subtask in ``spec.options['subtasks']``."""
    opts = dict(spec.options)
    subtasks: dict[str, dict] = opts.pop("subtasks")
    cfg = FinetuneConfig(**{k: v for k, v in opts.items() if k in FinetuneConfig.__dataclass_fields__})
    if ctx.limit:
        cfg.max_train, cfg.max_eval = ctx.limit, ctx.limit
    metrics, groups, items, unavailable, draws = {}, {}, [], {}, []
    for name, sub in subtasks.items():
        train, valid = _rows(spec, name, "train"), _rows(spec, name, "valid")
        if train is None or valid is None:
            unavailable[name] = f"no {'train' if train is None else 'valid'} split under {spec.data_path()}"
            continue
        rng = np.random.default_rng(cfg.seed)
        if len(train) > cfg.max_train:
            train = [train[i] for i in sorted(rng.choice(len(train), cfg.max_train, replace=False))]
        if cfg.max_eval and len(valid) > cfg.max_eval:
            valid = valid[:cfg.max_eval]
        tr, va = _examples(train, sub, f"{name}.train"), _examples(valid, sub, f"{name}.valid")
        k = int(sub.get("labels", 2))
        pred = finetune_predict(ctx.model, ctx.tokenizer, tr, va, k, cfg, ctx.device)
        y = np.array([lab for _, lab in va])
        m = sk_metrics(y, pred, k)
        main = sub.get("metric", "accuracy")
        d = confusion_resamples(y, pred, k, main)
        draws.append(d)
        for key, v in m.items():
            ci = np.quantile(d, [0.025, 0.975]) if key == main else None
            metrics[f"{name}_{key}"] = metric(v, ci)
        groups[name] = {"n": int(len(y)), "accuracy": m["accuracy"], "metric": main, "value": m[main]}
        items.append(np.where(pred == y, 2, 0).astype(np.uint8))
        if ctx.progress:
            ctx.progress(f"glue/{name}", 1)(1)
    if not groups:
        raise BabybenchError(f"glue: no subtask has both train and valid data under {spec.data_path()}")
    avg = float(np.mean([g["value"] for g in groups.values()]))
    metrics["average"] = metric(avg, np.quantile(np.mean(draws, 0), [0.025, 0.975]))
    res = TaskResult(metrics=metrics, headline="average", groups=groups, items=np.concatenate(items),
                     n_items=int(sum(len(i) for i in items)))
    res.extra = {"unavailable": unavailable, "finetune": cfg.__dict__}
    return res
