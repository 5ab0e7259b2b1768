"""GLUE fine-tuning: last-real-token pooling, metrics, beating the majority class."""

import json

import numpy as np
import pytest
import torch

from babybench.eval import evaluate_model
from babybench.eval.glue import (FinetuneConfig, confusion_resamples, confusion_stat, finetune_predict,
                                 pool_last, sk_metrics)
from babybench.eval.tasks import TaskSpec
from eval_dummies import CharTokenizer, TinyRNNLM


def test_pool_last_uses_true_lengths_in_mixed_batch():
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = TinyRNNLM(tok.vocab_size)
    seqs = [[2] + tok.encode("ab"), [2] + tok.encode("abcdefg"), [2] + tok.encode("x")]
    lens = torch.tensor([len(s) for s in seqs])
    idx = torch.zeros(3, int(lens.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        idx[i, :len(s)] = torch.tensor(s)
    pooled = pool_last(model.hidden_states(idx), lens)
    for i, s in enumerate(seqs):
        alone = model.hidden_states(torch.tensor([s]))[0, -1]
        torch.testing.assert_close(pooled[i], alone, atol=1e-5, rtol=1e-5)
    # pooling the padded last column would be wrong for the short rows
    assert not torch.allclose(model.hidden_states(idx)[0, -1], pooled[0])


def _synthetic(n, rng):
    # label = whether the second segment ends with "y"; lengths vary so padding is mixed
    out = []
    for _ in range(n):
        lab = int(rng.random() < 0.3)        # imbalanced: majority = 0 (70 %)
        a = "".join(rng.choice(list("abc"), rng.integers(1, 6)))
        b = "".join(rng.choice(list("abc"), rng.integers(0, 8))) + ("y" if lab else "z")
        out.append(([a, b], lab))
    return out


@pytest.mark.slow
def test_finetune_beats_majority_class():
    rng = np.random.default_rng(0)
    train, valid = _synthetic(600, rng), _synthetic(200, rng)
    tok = CharTokenizer()
    cfg = FinetuneConfig(lr=3e-3, head_lr=3e-3, epochs=4, batch_size=32, max_len=32)
    pred = finetune_predict(TinyRNNLM(tok.vocab_size), tok, train, valid, 2, cfg, "cpu")
    y = np.array([l for _, l in valid])
    majority = max(y.mean(), 1 - y.mean())
    assert (pred == y).mean() > majority + 0.15


def test_confusion_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    for k in (2, 3):
        y, p = rng.integers(0, k, 300), rng.integers(0, k, 300)
        C = np.zeros((k, k))
        np.add.at(C, (y, p), 1)
        m = sk_metrics(y, p, k)
        for name in ("accuracy", "f1", "mcc"):
            assert confusion_stat(C, name) == pytest.approx(m[name], abs=1e-9)
        d = confusion_resamples(y, p, k, "accuracy")
        assert np.quantile(d, 0.025) <= m["accuracy"] <= np.quantile(d, 0.975)


def test_glue_kind_reports_unavailable_subtasks(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYBENCH_DATA", str(tmp_path))
    d = tmp_path / "glue"
    d.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("valid", 32)):
        rows = [{"sentence1": a, "sentence2": b, "label": l} for (a, b), l in _synthetic(n, rng)]
        (d / f"rte.{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "boolq.valid.jsonl").write_text(json.dumps({"passage": "p", "question": "q", "label": 1}) + "\n")
    spec = TaskSpec("glue", "finetune", 1, "glue", "t", options={
        "epochs": 1, "max_len": 16, "subtasks": {
            "rte": {"text": ["{sentence1}", "{sentence2}"], "metric": "accuracy"},
            "boolq": {"text": ["{passage}", "{question}?"], "metric": "accuracy"}}})
    tok = CharTokenizer()
    res = evaluate_model(TinyRNNLM(tok.vocab_size), tok, spec, device="cpu")
    assert set(res.groups) == {"rte"} and "boolq" in res.extra["unavailable"]
    assert res.metrics["average"]["value"] == res.metrics["rte_accuracy"]["value"]
    assert res.n_items == 32
