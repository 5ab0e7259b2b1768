"""End to end: a saved debug run -> evaluate_run / CLI -> result records (demo pairs, CPU)."""

import json

import pytest

from babybench.cli import main as cli_main
from babybench.eval import evaluate_run, is_current, get_task
from babybench.eval.records import decode_items, read_record


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    import sentencepiece as spm

    from babybench.data.grammar import generate_corpus
    from babybench.io import runs_dir
    from babybench.models import build_model
    from babybench.models.io import save_model

    d = runs_dir() / "demo" / "tiny"
    d.mkdir(parents=True)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(generate_corpus(3000, seed=0)) + "\n")
    spm.SentencePieceTrainer.Train(input=str(corpus), model_prefix=str(d / "tokenizer"), vocab_size=120,
                                   pad_id=0, unk_id=1, bos_id=2, eos_id=3, hard_vocab_limit=False,
                                   minloglevel=2)
    (d / "tokenizer.vocab").unlink()
    model = build_model("transformer", "debug", vocab_size=120)
    save_model(model, d)
    info = {"run_id": "demo/tiny", "track": "demo", "run_name": "tiny", "family": "transformer",
            "size": "debug", "status": "complete", "command": "babybench train ...",
            "corpus": {"name": "demo", "sha256": "x"}}
    (d / "run.json").write_text(json.dumps(info))
    return d


@pytest.mark.slow
def test_evaluate_run_writes_current_records(run_dir):
    paths = evaluate_run(run_dir, tasks=["demo-pairs"], device="cpu")
    rec = read_record(paths[0])
    assert rec["task"]["name"] == "demo-pairs" and rec["headline"] == "macro_accuracy"
    assert rec["run_id"] == "demo/tiny" and "command" not in rec["run"]
    assert len(decode_items(rec["items"])) == rec["task"]["n_items"] > 0
    m = rec["metrics"]["macro_accuracy"]
    assert 0 <= m["value"] <= 1 and m["ci95"][0] <= m["value"] <= m["ci95"][1]
    assert rec["model_sha256"] and rec["task"]["data_sha256"]
    assert is_current(run_dir, get_task("demo-pairs"), json.loads((run_dir / "run.json").read_text()),
                      rec["model_sha256"])
    before = paths[0].stat().st_mtime_ns
    evaluate_run(run_dir, tasks=["demo-pairs"], device="cpu")        # current -> skipped
    assert paths[0].stat().st_mtime_ns == before


@pytest.mark.slow
def test_cli_all_and_errors(run_dir, capsys):
    assert cli_main(["evaluate", "--all", "--tasks", "demo-pairs", "--device", "cpu"]) == 0
    assert "demo/tiny" in capsys.readouterr().out
    assert cli_main(["evaluate", str(run_dir), "--tasks", "blimpp"]) == 2
    assert "did you mean 'blimp'" in capsys.readouterr().err
    (run_dir / "model.safetensors").unlink()
    assert cli_main(["evaluate", str(run_dir), "--tasks", "demo-pairs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "model.safetensors" in err and err.count("\n") == 1


@pytest.mark.slow
def test_perplexity_record(run_dir):
    rec = read_record(evaluate_run(run_dir, tasks=["perplexity"], device="cpu", limit=4)[0])
    assert rec["headline"] == "bpc" and rec["higher_is_better"] is False
    assert rec["metrics"]["bpc"]["value"] > 0 and rec["metrics"]["perplexity"]["value"] > 1
    assert rec["items"] is None and rec["limit"] == 4


def test_generated_data_appears_whole():
    # evaluate --jobs: two scorers may find the demo pairs missing at once. Each writes its own
    # folder and renames it into place, so neither ever reads a half-written one.
    import shutil

    import babybench.data.grammar as grammar

    spec = get_task("demo-pairs")
    out = spec.data_path(must_exist=False)
    module, _, name = spec.options["generator"].partition(":")
    assert module == grammar.__name__
    real = getattr(grammar, name)
    seen = []

    def alone(folder, **kw):
        paths = real(folder, **kw)
        seen.append(out.exists())                   # written, and still nothing at the final path
        return paths

    def rival_first(folder, **kw):
        real(out, **kw)                             # another process renamed its copy first
        return real(folder, **kw)

    for gen in (alone, rival_first):
        shutil.rmtree(out, ignore_errors=True)
        setattr(grammar, name, gen)
        try:
            p = spec.data_path()
        finally:
            setattr(grammar, name, real)
        assert len(list(p.glob("*.jsonl"))) > 3
        assert not list(p.parent.glob(f".{p.name}.tmp-*"))   # no copy left behind
    assert seen == [False]
