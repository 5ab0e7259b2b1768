"""Data: corpus recipes -> prepared text -> tokenizer -> token shards, all cached.

``get_data(corpus)`` is the one call the trainer and the demo need; the parts
are in :mod:`~babybench.data.corpus`, :mod:`~babybench.data.prepare` and
:mod:`~babybench.data.tokenizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep `import babybench.data` light
    from babybench.data.prepare import Prepared
    from babybench.data.tokenizer import ShardSet, Tokenizer


@dataclass
class Data:
    """Everything a training run needs from one corpus."""

    prepared: "Prepared"
    """Clean text and its counts (train/dev words and chars, sha256)."""
    tokenizer: "Tokenizer"
    """The sentencepiece tokenizer trained on the train split."""
    shards: "ShardSet"
    """Flat token memmaps (``.train``, ``.dev``): every line is ``[BOS] + ids``."""


def get_data(corpus: str, vocab_size: int | None = None, model_type: str = "unigram") -> Data:
    """Prepare ``corpus``, train its tokenizer and encode shards (each step cached).

    Args:
        corpus: recipe name (``corpora/<name>.toml``) or a path to a recipe.
        vocab_size: tokenizer vocabulary; defaults to the recipe's ``vocab_size``.
        model_type: ``unigram`` or ``bpe``.
    """
    from babybench.data.prepare import prepare
    from babybench.data.tokenizer import encode_shards, train_tokenizer

    prepared = prepare(corpus)
    tokenizer = train_tokenizer(prepared, vocab_size, model_type)
    return Data(prepared, tokenizer, encode_shards(prepared, tokenizer))
