"""``--jobs``: runs as child processes, N at a time, each with its own log."""

import json

import pytest

from babybench.cli import main
from babybench.jobs import Job, run_jobs


def test_run_jobs_keeps_order_status_and_logs(tmp_path):
    jobs = [Job("bad", ["frobnicate"], tmp_path / "a" / "bad.log"),
            Job("ok", ["train", "--help"], tmp_path / "ok.log")]
    assert run_jobs(jobs, n_parallel=2, poll_s=0.05) == [2, 0]
    assert "unknown subcommand 'frobnicate'" in jobs[0].log.read_text()
    assert "--jobs" in jobs[1].log.read_text()


def test_bad_config_fails_before_any_child_starts(capsys):
    assert main(["train", "--track", "demo", "--family", "transformer,hgrm2", "--jobs", "2"]) == 2
    assert "did you mean 'hgrn2'" in capsys.readouterr().err


@pytest.mark.slow
def test_train_and_evaluate_two_runs_at_once(tmp_path, capsys):
    quick = ["budget.max_steps=2", "optim.batch_size=4", "data.seq_len=32", "runtime.quiet=true",
             "runtime.eval_every=0", "runtime.eval_max_tokens=2000"]
    assert main(["train", "--track", "demo", "--family", "transformer,lstm", "--seed", "3",
                 "--jobs", "2", *quick]) == 0
    track = tmp_path / "runs" / "demo"
    for name in ("transformer-debug-s3", "lstm-debug-s3"):
        info = json.loads((track / name / "run.json").read_text())
        assert info["status"] == "complete" and info["seed"] == 3
        assert "--seed 3" in info["command"] and "--jobs" not in info["command"]
        assert "done in 2 steps" in (track / name / "train.log").read_text()
    assert main(["evaluate", "--all", "--track", "demo", "--jobs", "2", "--limit", "3",
                 "--tasks", "demo-pairs"]) == 0
    for name in ("transformer-debug-s3", "lstm-debug-s3"):
        assert (track / name / "results" / "demo-pairs.json").is_file()
    out = capsys.readouterr().out
    assert out.count("start: demo/") == 4 and out.count("done: demo/") == 4
