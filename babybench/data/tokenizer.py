"""``babybench tokenizer``: sentencepiece on a prepared corpus, then token shards.

- :func:`train_tokenizer` trains sentencepiece (unigram or BPE) on the train
  split only, with ``pad 0, unk 1, bos 2, eos 3`` and byte fallback (so no
  text is ever unknown). The text is already NFC-clean, so sentencepiece's
  own normaliser is off (``identity``) and ``decode(encode(line)) == line``.
  At most ``max_sentences`` sentences are sampled for training, which keeps
  the 100M corpus quick. Cached by (corpus sha256, vocab size, model type).
  Training is reproducible byte for byte on any machine: a fixed thread count
  (sentencepiece's result depends on it) and sentences streamed in with the
  model returned in memory, so no temp path is written into the model file.
- :func:`encode_shards` turns every line into ``[BOS] + ids`` and concatenates
  them into one flat ``uint16`` (``uint32`` for vocabularies >= 65536) file per
  split, plus ``manifest.json``. Lines are encoded in batches on all cores.
- :class:`ShardSet` opens those files as read-only ``np.memmap``.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from babybench.data.prepare import Prepared, prepare
from babybench.errors import BabybenchError
from babybench.io import atomic_dir, atomic_write_json, cache_dir, read_json, sha256_file, sha256_text

# The trained vocabulary depends on the thread count, so it is fixed, not taken from the
# machine: the same corpus gives the same tokenizer on a 2-core laptop and a 16-core GPU host
# (where 16 threads also stalled for minutes). 2 is what earlier tokenizers were built with.
TRAIN_THREADS = 2

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
TOKENIZER_VERSION = "2"  # bump when training options change (2: reproducible bytes)
ModelType = Literal["unigram", "bpe"]


class Tokenizer:
    """A trained sentencepiece model with the project's special ids."""

    def __init__(self, path: str | Path):
        import sentencepiece as spm

        self.path = Path(path)
        if not self.path.is_file():
            raise BabybenchError(f"{self.path}: tokenizer model not found; run `babybench tokenizer <corpus>`")
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(str(self.path))
        except (OSError, RuntimeError) as e:
            raise BabybenchError(f"{self.path}: not a sentencepiece model ({e})") from None
        self.sha256 = sha256_file(self.path)
        self.vocab_size: int = self.sp.GetPieceSize()
        self.pad_id, self.unk_id = self.sp.pad_id(), self.sp.unk_id()
        self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        """Open ``tokenizer.model`` (or a folder holding one)."""
        p = Path(path)
        return cls(p / "tokenizer.model" if p.is_dir() else p)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without BOS/EOS."""
        return self.sp.EncodeAsIds(text)

    def encode_batch(self, lines: list[str], num_threads: int = 0) -> list[list[int]]:
        """Token ids of many lines at once (sentencepiece's threaded batch path)."""
        return self.sp.Encode(lines, out_type=int, num_threads=num_threads or (os.cpu_count() or 1))

    def decode(self, ids) -> str:
        """Text of ``ids`` (special ids are dropped)."""
        return self.sp.DecodeIds([int(i) for i in ids])

    def __repr__(self) -> str:
        return f"Tokenizer({self.path}, vocab_size={self.vocab_size})"


def _tokenizer_dir(prepared: Prepared, vocab_size: int, model_type: str) -> Path:
    key = sha256_text(TOKENIZER_VERSION, prepared.sha256, str(vocab_size), model_type)[:12]
    return cache_dir() / "tokenizers" / f"{prepared.name}-{model_type}{vocab_size}-{key}"


def train_tokenizer(prepared: Prepared, vocab_size: int | None = None, model_type: ModelType = "unigram",
                    max_sentences: int = 1_000_000, seed: int = 0) -> Tokenizer:
    """Train sentencepiece on ``prepared.train_path`` (cached); returns the :class:`Tokenizer`.

    Args:
        vocab_size: defaults to the corpus recipe's ``vocab_size``. On a tiny
            corpus sentencepiece may stop below it (``hard_vocab_limit`` off).
        max_sentences: cap on sampled training sentences (speed on big corpora).
    """
    import sentencepiece as spm

    if model_type not in ("unigram", "bpe"):
        raise BabybenchError(f"unknown model type '{model_type}'; use unigram or bpe")
    vocab_size = int(vocab_size or prepared.vocab_size)
    out = _tokenizer_dir(prepared, vocab_size, model_type)
    if (out / "tokenizer.model").is_file():
        return Tokenizer.load(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp, open(prepared.train_path, encoding="utf-8") as lines:
        t0 = time.perf_counter()
        spm.set_random_generator_seed(seed)
        model = io.BytesIO()
        spm.SentencePieceTrainer.Train(
            sentence_iterator=(line.rstrip("\n") for line in lines), model_writer=model,
            vocab_size=vocab_size, model_type=model_type,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            byte_fallback=True, normalization_rule_name="identity", character_coverage=0.9995,
            input_sentence_size=max_sentences, shuffle_input_sentence=True, hard_vocab_limit=False,
            max_sentence_length=1 << 14, num_threads=TRAIN_THREADS, minloglevel=2)
        (tmp / "tokenizer.model").write_bytes(model.getvalue())
        atomic_write_json(tmp / "meta.json", {
            "corpus": prepared.name, "corpus_sha256": prepared.sha256, "vocab_size": vocab_size,
            "model_type": model_type, "max_sentences": max_sentences, "seed": seed,
            "wall_s": round(time.perf_counter() - t0, 3), "version": TOKENIZER_VERSION})
    return Tokenizer.load(out)


# ---------------------------------------------------------------- shards
def shard_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32."""
    return np.dtype(np.uint16 if vocab_size < 65536 else np.uint32)


def _batches(path: Path, n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            batch.append(line.rstrip("\n"))
            if len(batch) == n:
                yield batch
                batch = []
    if batch:
        yield batch


def encode_file(path: Path, tok: Tokenizer, out: Path, dtype: np.dtype, batch_lines: int = 8192) -> int:
    """Write ``[BOS] + ids`` of every line of ``path`` to the raw array file ``out``; returns n_tokens."""
    n = 0
    with open(out, "wb") as f:
        for lines in _batches(path, batch_lines):
            ids = tok.encode_batch(lines)
            flat = np.fromiter((t for seq in ids for t in (tok.bos_id, *seq)), dtype=np.int64,
                               count=sum(len(s) + 1 for s in ids))
            f.write(flat.astype(dtype).tobytes())
            n += len(flat)
    return n


def encode_file_naive(path: Path, tok: Tokenizer) -> np.ndarray:
    """Reference for :func:`encode_file`: one line at a time, in memory (tests only)."""
    out: list[int] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            out += [tok.bos_id] + tok.encode(line.rstrip("\n"))
    return np.array(out, dtype=np.int64)


@dataclass
class ShardSet:
    """Token shards of one corpus + tokenizer: flat read-only memmaps per split."""

    dir: Path
    manifest: dict
    train: np.ndarray = field(repr=False)
    dev: np.ndarray = field(repr=False)

    @classmethod
    def load(cls, d: str | Path) -> "ShardSet":
        """Open ``train.bin`` / ``dev.bin`` as ``np.memmap`` using ``manifest.json``."""
        d = Path(d)
        m = read_json(d / "manifest.json", "rerun `babybench tokenizer`")
        dt = np.dtype(m["dtype"])

        def mm(split: str) -> np.ndarray:
            n = m["n_tokens"][split]
            if (d / f"{split}.bin").stat().st_size != n * dt.itemsize:
                raise BabybenchError(f"{d}/{split}.bin: size does not match manifest; rerun `babybench tokenizer`")
            return np.memmap(d / f"{split}.bin", dtype=dt, mode="r", shape=(n,)) if n else np.zeros(0, dt)

        return cls(dir=d, manifest=m, train=mm("train"), dev=mm("dev"))


def encode_shards(prepared: Prepared, tokenizer: Tokenizer) -> ShardSet:
    """Encode both splits into ``cache_dir()/shards/<corpus>-<key>/`` (cached)."""
    key = sha256_text(TOKENIZER_VERSION, prepared.sha256, tokenizer.sha256)[:12]
    out = cache_dir() / "shards" / f"{prepared.name}-{key}"
    if (out / "manifest.json").is_file():
        return ShardSet.load(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp:
        t0 = time.perf_counter()
        dt = shard_dtype(tokenizer.vocab_size)
        n = {s: encode_file(getattr(prepared, f"{s}_path"), tokenizer, tmp / f"{s}.bin", dt)
             for s in ("train", "dev")}
        atomic_write_json(tmp / "manifest.json", {
            "corpus": prepared.name, "corpus_sha256": prepared.sha256, "tokenizer_sha256": tokenizer.sha256,
            "vocab_size": tokenizer.vocab_size, "dtype": dt.name, "bos_id": tokenizer.bos_id,
            "layout": "every line -> [BOS] + ids, concatenated", "n_tokens": n,
            "words": {"train": prepared.train_words, "dev": prepared.dev_words},
            "chars": {"train": prepared.train_chars, "dev": prepared.dev_chars},
            "wall_s": round(time.perf_counter() - t0, 3)})
    return ShardSet.load(out)


# ---------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``babybench tokenizer <corpus> [--vocab-size N] [--model-type unigram|bpe]``."""
    parser.add_argument("corpus", help="recipe name (corpora/<name>.toml)")
    parser.add_argument("--vocab-size", type=int, default=None, help="default: the recipe's vocab_size")
    parser.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram")


def run(args: argparse.Namespace) -> int:
    """Prepare (cached), train the tokenizer (cached), write shards; print a summary."""
    p = prepare(args.corpus)
    tok = train_tokenizer(p, args.vocab_size, args.model_type)
    shards = encode_shards(p, tok)
    n = shards.manifest["n_tokens"]
    print(f"{p.name}: tokenizer {tok.vocab_size} pieces ({args.model_type}) {tok.path}")
    print(f"  shards {shards.manifest['dtype']}: train {n['train']:,} tokens "
          f"({n['train'] / max(p.train_words, 1):.2f}/word), dev {n['dev']:,} tokens  {shards.dir}")
    return 0
