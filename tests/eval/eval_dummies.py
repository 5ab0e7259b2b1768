"""Tiny stand-ins for a tokenizer and a language model whose log-probs we control."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class CharTokenizer:
    """One id per character (ids 4..), sentencepiece-like special ids 0..3."""

    def __init__(self, alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,?!'\"\n:-"):
        self.alphabet = alphabet
        self.index = {c: i + 4 for i, c in enumerate(alphabet)}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = PAD, UNK, BOS, EOS
        self.vocab_size = len(alphabet) + 4

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, UNK) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.alphabet[i - 4] for i in ids if i >= 4)


@dataclass
class Out:
    logits: torch.Tensor


class BigramLM(nn.Module):
    """logits[t] = table[idx[t]]: log P(text) is a sum of table log-softmax entries.

    ``bias`` (V,) adds per-token preference, so a test can make chosen
    characters likely. Has ``hidden_states`` like a babybench BabyLM.
    """

    def __init__(self, vocab_size: int, seed: int = 0, scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.table = nn.Parameter(torch.randn(vocab_size, vocab_size, generator=g) * scale)
        self.emb = nn.Embedding(vocab_size, 16)

    def forward(self, idx, targets=None, state=None, return_state=False):
        return Out(self.table[idx])                         # (B, T, V)

    def hidden_states(self, idx):
        return self.emb(idx)                                # (B, T, 16)

    def logprob(self, ids: list[int]) -> float:
        """Exact log P(ids[1:] | ids[0]) under the bigram table."""
        lp = torch.log_softmax(self.table.detach().double(), -1)
        return float(sum(lp[a, b] for a, b in zip(ids[:-1], ids[1:])))


class ConstantLM(nn.Module):
    """Same distribution everywhere, uniform: every equal-length text ties."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, idx, targets=None, state=None, return_state=False):
        return Out(self.w.expand(*idx.shape, -1))

    def hidden_states(self, idx):
        return torch.zeros(*idx.shape, 4)


class TinyRNNLM(nn.Module):
    """A small causal GRU LM with a learnable body (for GLUE fine-tuning tests)."""

    def __init__(self, vocab_size: int, d: int = 32):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.rnn = nn.GRU(d, d, batch_first=True)
        self.head = nn.Linear(d, vocab_size)

    def hidden_states(self, idx):
        return self.rnn(self.emb(idx))[0]                   # (B, T, D)

    def forward(self, idx, targets=None, state=None, return_state=False):
        return Out(self.head(self.hidden_states(idx)))


def prefer(model: BigramLM, tok: CharTokenizer, good: str = "g", bad: str = "b", margin: float = 8.0) -> BigramLM:
    """Make character ``good`` much more likely than ``bad`` after every token."""
    with torch.no_grad():
        model.table[:, tok.index[good]] += margin
        model.table[:, tok.index[bad]] -= margin
    return model
