"""``babybench prepare``: a corpus recipe -> clean train/dev text, cached.

Pipeline (streamed, so the 100M recipe never sits in memory):
read files (plain or ``.gz``) -> clean -> [split into sentences] -> cut the
training text to exactly ``word_budget`` words (inside the last line if
needed) -> dev from the recipe's own files, or held out by sentence hash ->
``cache_dir()/prepared/<name>-<hash>/{train,dev}.txt`` + ``meta.json``.
The cache key hashes the recipe, the pipeline version and every input file's
size and SHA-256.

Cleaning (:func:`normalize`): Unicode NFC, every run of whitespace becomes one
space, leading/trailing space is dropped, and empty lines are dropped.
Words are whitespace-separated tokens.

Sentence splitting (recipes with ``split = "sentences"``, for files that are
one long line): a sentence ends at ``.``, ``!`` or ``?`` (a run of them,
optionally followed by one closing quote or bracket) when whitespace follows;
a line break always ends a sentence; a wiki heading ``= = = Title = = =``
becomes a line of its own. Abbreviations ("Mr.") are split too: the rule is
simple on purpose.

Hold-out dev (recipes without dev files): every sentence is hashed into one of
1000 buckets; dev takes the lowest buckets until it has ``dev_words`` words,
so identical sentences always land in the same split (no train/dev overlap)
and dev is spread over the whole corpus. Sentences beyond a full split (dev or
train) are left unused (counted in ``meta.json``), never moved across.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
import unicodedata
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from babybench.data.corpus import CorpusRecipe, Download, list_corpora, load_recipe
from babybench.errors import BabybenchError
from babybench.io import (atomic_dir, atomic_path, atomic_write_json, cache_dir, data_dir, open_text, read_json, sha256_file,
                          sha256_text)

CHUNK_CHARS = 1 << 20  # characters read at a time in sentence mode

_BOUNDARY = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’»)\]])\s+")
_HEADING = re.compile(r"\s*(= = = [^=\n]{1,200}? = = =)\s*")


# ---------------------------------------------------------------- cleaning
def normalize(line: str) -> str:
    """NFC-normalise and collapse whitespace; returns "" for a blank line."""
    return " ".join(unicodedata.normalize("NFC", line).split())


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with the module's documented rule (may return "" pieces)."""
    text = _HEADING.sub(r"\n\1\n", text)
    out: list[str] = []
    for part in text.split("\n"):
        out.extend(_BOUNDARY.split(part))
    return out


def _iter_sentence_stream(f) -> Iterator[str]:
    """Sentences of a text stream read in chunks; the last (maybe partial) piece waits for more."""
    tail = ""
    while chunk := f.read(CHUNK_CHARS):
        pieces = split_sentences(tail + chunk)
        tail = pieces.pop()
        yield from pieces
    yield tail


def iter_clean_lines(path: Path, split: str = "lines", skip_lines: int = 0) -> Iterator[str]:
    """Stream the cleaned, non-empty sentences of one plain or ``.gz`` file.

    Raises:
        BabybenchError: the file is not UTF-8, or holds no text.
    """
    n = 0
    try:
        with open_text(path) as f:
            for _ in range(skip_lines):
                f.readline()
            raw = _iter_sentence_stream(f) if split == "sentences" else f
            for line in raw:
                line = normalize(line)
                if line:
                    n += 1
                    yield line
    except UnicodeDecodeError as e:
        raise BabybenchError(f"{path}: not valid UTF-8 at byte {e.start}; re-encode the file as UTF-8") from None
    except (OSError, EOFError) as e:
        raise BabybenchError(f"{path}: cannot read ({e})") from None
    if n == 0:
        raise BabybenchError(f"{path}: file is empty (no text after cleaning); remove it or fix the recipe's globs")


# ---------------------------------------------------------------- finding files
def _glob(base: Path, patterns: list[str], what: str) -> list[Path]:
    """Files matching the patterns (``x`` or ``x.gz``), sorted, each once."""
    found: dict[str, Path] = {}
    for pat in patterns:
        for p in sorted(base.glob(pat)) + sorted(base.glob(pat + ".gz")):
            if p.is_file():
                key = str(p)[:-3] if p.suffix == ".gz" else str(p)
                if key in found and found[key] != p:
                    raise BabybenchError(f"{p}: both plain and .gz copies exist; keep one")
                found[key] = p
    if not found:
        raise BabybenchError(f"{base}: no {what} files match {patterns}; check the folder or the recipe's globs")
    return [found[k] for k in sorted(found)]


def base_dir(recipe: CorpusRecipe) -> Path:
    """The folder holding a local recipe's files (downloading official archives if needed)."""
    root = data_dir(required=not recipe.downloads)
    if root is not None and (root / recipe.path).is_dir():
        return root / recipe.path
    if recipe.downloads:
        return download(recipe)
    raise BabybenchError(
        f"corpus '{recipe.name}': data folder {root / recipe.path} not found; "
        f"set BABYBENCH_DATA to the data folder (layout: <data>/{recipe.path}/)"
    )


def resolve_files(recipe: CorpusRecipe) -> tuple[list[Path], list[Path]]:
    """(train files, own dev files) of a local recipe; dev is [] when held out."""
    base = base_dir(recipe)
    train = _glob(base, recipe.train, "train")
    dev = _glob(base, recipe.dev, "dev") if recipe.dev else []
    return train, dev


def skip_for(recipe: CorpusRecipe, path: Path) -> int:
    """Leading raw lines to drop for this file (``skip_lines`` keyed by name without ``.gz``)."""
    name = path.name[:-3] if path.suffix == ".gz" else path.name
    return recipe.skip_lines.get(name, 0)


def file_fingerprint(path: Path) -> dict:
    """{name, size, sha256} of a file; the sha256 is memoised by (path, size, mtime)."""
    st = path.stat()
    memo_path = cache_dir() / "file_sha256.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    key = str(path.resolve())
    hit = memo.get(key)
    if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
        sha = hit[2]
    else:
        sha = sha256_file(path)
        memo[key] = [st.st_size, st.st_mtime_ns, sha]
        atomic_write_json(memo_path, memo, indent=None)
    return {"name": path.name, "size": st.st_size, "sha256": sha}


# ---------------------------------------------------------------- downloads
def _check(path: Path, d: Download) -> None:
    """Verify size / sha256 / md5 of a downloaded archive, removing it when wrong."""
    size = path.stat().st_size
    sha = sha256_file(path)
    md5 = hashlib.md5(path.read_bytes()).hexdigest() if d.md5 else ""
    bad = ((d.size and size != d.size) or (d.sha256 and sha != d.sha256) or (d.md5 and md5 != d.md5))
    if bad:
        path.unlink(missing_ok=True)
        raise BabybenchError(f"{d.url}: checksum mismatch (got sha256 {sha}, {size} bytes); "
                             f"the release changed or the download broke; retry or update the recipe")
    if not d.sha256:
        print(f"note: {path.name} has no sha256 in its recipe; it is {sha} (add it to the recipe)")


def download(recipe: CorpusRecipe) -> Path:
    """Fetch and unpack a recipe's official archives into ``cache_dir()/downloads/<name>/``.

    Each archive's files land flat in ``<split>/``; a finished unpack leaves a
    ``.done`` marker, so an interrupted download is simply redone.
    """
    root = cache_dir() / "downloads" / recipe.name
    for d in recipe.downloads:
        tag = sha256_text(d.url)[:12]
        done = root / f".done-{d.split}-{tag}"
        if done.exists():
            continue
        archive = root / f"{d.split}-{tag}.zip"
        try:
            with atomic_path(archive) as tmp, urllib.request.urlopen(d.url, timeout=60) as r:
                with open(tmp, "wb") as f:
                    while block := r.read(1 << 20):
                        f.write(block)
        except OSError as e:
            raise BabybenchError(f"corpus '{recipe.name}': download of {d.url} failed ({e}); download it by hand "
                                 f"from {d.page or d.url} into $BABYBENCH_DATA/{recipe.path}/{d.split}/") from None
        _check(archive, d)
        _unzip_flat(archive, root / d.split)
        done.write_text(d.url + "\n")
    return root


def _unzip_flat(archive: Path, dest: Path) -> None:
    """Extract every regular file of a zip into ``dest`` (folders inside the zip dropped)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                name = Path(info.filename).name
                if info.is_dir() or not name or name.startswith(".") or "__MACOSX" in info.filename:
                    continue
                with z.open(info) as src, atomic_path(dest / name) as tmp, open(tmp, "wb") as out:
                    while block := src.read(1 << 20):
                        out.write(block)
    except zipfile.BadZipFile:
        raise BabybenchError(f"{archive}: not a zip archive; delete it and retry") from None


def iter_recipe_text(recipe: CorpusRecipe, files: Iterable[Path]) -> Iterator[str]:
    """Cleaned sentences of several files, in order."""
    for p in files:
        yield from iter_clean_lines(p, recipe.split, skip_for(recipe, p))


# ---------------------------------------------------------------- the pipeline
PIPELINE_VERSION = "1"  # bump when cleaning/splitting/cutting changes, to invalidate caches
N_BUCKETS = 1000  # hold-out granularity: dev takes whole hash buckets of sentences


@dataclass
class Prepared:
    """A prepared corpus: UTF-8 text, one sentence per line, train and dev."""

    name: str
    language: str
    dir: Path
    train_path: Path
    dev_path: Path
    train_words: int
    dev_words: int
    train_chars: int
    dev_chars: int
    sha256: str
    """SHA-256 of the prepared text: ``sha256_text(train file sha256, dev file sha256)``."""
    vocab_size: int = 16384
    """The recipe's default tokenizer vocabulary size."""

    @classmethod
    def load(cls, d: str | Path) -> "Prepared":
        """Read ``meta.json`` of a prepared folder."""
        d = Path(d)
        meta = read_json(d / "meta.json", "rerun `babybench prepare <corpus> --force`")
        return cls(name=meta["name"], language=meta["language"], dir=d, train_path=d / "train.txt",
                   dev_path=d / "dev.txt", train_words=meta["train"]["words"], dev_words=meta["dev"]["words"],
                   train_chars=meta["train"]["chars"], dev_chars=meta["dev"]["chars"], sha256=meta["sha256"],
                   vocab_size=meta.get("vocab_size", 16384))


class _SplitWriter:
    """Writes lines to a file while counting words/chars and hashing the bytes."""

    def __init__(self, path: Path):
        self.f = open(path, "w", encoding="utf-8", newline="\n")
        self.h = hashlib.sha256()
        self.words = self.chars = self.lines = 0

    def write(self, line: str) -> None:
        data = line + "\n"
        self.f.write(data)
        self.h.update(data.encode("utf-8"))
        self.words += line.count(" ") + 1  # lines are normalised: single spaces
        self.chars += len(line)
        self.lines += 1

    def close(self) -> dict:
        self.f.close()
        return {"words": self.words, "chars": self.chars, "lines": self.lines, "sha256": self.h.hexdigest()}


def cut(lines: Iterable[str], budget: int) -> Iterator[str]:
    """Yield lines until exactly ``budget`` words, cutting inside the last line."""
    left = budget
    for line in lines:
        if left <= 0:
            return
        words = line.split(" ")
        if len(words) > left:
            line = " ".join(words[:left])
        left -= min(len(words), left)
        yield line


def bucket(line: str) -> int:
    """Deterministic hash bucket of a sentence: equal sentences share a bucket (and a split)."""
    return int.from_bytes(hashlib.blake2b(line.encode("utf-8"), digest_size=8).digest(), "little") % N_BUCKETS


def dev_buckets(lines: Iterable[str], dev_words: int, dev_fraction: float) -> tuple[int, int]:
    """First pass of hold-out: (number of leading buckets that give >= dev words, dev words)."""
    per_bucket = [0] * N_BUCKETS
    total = 0
    for line in lines:
        n = line.count(" ") + 1
        per_bucket[bucket(line)] += n
        total += n
    want = dev_words or round(dev_fraction * total)
    if not 0 < want < total:
        raise BabybenchError(f"hold-out of {want} dev words from {total} words is impossible; "
                             f"set dev_words or dev_fraction in the recipe")
    acc = 0
    for k, n in enumerate(per_bucket, start=1):
        acc += n
        if acc >= want:
            return k, want
    return N_BUCKETS, want  # pragma: no cover - acc reaches total >= want


def _text_source(recipe: CorpusRecipe) -> tuple[Callable[[], Iterator[str]], Callable[[], Iterator[str]] | None, list]:
    """(train stream factory, own-dev stream factory or None, input fingerprints for the cache key)."""
    if recipe.source == "grammar":
        from babybench.data import grammar  # written by another helper; imported only when needed

        n = int((recipe.word_budget + (recipe.dev_words or 0)) * 1.25) + 1000
        lines = [ln for ln in (normalize(s) for s in grammar.generate_corpus(n, recipe.seed)) if ln]
        code = {"name": "grammar.py", "sha256": sha256_file(grammar.__file__)}
        return (lambda: iter(lines)), None, [code]
    train, dev = resolve_files(recipe)
    prints = [file_fingerprint(p) for p in train + dev]
    dev_stream = (lambda: iter_recipe_text(recipe, dev)) if dev else None
    return (lambda: iter_recipe_text(recipe, train)), dev_stream, prints


def _write_splits(recipe: CorpusRecipe, train_src, dev_src, out: Path) -> tuple[dict, dict, int]:
    """Stream the text into ``out/train.txt`` and ``out/dev.txt``; returns their stats and dropped words."""
    tw, dw = _SplitWriter(out / "train.txt"), _SplitWriter(out / "dev.txt")
    dropped = 0
    try:
        if dev_src is not None:  # the recipe's own dev files
            for line in cut(train_src(), recipe.word_budget):
                tw.write(line)
            for line in cut(dev_src(), recipe.dev_words or 1 << 62):
                dw.write(line)
        else:  # hold out whole hash buckets of sentences: no sentence is in both splits
            k, want = dev_buckets(train_src(), recipe.dev_words, recipe.dev_fraction)
            for line in train_src():
                n = line.count(" ") + 1
                w, room = (dw, want - dw.words) if bucket(line) < k else (tw, recipe.word_budget - tw.words)
                if room > 0:
                    w.write(line if n <= room else " ".join(line.split(" ")[:room]))
                dropped += max(0, n - max(room, 0))
                if tw.words >= recipe.word_budget and dw.words >= want:
                    break
    finally:
        train_stats, dev_stats = tw.close(), dw.close()
    return train_stats, dev_stats, dropped


def cache_key(recipe: CorpusRecipe, inputs: list) -> str:
    """Hash of everything the prepared text depends on."""
    return sha256_text(PIPELINE_VERSION, json.dumps(recipe.to_dict(), sort_keys=True), json.dumps(inputs))


def prepare(name: str | Path, force: bool = False, verbose: bool = False) -> Prepared:
    """Clean a corpus, cut it to its word budget, hold out dev; cached by content hash.

    Output: ``cache_dir()/prepared/<name>-<hash12>/{train.txt, dev.txt, meta.json}``,
    written in a temp folder that is renamed into place when complete.
    """
    recipe = load_recipe(name)
    train_src, dev_src, inputs = _text_source(recipe)
    key = cache_key(recipe, inputs)
    out = cache_dir() / "prepared" / f"{recipe.name}-{key[:12]}"
    if (out / "meta.json").is_file() and not force:
        return Prepared.load(out)
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp:
        train, dev, dropped = _write_splits(recipe, train_src, dev_src, tmp)
        if train["words"] < recipe.word_budget:
            print(f"warning: corpus '{recipe.name}' has only {train['words']:,} training words "
                  f"(budget {recipe.word_budget:,})")
        meta = {"name": recipe.name, "language": recipe.language, "cache_key": key,
                "sha256": sha256_text(train["sha256"], dev["sha256"]), "vocab_size": recipe.vocab_size,
                "word_budget": recipe.word_budget, "train": train, "dev": dev, "unused_words": dropped,
                "dev_policy": "own files" if dev_src else f"hold-out ({N_BUCKETS} hash buckets)",
                "inputs": inputs, "recipe": recipe.to_dict(), "pipeline_version": PIPELINE_VERSION,
                "wall_s": round(time.perf_counter() - t0, 3)}
        atomic_write_json(tmp / "meta.json", meta)
    return Prepared.load(out)


# ---------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``babybench prepare <corpus> [--force]``."""
    parser.add_argument("corpus", nargs="?", help="recipe name (corpora/<name>.toml) or path to a .toml")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--list", action="store_true", help="list the known corpora and exit")


def run(args: argparse.Namespace) -> int:
    """Prepare one corpus and print a short summary."""
    if args.list or not args.corpus:
        for n in list_corpora():
            r = load_recipe(n)
            print(f"{n:14s} {r.language}  {r.word_budget:>12,} words  {r.description[:60]}")
        return 0 if args.list else 2
    p = prepare(args.corpus, force=args.force)
    print(f"{p.name} ({p.language}): train {p.train_words:,} words / {p.train_chars:,} chars, "
          f"dev {p.dev_words:,} words / {p.dev_chars:,} chars")
    print(f"  {p.dir}  sha256 {p.sha256[:16]}")
    return 0
