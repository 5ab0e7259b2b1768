"""Each zero-shot kind gives known accuracies on a model whose log-probs we control."""

import gzip
import json
import zipfile

import numpy as np
import pytest

from babybench.errors import BabybenchError
from babybench.eval import evaluate_model
from babybench.eval.bear import fill, rank_items
from babybench.eval.tasks import TaskSpec, load_tasks, parse_task
from eval_dummies import BigramLM, CharTokenizer, ConstantLM, prefer


def spec(name, kind, data, **options):
    return TaskSpec(name=name, kind=kind, version=1, data=data, description="test", options=options)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYBENCH_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def write_jsonl(path, rows, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(str(path) + ".gz", "wt") as f:
            f.write(text)
    else:
        path.write_text(text)


PAIRS_A = [("x g", "x b", "syntax"), ("y g.", "y b.", "syntax"), ("zg", "zb", "syntax"), ("xb", "xg", "syntax")]
PAIRS_B = [("ag\nhi", "ab\nhi", "semantics"), ("ab", "ag", "semantics")]


@pytest.fixture
def blimp_dir(data):
    for name, pairs in (("para_a", PAIRS_A), ("para_b", PAIRS_B)):
        write_jsonl(data / "bl" / f"{name}.jsonl", [
            {"sentence_good": g, "sentence_bad": b, "field": f, "UID": name} for g, b, f in pairs], gz=name == "para_b")
    return data / "bl"


def test_minimal_pair_known_accuracy(blimp_dir):
    tok = CharTokenizer()
    model = prefer(BigramLM(tok.vocab_size), tok)
    res = evaluate_model(model, tok, spec("t", "minimal_pair", "bl", format="blimp_jsonl"), device="cpu")
    assert res.groups["para_a"]["accuracy"] == 0.75 and res.groups["para_b"]["accuracy"] == 0.5
    assert res.metrics["macro_accuracy"]["value"] == pytest.approx(0.625)
    assert res.metrics["micro_accuracy"]["value"] == pytest.approx(4 / 6)
    assert res.ties == 0 and list(res.items) == [2, 2, 2, 0, 2, 0]
    lo, hi = res.metrics["macro_accuracy"]["ci95"]
    assert lo <= 0.625 <= hi
    assert "field_syntax_macro_accuracy" in res.metrics


def test_minimal_pair_ties_count_half(blimp_dir):
    tok = CharTokenizer()
    res = evaluate_model(ConstantLM(tok.vocab_size), tok, spec("t", "minimal_pair", "bl"), device="cpu")
    assert res.ties == 6
    assert res.metrics["macro_accuracy"]["value"] == 0.5     # not 1.0 as in the BabyLM 2025 scorer
    assert set(res.items.tolist()) == {1}


def test_clams_format(data):
    d = data / "clams"
    d.mkdir()
    (d / "simple.txt").write_text("True\tthe g\nFalse\tthe b\nTrue\tthe b\nFalse\tthe g")  # no final newline
    tok = CharTokenizer()
    res = evaluate_model(prefer(BigramLM(tok.vocab_size), tok), tok,
                         spec("c", "minimal_pair", "clams", format="clams_tsv"), device="cpu")
    assert res.n_items == 2 and res.metrics["macro_accuracy"]["value"] == 0.5
    (d / "bad.txt").write_text("False\tx\n")
    with pytest.raises(BabybenchError, match=r"bad.txt:1"):
        evaluate_model(BigramLM(tok.vocab_size), tok, spec("c", "minimal_pair", "clams", format="clams_tsv"))


def test_malformed_jsonl_names_file_and_line(data):
    (data / "bl").mkdir()
    (data / "bl" / "p.jsonl").write_text('{"sentence_good": "a", "sentence_bad": "b"}\n{oops\n')
    tok = CharTokenizer()
    with pytest.raises(BabybenchError, match=r"p.jsonl:2"):
        evaluate_model(BigramLM(tok.vocab_size), tok, spec("t", "minimal_pair", "bl"))


def test_missing_data_is_one_line_error(data):
    tok = CharTokenizer()
    with pytest.raises(BabybenchError, match="not found"):
        evaluate_model(BigramLM(tok.vocab_size), tok, spec("t", "minimal_pair", "nowhere"))


def test_ewok_known_accuracy(data):
    rows = [{"Domain": "d1", "Context1": "A x.", "Context2": "A y.", "Target1": "g g", "Target2": "b b"},
            {"Domain": "d1", "Context1": "A y.", "Context2": "A x.", "Target1": "b b", "Target2": "g g"},
            {"Domain": "d2", "Context1": "Q", "Context2": "R", "Target1": "gg", "Target2": "bb"}]
    (data / "ew").mkdir()
    with zipfile.ZipFile(data / "ew" / "e.zip", "w") as z:  # synthetic rows, not EWoK text
        z.writestr("e/d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    tok = CharTokenizer()
    res = evaluate_model(prefer(BigramLM(tok.vocab_size), tok), tok, spec("e", "ewok", "ew/e.zip"), device="cpu")
    assert res.groups == {"d1": {"n": 2, "accuracy": 0.5}, "d2": {"n": 1, "accuracy": 1.0}}
    assert res.metrics["macro_accuracy"]["value"] == 0.75


def test_bear_ranking_hand_made_relation(data):
    d = data / "bear"
    d.mkdir()
    meta = {"P1": {"templates": ["[X] likes [Y].", "[Y] is liked by [X].", "about [X]: [Y]"],
                   "answer_space_labels": ["gg", "bb", "ab"], "answer_space_ids": ["Q1", "Q2", "Q3"]}}
    (d / "metadata_relations.json").write_text(json.dumps(meta))
    write_jsonl(d / "P1.jsonl", [{"sub_label": "x", "answer_idx": 0}, {"sub_label": "y", "answer_idx": 1}], gz=True)
    tok = CharTokenizer()
    res = evaluate_model(prefer(BigramLM(tok.vocab_size), tok), tok, spec("b", "ranked_choice", "bear"), device="cpu")
    assert res.metrics["accuracy"]["value"] == 0.5
    assert res.metrics["accuracy_first_template"]["value"] == 0.5
    assert res.n_items == 6 and list(res.items) == [2, 0, 2, 0, 2, 0]


def test_bear_fill_and_ties():
    assert fill("[Y] served [X].", "x [Y]", "bob") == "Bob served x [Y]."
    assert rank_items(np.array([1.0, 0.5]), 0) == 2
    assert rank_items(np.array([1.0, 1.0]), 0) == 1
    assert rank_items(np.array([0.2, 1.0]), 0) == 0


def test_shipped_task_files_parse():
    names = load_tasks()
    for n in ["blimp", "blimp_supplement", "ewok", "bear", "glue", "perplexity", "demo-pairs",
              "clams-de", "clams-fr", "clams-ru", "clams-he", "clams-en"]:
        assert n in names


def test_task_file_errors(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text('name = "x"\nkind = "minimal_pair"\nversion = 1\ndata = "d"\ndescription = "d"\nbogus = 1\n')
    with pytest.raises(BabybenchError, match="unknown field"):
        parse_task(p)
    with pytest.raises(BabybenchError, match="not found"):
        parse_task(tmp_path / "missing.toml")
