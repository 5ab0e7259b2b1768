"""The benchmark scripts still run: each one's CPU smoke command, as a user would type it.
(Their timings are not checked here; speed is measured on the GPU, see benchmarks/README.md.)"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SMOKE = {
    "gla_chunks": ["--device", "cpu", "--batch", "1", "--seq", "40", "--iters", "1",
                   "--pairs", "32x8,16x4", "--no-compile"],
    "xlstm_parts": ["--device", "cpu", "--batch", "1", "--seq", "40", "--inner", "64", "--heads", "4",
                    "--iters", "1", "--no-compile"],
    "kernels": ["--tiny"],
    "lstm_cudnn": ["--device", "cpu", "--batch", "2", "--seq", "32", "--width", "16", "--iters", "1"],
    "throughput": ["--size", "debug", "--batch", "2", "--seq", "32", "--steps", "1", "--warmup", "1",
                   "--families", "transformer,hgrn2", "--peers", ""],
}


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_benchmark_script_runs_on_cpu(name):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *SMOKE[name]],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("|")]
    assert len(table) >= 3, out.stdout[-2000:]                    # header, rule, at least one row
    assert "failed" not in out.stdout and "nan" not in out.stdout.lower(), out.stdout[-2000:]


def test_throughput_times_each_model_in_its_own_process(tmp_path):
    """Each model runs in its own child process; the parent reads its row back, and a model
    that fails there still gives a row (with its error) while the others are timed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *SMOKE["throughput"],
                          "--families", "transformer,hgrn2,no-such-family", "--out", str(tmp_path / "t.json")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    timed = [r for r in json.loads((tmp_path / "t.json").read_text())["results"] if "pid" in r]
    pids = [r["pid"] for r in timed]
    assert len(pids) == 2 and len(set(pids)) == 2, pids
    assert all(0 < r["host_ms"] <= r["step_ms"] for r in timed), timed    # the CPU's share of the step
    rows = {line.split("|")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("| ")}
    assert "1.00x" in rows["transformer"], out.stdout[-2000:]
    assert "failed: BabybenchError: unknown model family 'no-such-family'" in rows["no-such-family"]


def _benchmark_module(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_host_profile_names_the_functions_that_took_the_time():
    def slow_host_work():
        return sum(i * i for i in range(20000))

    calls = []
    text = _benchmark_module("profile_step").host_profile(lambda: calls.append(slow_host_work()), steps=3, top=10)
    assert len(calls) == 3
    assert "slow_host_work" in text and "tottime" in text


def test_profile_groups_sum_kernel_time_by_kind():
    from types import SimpleNamespace

    mod = _benchmark_module("profile_step")

    def ev(key, us, n, dev="CUDA"):
        return SimpleNamespace(key=key, self_device_time_total=us, count=n, device_type=SimpleNamespace(name=dev))

    events = [ev("nvjet_sm90_tst_128x256_64x4", 2000, 4), ev("_grads", 1500, 2), ev("ampere_lstm_tile16", 700, 3),
              ev("_block_diag_bwd", 400, 3), ev("_mlstm_bwd", 250, 2),
              ev("triton_poi_fused_add_mul_0", 300, 5), ev("triton_red_fused_sum_1", 200, 1),
              ev("void at::native::elementwise_kernel", 100, 1), ev("aten::mm", 9999, 1, dev="CPU")]
    groups = mod.group_times(events)
    assert groups == {"matmul (cuBLAS / CUTLASS)": (2.0, 4), "babybench Triton scan": (1.5, 2),
                      "cuDNN LSTM": (0.7, 3), "babybench Triton block-diag map": (0.4, 3),
                      "Inductor Triton": (0.5, 6), "other": (0.35, 3)}


def test_throughput_rows_name_the_compile_mode_that_ran():
    tp = _benchmark_module("throughput")
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert tp.row_compile_mode("auto", "xlstm", False, cuda) == "reduce-overhead"      # as training
    assert tp.row_compile_mode("auto", "transformer", False, cuda) == "default"
    assert tp.row_compile_mode("auto", "hf-llama", True, cuda) == "default"            # a peer
    assert tp.row_compile_mode("reduce-overhead", "hf-llama", True, cuda) == "reduce-overhead"
    for mode in ("auto", "reduce-overhead"):                   # no CUDA graphs on the CPU
        assert tp.row_compile_mode(mode, "xlstm", False, cpu) == "default"


def test_throughput_set_overrides_the_model_config(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    params = {}
    for tag, extra in (("preset", []), ("one-layer", ["--set", "n_layers=1"]), ("typo", ["--set", "n_layer=1"])):
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *SMOKE["throughput"],
                              "--families", "transformer", *extra, "--out", str(tmp_path / f"{tag}.json")],
                             capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        params[tag] = json.loads((tmp_path / f"{tag}.json").read_text())["results"][0]
    assert params["one-layer"]["params"] < params["preset"]["params"]
    assert "unknown model override 'n_layer'" in params["typo"]["error"]


def test_throughput_sets_inductor_options_in_each_process(tmp_path):
    """``--inductor KEY=VALUE`` reaches torch._inductor.config in the child process that times the
    model (its row reads the option back); a typo or a wrong type stops the run with one line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    script = [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *SMOKE["throughput"], "--families", "transformer"]
    out = subprocess.run([*script, "--inductor", "combo_kernels=True", "--out", str(tmp_path / "t.json")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["results"][0]["inductor"] == {"combo_kernels": True}, data
    assert data["config"]["inductor"] == ["combo_kernels=True"]
    for bad, msg in (("combo_kernel=True", "has no option 'combo_kernel'"),
                     ("combo_kernels=3", "combo_kernels=3: expected type bool (default False)"),
                     ("combo_kernels_autotune=true", "expected type int"),
                     ("combo_kernels", "must look like KEY=VALUE")):
        out = subprocess.run([*script, "--inductor", bad], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr[-2000:]
        assert msg in out.stderr, out.stderr


def test_fla_warm_workers_share_every_config_once():
    """fla_warm's workers between them compile every autotuning config; with fewer configs than
    workers each worker still gets one (a kernel must run with some config)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fla_warm import share

    configs = list(range(11))
    parts = [share(configs, k, 4) for k in range(4)]
    assert sorted(c for part in parts for c in part) == configs
    assert [share([7, 8], k, 4) for k in range(4)] == [[7], [8], [7], [8]]


def test_fla_warm_refuses_without_a_gpu_or_fla():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fla_warm.py")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "needs a CUDA GPU and the flash-linear-attention package" in out.stderr


@pytest.mark.parametrize("script, args, message", [
    ("gla_triton_sweep", ["--shapes", "mlstm,nope"], "--shapes: unknown nope; known: mamba, mlstm"),
    ("gla_triton_sweep", ["--bv", "64,48"], "--bv 64,48: give powers of 2 of at least 16"),
    ("conv_triton_sweep", ["--kernels", "_conv_fwd,_x"], "--kernels: unknown _x; known: _conv_fwd"),
    ("conv_triton_sweep", ["--rows", "8"], "--rows 8: give powers of 2 of at least 16"),
    ("conv_triton_sweep", [], "conv_triton_sweep.py: needs a CUDA device"),
])
def test_triton_sweeps_refuse_bad_options_in_one_line(script, args, message):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *args],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and message in out.stderr.strip().splitlines()[-1], out.stderr[-1000:]
