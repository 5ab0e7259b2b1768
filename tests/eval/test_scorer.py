"""The batched scorer: exact against a bigram model, invariant to batching and padding."""

import numpy as np
import pytest
import torch

from babybench.eval.scorer import Scorer, TokenizerAdapter, gather_logprobs, score_naive
from eval_dummies import BOS, BigramLM, CharTokenizer

TEXTS = ["the cat sat.", "a", "dogs bark loudly at night", "the cat sat.", "x y z", "Who?\nMe.",
         "a much longer sentence that has quite a few characters in it"]


@pytest.fixture
def setup():
    tok = CharTokenizer()
    return BigramLM(tok.vocab_size, seed=1), tok


def test_whole_text_scores_match_exact_bigram(setup):
    model, tok = setup
    got = Scorer(model, tok).score_texts(TEXTS)
    for t, s in zip(TEXTS, got):
        ids = [BOS] + tok.encode(t)
        assert s.n_tokens == len(t)          # every char after BOS is scored, first one included
        assert s.logprob == pytest.approx(model.logprob(ids), abs=1e-4)


def test_context_continuation_split(setup):
    model, tok = setup
    reqs = [("The ball", " is red"), ("The ball", " is blue"), ("", "alone")]
    got = Scorer(model, tok).score(reqs)
    ref = score_naive(model, tok, reqs)
    for g, r, (c, x) in zip(got, ref, reqs):
        assert g.n_tokens == len(x)
        assert g.logprob == pytest.approx(r.logprob, abs=1e-4)
        full = [BOS] + tok.encode(c + x)
        want = model.logprob(full) - model.logprob([BOS] + tok.encode(c)) if c else model.logprob(full)
        assert g.logprob == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("max_tokens,max_batch", [(10_000, 1), (64, 3), (10_000, 1024)],
                         ids=["batch1", "small-budget", "one-batch"])
def test_batch_size_and_padding_invariance(setup, max_tokens, max_batch):
    model, tok = setup
    ref = [s.logprob for s in Scorer(model, tok, max_batch=1).score_texts(TEXTS)]
    got = [s.logprob for s in Scorer(model, tok, max_tokens=max_tokens, max_batch=max_batch).score_texts(TEXTS)]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_padding_value_does_not_leak():
    # A model whose logits at t depend on ALL positions would change with padding;
    # causal models must not. Check our padded batches against single sequences.
    tok = CharTokenizer()
    model = BigramLM(tok.vocab_size, seed=3)
    s = Scorer(model, tok, max_tokens=10_000)
    a = s.score_texts(["ab", "abcdefghij"])
    b = [Scorer(model, tok).score_texts([t])[0] for t in ["ab", "abcdefghij"]]
    assert [x.logprob for x in a] == pytest.approx([x.logprob for x in b], abs=1e-6)


def test_gather_logprobs_matches_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11).to(torch.bfloat16)
    tgt = torch.randint(0, 11, (3, 5))
    mask = torch.rand(3, 5) > 0.3
    got = gather_logprobs(logits, tgt, mask, chunk_rows=2)
    ref = torch.log_softmax(logits.float(), -1).gather(2, tgt[..., None]).squeeze(-1)[mask]
    torch.testing.assert_close(got, ref)


def test_dedupe_scores_each_unique_sequence_once(setup):
    model, tok = setup
    calls = []
    sc = Scorer(model, tok)
    orig = sc._forward_batch
    sc._forward_batch = lambda seqs: (calls.append(len(seqs)), orig(seqs))[1]
    sc.score_texts(["same", "same", "same", "other"])
    assert sum(calls) == 2


def test_truncation_keeps_bos_and_continuation(setup):
    model, tok = setup
    s = Scorer(model, tok, max_len=6).score([("abcdefgh", "ij")])[0]
    assert s.n_tokens == 2


def test_hf_tokenizer_adapter_bos_fallback():
    class HF:
        bos_token_id = None
        eos_token_id = 7

        def convert_tokens_to_ids(self, x):
            return 0

        def __call__(self, text, add_special_tokens=False):
            if isinstance(text, list):
                return {"input_ids": [[ord(c) for c in t] for t in text]}
            return {"input_ids": [ord(c) for c in text]}

    a = TokenizerAdapter(HF())
    assert a.bos_id == 7 and a.encode("ab") == [97, 98] and a.encode_many(["a", ""]) == [[97], []]


def test_hf_causal_lm_matches_naive():
    transformers = pytest.importorskip("transformers")
    tok = CharTokenizer()
    cfg = transformers.GPT2Config(vocab_size=tok.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    reqs = [("", t) for t in TEXTS[:5]] + [("The ball", " is red")]
    got = Scorer(model, tok, max_tokens=40).score(reqs)
    ref = score_naive(model, tok, reqs)
    np.testing.assert_allclose([g.logprob for g in got], [r.logprob for r in ref], atol=1e-4)


def test_babybench_model_matches_naive():
    from babybench.models import build_model

    tok = CharTokenizer()
    model = build_model("transformer", "debug", vocab_size=tok.vocab_size).eval()
    got = Scorer(model, tok, max_tokens=50).score_texts(TEXTS)
    ref = score_naive(model, tok, [("", t) for t in TEXTS])
    np.testing.assert_allclose([g.logprob for g in got], [r.logprob for r in ref], atol=1e-3)
