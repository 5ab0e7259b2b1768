"""Cross-check: babybench's scorer and lm-eval (through the adapter) agree on BLiMP accuracy."""

import json

import numpy as np
import pytest

from babybench.eval import evaluate_model
from babybench.eval.tasks import TaskSpec, EVAL_DIR
from eval_dummies import BigramLM, CharTokenizer

PARADIGMS = ["adjunct_island", "causative", "passive_1"]


@pytest.mark.slow
def test_babybench_and_lm_eval_agree(tmp_path, monkeypatch):
    lm_eval = pytest.importorskip("lm_eval")
    from babybench.eval.lm_eval_adapter import BabybenchLM

    monkeypatch.setenv("BABYBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rng = np.random.default_rng(0)
    words = "the a cat dog saw sees ran runs big small who what".split()
    folder = tmp_path / "evaluation" / "blimp"
    folder.mkdir(parents=True)
    for p in PARADIGMS:
        rows = []
        for i in range(40):
            good = " ".join(rng.choice(words, rng.integers(3, 7))) + "."
            bad = " ".join(rng.choice(words, rng.integers(3, 7))) + "."
            rows.append({"sentence_good": good, "sentence_bad": bad, "field": "syntax", "UID": p, "pair_id": i})
        (folder / f"{p}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = CharTokenizer()
    model = BigramLM(tok.vocab_size, seed=5, scale=2.0)

    ours = evaluate_model(model, tok, TaskSpec("blimp", "minimal_pair", 1, "evaluation/blimp", "t"), device="cpu")
    assert ours.ties == 0  # tie-free, so lm-eval's tie rule cannot differ

    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(EVAL_DIR / "lm_eval"))
    out = lm_eval.simple_evaluate(model=BabybenchLM.from_model(model, tok), tasks=[f"babybench_blimp_{p}" for p in PARADIGMS],
                                  task_manager=tm, bootstrap_iters=0)
    theirs = {p: out["results"][f"babybench_blimp_{p}"]["acc,none"] for p in PARADIGMS}
    for p in PARADIGMS:
        assert theirs[p] == pytest.approx(ours.groups[p]["accuracy"], abs=1e-3), p
    assert np.mean(list(theirs.values())) == pytest.approx(ours.metrics["macro_accuracy"]["value"], abs=1e-3)
