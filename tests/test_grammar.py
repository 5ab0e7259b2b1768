"""The demo grammar: determinism, one-word minimal pairs, held-out pairs, learnability."""

import json
import math
from collections import Counter

import pytest

from babybench.data import grammar

N_WORDS = 60_000


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return grammar.generate_corpus(N_WORDS, seed=0)


@pytest.fixture(scope="module")
def pairs() -> dict[str, list[dict]]:
    return grammar.generate_pairs(100, seed=0)


def test_corpus_is_deterministic_and_sized(corpus):
    assert grammar.generate_corpus(N_WORDS, seed=0) == corpus
    assert grammar.generate_corpus(N_WORDS, seed=1) != corpus
    n = sum(len(s.split()) for s in corpus)
    assert N_WORDS <= n < N_WORDS + 40
    assert all(s == s.strip() and "  " not in s and s[-1] in ".?" for s in corpus)


def test_vocabulary_is_modest(corpus):
    vocab = {w for s in corpus for w in s.split()}
    assert 150 < len(vocab) < 500


def test_pairs_are_deterministic(pairs):
    assert grammar.generate_pairs(100, seed=0) == pairs
    assert grammar.generate_pairs(100, seed=1) != pairs


def test_pairs_have_blimp_format(pairs):
    assert set(pairs) == set(grammar.PHENOMENA)
    for uid, rows in pairs.items():
        assert len(rows) == 100
        assert [r["pair_id"] for r in rows] == list(range(100))
        for r in rows:
            assert set(r) == {"sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pair_id"}
            assert r["UID"] == uid


@pytest.mark.parametrize("uid", list(grammar.PHENOMENA))
def test_pairs_differ_in_exactly_one_word(pairs, uid):
    for r in pairs[uid]:
        good, bad = r["sentence_good"].split(), r["sentence_bad"].split()
        assert len(good) == len(bad)
        diff = [(g, b) for g, b in zip(good, bad) if g != b]
        assert len(diff) == 1, r


def test_pairs_are_held_out_from_the_corpus(corpus, pairs):
    seen = set(corpus)
    for rows in pairs.values():
        goods = [r["sentence_good"] for r in rows]
        assert len(set(goods)) == len(goods)
        for r in rows:
            assert r["sentence_good"] not in seen
            assert r["sentence_bad"] not in seen  # the grammar never makes a bad sentence
            assert grammar.is_heldout(r["sentence_good"])


def test_bad_sentences_are_not_generated_by_the_grammar(pairs):
    big = set(grammar.generate_corpus(300_000, seed=3))
    for rows in pairs.values():
        assert not any(r["sentence_bad"] in big for r in rows)


def test_write_pairs(tmp_path):
    paths = grammar.write_pairs(tmp_path / "pairs", n_per_phenomenon=5, seed=0)
    assert sorted(p.stem for p in paths) == sorted(grammar.PHENOMENA)
    rows = [json.loads(line) for line in paths[0].read_text().splitlines()]
    assert len(rows) == 5 and rows[0]["UID"] == paths[0].stem


def _ngram_scorer(corpus: list[str], n: int = 4):
    """A tiny interpolated n-gram LM: enough to show the contrasts are in the corpus."""
    counts = [Counter() for _ in range(n + 1)]  # k-gram counts
    ctx_counts = [Counter() for _ in range(n + 1)]  # counts of each k-gram's context
    for s in corpus:
        toks = ["<s>"] * (n - 1) + s.split()
        for i in range(n - 1, len(toks)):
            for k in range(1, n + 1):
                counts[k][tuple(toks[i - k + 1:i + 1])] += 1
                ctx_counts[k][tuple(toks[i - k + 1:i])] += 1
    total, vocab = sum(counts[1].values()), len(counts[1])

    def logp(sentence: str) -> float:
        toks = ["<s>"] * (n - 1) + sentence.split()
        lp = 0.0
        for i in range(n - 1, len(toks)):
            p = (counts[1][(toks[i],)] + 1) / (total + vocab)
            for k in range(2, n + 1):
                ctx = tuple(toks[i - k + 1:i])
                if ctx_counts[k][ctx]:
                    p = 0.7 * counts[k][ctx + (toks[i],)] / ctx_counts[k][ctx] + 0.3 * p
            lp += math.log(p)
        return lp

    return logp


@pytest.mark.slow
def test_contrasts_are_learnable_from_the_corpus(pairs):
    """A 4-gram model trained on the corpus beats chance on the local phenomena."""
    logp = _ngram_scorer(grammar.generate_corpus(200_000, seed=0))
    local = ["sva_simple", "determiner_noun_agreement", "anaphor_gender_agreement",
             "anaphor_number_agreement", "npi_ever", "npi_any"]
    for uid in local:
        acc = sum(logp(r["sentence_good"]) > logp(r["sentence_bad"]) for r in pairs[uid]) / len(pairs[uid])
        assert acc > 0.65, (uid, acc)
