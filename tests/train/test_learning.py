"""End to end on the demo corpus through the CLI: the model learns, complete runs are skipped."""

import json

import numpy as np
import pytest

from babybench.cli import main
from babybench.io import runs_dir


@pytest.mark.slow
def test_demo_run_learns_below_unigram_entropy(capsys):
    from babybench.data import get_data

    args = ["train", "--track", "demo", "--family", "transformer", "budget.max_steps=150",
            "data.seq_len=64", "optim.batch_size=8", "runtime.quiet=true", "runtime.log_every=50"]
    assert main(args) == 0
    run_dir = runs_dir() / "demo" / "transformer-debug-s0"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["corpus"]["name"] == "demo"
    train = np.asarray(get_data("demo").shards.train)
    p = np.bincount(train) / len(train)
    unigram = -(p[p > 0] * np.log(p[p > 0])).sum()  # nats per token
    assert info["dev"]["loss"] < 0.75 * unigram, (info["dev"]["loss"], unigram)
    assert main(args) == 0  # second call: skipped, not retrained
    assert "already complete" in capsys.readouterr().out
    # Without its weights (a run checked out from git) the run is trained again, not skipped.
    (run_dir / "model.safetensors").unlink()
    assert main(args + ["budget.max_steps=2"]) == 0
    assert "weights are not here; training it again" in capsys.readouterr().out
    assert (run_dir / "model.safetensors").is_file()
