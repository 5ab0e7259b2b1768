"""DDP through torchrun: two CPU processes (gloo) train one run to completion.

The GPU path is the same code with NCCL; this checks the process-group setup,
the rank-sliced batches, rank-0-only writes and the recorded world size.
"""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_torchrun_two_processes_complete_a_run(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           "-m", "babybench", "train", "--track", "demo", "--family", "transformer",
           "budget.max_steps=4", "optim.batch_size=4", "data.seq_len=32", "runtime.device=cpu",
           "runtime.quiet=true", "runtime.eval_every=0", "runtime.eval_max_tokens=2000"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((tmp_path / "runs" / "demo" / "transformer-debug-s0" / "run.json").read_text())
    assert info["status"] == "complete"
    assert info["train"]["world_size"] == 2
    assert info["train"]["steps"] == 4
