"""Data pipeline: recipes, prepare (budgets, dev, errors), tokenizer, shards."""

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from babybench.cli import main
from babybench.data import get_data
from babybench.data.corpus import list_corpora, load_recipe
from babybench.data.prepare import cut, normalize, prepare, split_sentences
from babybench.data.tokenizer import Tokenizer, encode_file_naive, encode_shards, train_tokenizer
from babybench.errors import BabybenchError

WORDS = ("the cat dog sees a big small red blue bird runs fast slowly and she he "
         "they we you it sings eats jumps over under near house tree river").split()


def _sentences(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) + " ." for _ in range(n)]


def _recipe(tmp_path, name="toy", **fields):
    """Write a recipe TOML under tmp_path and return its path."""
    base = dict(name=name, language="en", source="local", path="corpora/toy", train=["*.txt"],
                word_budget=3000, dev_words=500, vocab_size=300)
    base.update(fields)
    lines = []
    for k, v in base.items():
        lines.append(f"{k} = {json.dumps(v)}")
    p = tmp_path / f"{name}.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A data folder with a plain and a .gz file of made-up sentences."""
    d = tmp_path / "data" / "corpora" / "toy"
    d.mkdir(parents=True)
    s = _sentences(800)
    (d / "a.txt").write_text("\n".join(s[:400]) + "\n\n  \n")
    with gzip.open(d / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(s[400:]))
    monkeypatch.setenv("BABYBENCH_DATA", str(tmp_path / "data"))
    return d


def _lines(p):
    return Path(p).read_text(encoding="utf-8").splitlines()


def _words(p):
    return sum(len(line.split()) for line in _lines(p))


# ---------------------------------------------------------------- recipes
@pytest.mark.parametrize("name", list_corpora())
def test_every_recipe_loads(name):
    r = load_recipe(name)
    assert r.name == name and r.word_budget > 0 and r.licence and r.description


def test_unknown_corpus_did_you_mean():
    with pytest.raises(BabybenchError, match=r"unknown corpus 'tiny-dee' \(did you mean 'tiny-de'\?\)"):
        load_recipe("tiny-dee")


def test_unknown_recipe_key(tmp_path):
    with pytest.raises(BabybenchError, match="unknown key 'word_budgett'.*word_budget"):
        load_recipe(_recipe(tmp_path, word_budgett=3))


# ---------------------------------------------------------------- cleaning
def test_normalize_and_split():
    assert normalize("  e\u0301te\u0301 \t  x \r") == "\u00e9t\u00e9 x"
    assert normalize(" \t ") == ""
    text = 'Hi there. "Who?" she said! ok... = = = Title = = = Next one'
    parts = [p for p in split_sentences(text) if p.strip()]
    assert parts == ["Hi there.", '"Who?"', "she said!", "ok...", "= = = Title = = =", "Next one"]


def test_cut_exact_inside_line():
    out = list(cut(["a b c", "d e f", "g"], 5))
    assert out == ["a b c", "d e"]


# ---------------------------------------------------------------- prepare
def test_holdout_budget_exact_and_disjoint(toy, tmp_path):
    p = prepare(_recipe(tmp_path))
    assert p.train_words == _words(p.train_path) == 3000
    assert p.dev_words == _words(p.dev_path) == 500
    train, dev = set(_lines(p.train_path)), set(_lines(p.dev_path))
    # only a cut (truncated) last line may be new; whole sentences never cross splits
    assert len(train & dev) == 0
    assert all(line == normalize(line) and line for line in _lines(p.train_path))


def test_own_dev_files_and_gz(tmp_path, toy):
    (toy / "dev").mkdir()
    with gzip.open(toy / "dev" / "x.dev.gz", "wt") as f:
        f.write("one two three .\nfour five .\n")
    p = prepare(_recipe(tmp_path, dev=["dev/*.dev"], dev_words=0, word_budget=1234))
    assert p.train_words == _words(p.train_path) == 1234
    assert _lines(p.dev_path) == ["one two three .", "four five ."]


def test_sentence_mode_long_line(tmp_path, toy, monkeypatch):
    import babybench.data.prepare as prep

    monkeypatch.setattr(prep, "CHUNK_CHARS", 7)  # force sentences across chunk borders
    for f in toy.iterdir():
        f.unlink()
    (toy / "one.txt").write_text(" ".join(_sentences(300)))
    p = prepare(_recipe(tmp_path, split="sentences", word_budget=1000, dev_words=100))
    assert p.train_words == 1000 and p.dev_words == 100
    assert all(line.endswith(".") for line in _lines(p.train_path)[:-1])


def test_prepare_is_cached(toy, tmp_path):
    r = _recipe(tmp_path)
    a = prepare(r)
    mtime = (a.dir / "meta.json").stat().st_mtime_ns
    b = prepare(r)
    assert a.dir == b.dir and a.sha256 == b.sha256 and (b.dir / "meta.json").stat().st_mtime_ns == mtime
    c = prepare(_recipe(tmp_path, word_budget=2000))
    assert c.dir != a.dir


def test_missing_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYBENCH_DATA", str(tmp_path))
    with pytest.raises(BabybenchError, match="data folder .* not found"):
        prepare(_recipe(tmp_path))


def test_empty_file(toy, tmp_path):
    (toy / "c.txt").write_text(" \n\n")
    with pytest.raises(BabybenchError, match=r"c.txt: file is empty"):
        prepare(_recipe(tmp_path))


def test_non_utf8(toy, tmp_path):
    (toy / "c.txt").write_bytes("caf\u00e9 ok\n".encode("latin-1"))
    with pytest.raises(BabybenchError, match=r"c.txt: not valid UTF-8"):
        prepare(_recipe(tmp_path))


def test_cli_one_line_error(capsys):
    assert main(["prepare", "tiny-dee"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown corpus 'tiny-dee'") and "\n" not in err


def test_download_with_checksum(tmp_path, monkeypatch):
    import hashlib

    z = tmp_path / "train.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("train_10M/x.train", "\n".join(_sentences(400)))
    sha = hashlib.sha256(z.read_bytes()).hexdigest()
    monkeypatch.delenv("BABYBENCH_DATA", raising=False)
    r = _recipe(tmp_path, path="corpora/nowhere", train=["train/*.train"], dev_words=100, word_budget=500)
    with open(r, "a") as f:
        f.write(f'[[downloads]]\nurl = "{z.as_uri()}"\nsplit = "train"\nsha256 = "{sha}"\n')
    assert prepare(r).train_words == 500
    bad = _recipe(tmp_path, name="bad", path="corpora/nowhere", train=["train/*.train"])
    with open(bad, "a") as f:
        f.write(f'[[downloads]]\nurl = "{z.as_uri()}"\nsplit = "train"\nsha256 = "{"0" * 64}"\n')
    with pytest.raises(BabybenchError, match="checksum mismatch"):
        prepare(bad)


# ---------------------------------------------------------------- tokenizer and shards
@pytest.fixture
def toy_data(toy, tmp_path):
    return get_data(str(_recipe(tmp_path)), vocab_size=300)


def test_tokenizer_round_trip_and_specials(toy_data):
    tok = toy_data.tokenizer
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    for line in _lines(toy_data.prepared.dev_path)[:50] + ["Zürich ☃ 東京 unseen wörds"]:
        ids = tok.encode(line)
        assert tok.unk_id not in ids and tok.bos_id not in ids
        assert tok.decode(ids) == line
    assert Tokenizer.load(tok.path).sha256 == tok.sha256


def test_shards_match_tokenizer(toy_data):
    s, p, tok = toy_data.shards, toy_data.prepared, toy_data.tokenizer
    assert s.train.dtype == np.uint16 and isinstance(s.train, np.memmap)
    np.testing.assert_array_equal(np.asarray(s.train), encode_file_naive(p.train_path, tok))
    np.testing.assert_array_equal(np.asarray(s.dev), encode_file_naive(p.dev_path, tok))
    assert s.train[0] == tok.bos_id
    assert (s.train == tok.bos_id).sum() == len(_lines(p.train_path))
    m = s.manifest
    assert m["n_tokens"]["train"] == len(s.train) and m["tokenizer_sha256"] == tok.sha256
    assert m["corpus_sha256"] == p.sha256 and m["words"]["train"] == p.train_words


def test_tokenizer_cached_and_bpe(toy_data):
    p = toy_data.prepared
    assert train_tokenizer(p, 300).path == toy_data.tokenizer.path
    bpe = train_tokenizer(p, 300, "bpe")
    assert bpe.path != toy_data.tokenizer.path and bpe.decode(bpe.encode("the cat .")) == "the cat ."
    assert encode_shards(p, bpe).dir != toy_data.shards.dir


def test_tokenizer_is_reproducible_byte_for_byte(toy_data, tmp_path, monkeypatch):
    # A second training in another cache (another temp folder) must give the same file: the
    # sha256 goes into run.json and the distillation check, so it must name the vocabulary,
    # not the folder it was trained in.
    monkeypatch.setenv("BABYBENCH_CACHE", str(tmp_path / "other-cache"))
    again = train_tokenizer(toy_data.prepared, 300)
    assert again.path != toy_data.tokenizer.path
    assert again.sha256 == toy_data.tokenizer.sha256


# ---------------------------------------------------------------- real data and the demo grammar
def test_demo_corpus():
    pytest.importorskip("babybench.data.grammar")
    p = prepare("demo")
    assert p.train_words == 500_000 and p.dev_words == 25_000
    assert not set(_lines(p.train_path)) & set(_lines(p.dev_path))


@pytest.mark.data
@pytest.mark.parametrize("name", ["tiny-fi", "tiny-tr"])
def test_tiny_corpus_real(name):
    r = load_recipe(name)
    p = prepare(name)
    assert p.train_words == r.word_budget and p.dev_words == r.dev_words
    text = p.train_path.read_text()
    assert "licen" not in text[:2000].lower()  # licence headers skipped


@pytest.mark.data
@pytest.mark.slow
def test_babylm_sample_real():
    d = get_data("babylm-sample", vocab_size=2000)
    p = d.prepared
    assert p.train_words == 3_000_000 and p.dev_words > 400_000
    n_lines = sum(1 for _ in open(p.train_path))
    assert n_lines > 300_000  # one-line files were split into sentences
    assert d.shards.manifest["n_tokens"]["train"] == len(d.shards.train) > 3_000_000
    line = _lines(p.dev_path)[5]
    assert d.tokenizer.decode(d.tokenizer.encode(line)) == line
