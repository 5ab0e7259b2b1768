"""Perplexity windows: every token but the first predicted once, exact against the bigram model."""

import pytest

from babybench.eval.perplexity import dev_stream, stream_nll
from babybench.eval.scorer import Scorer
from eval_dummies import BOS, BigramLM, CharTokenizer


@pytest.mark.parametrize("seq_len", [3, 7, 100])
def test_stream_nll_matches_exact(tmp_path, seq_len):
    tok = CharTokenizer()
    (tmp_path / "dev.txt").write_text("the cat\n\na dog ran\nok\n")
    stream = dev_stream(tok, tmp_path / "dev.txt")
    assert stream[0] == BOS and (stream == BOS).sum() == 3
    model = BigramLM(tok.vocab_size, seed=2)
    nll, n = stream_nll(Scorer(model, tok), stream, seq_len)
    assert n == len(stream) - 1
    assert nll == pytest.approx(-model.logprob(stream.tolist()), abs=1e-3)
