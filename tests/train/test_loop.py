"""The loop: exact resume, NaN stops, run folders, load_run, teacher checks."""

import json
import math

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.io import read_jsonl
from babybench.train import load_run, resume, train
from babybench.train.callbacks import Callback, default_callbacks
from babybench.train.checkpoint import load_checkpoint
from babybench.train.loop import check_cuda_graph_plan, pick_compile_mode, run_dir_for
from babybench.train.objectives import OBJECTIVES, LMObjective, ObjectiveContext, load_teacher

from .helpers import VOCAB, small_config, synthetic_data


class _StopAt(Callback):
    def __init__(self, step):
        self.at = step

    def on_step(self, trainer, metrics):
        if trainer.step == self.at:
            raise KeyboardInterrupt


def _params(run_dir):
    return load_checkpoint(run_dir)["model"]


def test_resume_is_bit_exact():
    data = synthetic_data()
    straight = train(small_config(run_name="straight"), data=data)
    cfg = small_config(run_name="split")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, data=data, callbacks=default_callbacks() + [_StopAt(6)])
    assert load_checkpoint(straight.parent / "split")["step"] == 4
    split = resume(straight.parent / "split", data=data)
    a, b = _params(straight), _params(split)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    info = json.loads((split / "run.json").read_text())
    assert info["status"] == "complete" and info["train"]["steps"] == 8
    assert info["train"]["tokens_seen"] == 8 * 8 * 32
    # The log was cut back to the checkpoint, then continued: steps 2, 4, 6, 8 once each.
    steps = [r["step"] for r in read_jsonl(split / "train_log.jsonl") if r["kind"] == "train"]
    assert steps == [2, 4, 6, 8]


def _first_step_grads(cfg, data):
    """The gradients that the first optimiser step of ``cfg`` sees."""
    from babybench.train.loop import Trainer

    trainer = Trainer(cfg, run_dir_for(cfg), data, callbacks=[])
    seen = {}

    def record(optimizer, args, kwargs):
        seen.update({n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None})

    trainer.optimizer.register_step_pre_hook(record)
    trainer.train_step()
    return seen


def test_grad_accumulation_matches_full_batch():
    # Compare gradients, not weights: Adam is nearly scale-invariant, so weights would hide a
    # missing 1/accum, and it turns float noise in near-zero gradients into lr-sized updates.
    # No clipping either: clipping to norm 1 would also hide a scale error.
    data = synthetic_data()
    full = _first_step_grads(small_config(run_name="full", **{"optim.grad_clip": 0}), data)
    accum = _first_step_grads(small_config(run_name="accum", **{"optim.grad_clip": 0,
                                                                "optim.micro_batch_size": 2}), data)
    assert full.keys() == accum.keys() and full
    for k in full:
        torch.testing.assert_close(accum[k], full[k], rtol=1e-4, atol=1e-6, msg=k)


class _NanAfter(LMObjective):
    name = "test-nan"

    def __init__(self, section=None, ctx=None):
        self.calls = 0

    def __call__(self, model, idx, targets):
        self.calls += 1
        loss, m = super().__call__(model, idx, targets)
        if self.calls >= 6:
            loss = loss * float("nan")
        return loss, m


if "test-nan" not in OBJECTIVES:
    OBJECTIVES.register("test-nan", _NanAfter)


def test_nan_stops_run_and_keeps_last_good_checkpoint():
    cfg = small_config(**{"objective.name": "test-nan", "runtime.ckpt_every": 3})
    with pytest.raises(BabybenchError, match=r"non-finite training at step 6.*step 3\)"):
        train(cfg, data=synthetic_data())
    run_dir = run_dir_for(cfg)
    state = load_checkpoint(run_dir)
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert not (run_dir / "model.safetensors").exists()


def test_run_folder_and_load_run():
    data = synthetic_data()
    run_dir = train(small_config(), data=data)
    for name in ("config.yaml", "config.json", "model.safetensors", "train_log.jsonl", "run.json"):
        assert (run_dir / name).is_file(), name
    info = json.loads((run_dir / "run.json").read_text())
    assert info["run_id"] == "test/transformer-debug-s0"
    assert info["dev"]["bpc"] > 0 and math.isfinite(info["dev"]["loss"])
    assert info["train"]["flops"] > 0 and info["params"]["non_embedding"] > 0
    # dev BPC = total nats / (ln 2 * chars) over every dev target
    n_targets = len(data.shards.dev) - 1
    assert info["dev"]["bpc"] == pytest.approx(
        info["dev"]["loss"] * n_targets / (math.log(2) * data.prepared.dev_chars))
    (run_dir / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(BabybenchError, match="tokenizer.model"):
        load_run(run_dir)
    (run_dir / "model.safetensors").unlink()
    # A complete run without weights (as checked out from git) is re-created, not resumed.
    with pytest.raises(BabybenchError, match="model.safetensors not found.*re-create them"):
        load_run(run_dir)


def test_resume_without_checkpoint_names_file(tmp_path):
    with pytest.raises(BabybenchError, match="config.yaml not found"):
        resume(tmp_path)


def test_teacher_tokenizer_mismatch_is_one_line_error(monkeypatch):
    run_dir = train(small_config(**{"budget.max_steps": 2}), data=synthetic_data())
    import babybench.train.run as run_mod
    monkeypatch.setattr(run_mod, "load_tokenizer", lambda d: None)  # synthetic run has no sp model
    ok = ObjectiveContext(torch.device("cpu"), "tok-sha", VOCAB)
    teacher = load_teacher(str(run_dir), ok)
    assert not any(p.requires_grad for p in teacher.model.parameters()) and not teacher.model.training
    with pytest.raises(BabybenchError, match=r"tokenizer sha256 .* differs"):
        load_teacher(str(run_dir), ObjectiveContext(torch.device("cpu"), "other-sha", VOCAB))
    with pytest.raises(BabybenchError, match=r"vocab size 64 differs"):
        load_teacher("test/transformer-debug-s0", ObjectiveContext(torch.device("cpu"), None, 99))


def test_distill_run_end_to_end(monkeypatch):
    data = synthetic_data()
    teacher = train(small_config(run_name="teacher", **{"budget.max_steps": 4}), data=data)
    import babybench.train.run as run_mod
    monkeypatch.setattr(run_mod, "load_tokenizer", lambda d: None)
    cfg = small_config(**{"objective.name": "distill", "objective.teachers": f"[{teacher}]",
                          "budget.max_steps": 4})
    run_dir = train(cfg, data=data)
    rows = [r for r in read_jsonl(run_dir / "train_log.jsonl") if r["kind"] == "train"]
    assert {"ce", "kl", "loss"} <= set(rows[-1])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["objective"]["name"] == "distill" and info["objective"]["teachers"] == [str(teacher)]
    assert run_dir.name == "transformer-debug-s0-distill"


def test_best_teacher_is_the_lowest_bpc_completed_lm_run_as_an_id(tmp_path, monkeypatch):
    from babybench.train.cli import best_teacher

    monkeypatch.setenv("BABYBENCH_RUNS", str(tmp_path))
    runs = [("transformer-30m-s0", "complete", "lm", 1.65), ("mamba-30m-s0", "complete", "lm", 1.36),
            ("hgrn2-30m-s0-distill", "complete", "distill", 1.20), ("xlstm-30m-s0", "failed", "lm", 1.10),
            ("lstm-30m-s0", "running", "lm", None)]
    for name, status, objective, bpc in runs:
        (tmp_path / "strict-small" / name).mkdir(parents=True)
        info = {"status": status, "objective": {"name": objective}, "dev": {"bpc": bpc}}
        (tmp_path / "strict-small" / name / "run.json").write_text(json.dumps(info))
    assert best_teacher("strict-small") == "strict-small/mamba-30m-s0"   # an id, not this machine's path
    with pytest.raises(BabybenchError, match="no completed lm run"):
        best_teacher("tiny-de")


@pytest.mark.gpu
@pytest.mark.parametrize("family, mode", [("transformer", "reduce-overhead"), ("xlstm", "auto")])
def test_cuda_graph_training_matches_default_compile(family, mode):
    # reduce-overhead replays CUDA graphs whose outputs (loss, gradients) live in a shared
    # memory pool; a gradient overwritten by the next replay would show up as different
    # weights after 8 steps. xlstm trains with CUDA graphs under auto (its Triton kernels inside).
    # Compared in norm: the embedding's backward adds with atomics, so the runs differ by rounding,
    # which 8 Adam steps in bf16 move apart in a few elements; an overwritten gradient is O(1).
    data = synthetic_data()
    over = {"runtime.compile": True, "runtime.device": "cuda", "model.family": family}
    plain = _params(train(small_config(run_name="compiled", **over, **{"runtime.compile_mode": "default"}),
                          data=data))
    run = train(small_config(run_name="graphs", **over, **{"runtime.compile_mode": mode}), data=data)
    assert json.loads((run / "run.json").read_text())["train"]["compile_mode"] == "reduce-overhead"
    graphs = _params(run)
    assert plain.keys() == graphs.keys()
    rel = {k: ((graphs[k].double() - plain[k]).norm() / plain[k].double().norm()).item() for k in plain}
    worst = max(rel, key=rel.get)
    assert rel[worst] < 1e-2, (worst, rel[worst])


def test_auto_compile_mode_falls_back_where_cuda_graphs_cannot_run():
    assert pick_compile_mode("auto", "xlstm", accum=1, world=1) == ("reduce-overhead", None)
    assert pick_compile_mode("auto", "mamba", accum=1, world=1) == ("default", None)
    mode, why = pick_compile_mode("auto", "xlstm", accum=2, world=1)
    assert mode == "default" and why == ("runtime.compile_mode=auto: xlstm compiles in the default mode, without "
                                         "CUDA graphs, as this run has 2 micro-batches a step (to use them, "
                                         "set optim.micro_batch_size to the per-GPU batch)")
    mode, why = pick_compile_mode("auto", "xlstm", accum=1, world=4)
    assert mode == "default" and "this run has 4 processes (to use them, train on one GPU)" in why
    assert pick_compile_mode("reduce-overhead", "mamba", accum=2, world=1) == ("reduce-overhead", None)  # refused later
    run = train(small_config(**{"model.family": "xlstm", "runtime.compile": True}), data=synthetic_data())
    # on the CPU nothing is compiled
    assert json.loads((run / "run.json").read_text())["train"]["compile_mode"] is None


def test_cuda_graphs_refuse_gradient_accumulation():
    # Accumulating into a gradient that lives in the graphs' memory pool reads it after the
    # next replay overwrote it (torch raises deep inside backward); say so up front instead.
    cfg = small_config(**{"optim.micro_batch_size": 2, "runtime.compile": True,
                          "runtime.compile_mode": "reduce-overhead"})
    with pytest.raises(BabybenchError, match=r"compile_mode=reduce-overhead.*micro_batch_size"):
        train(cfg, data=synthetic_data())
    with pytest.raises(BabybenchError, match=r"reduce-overhead is not supported under DDP \(2 processes.*runtime.compile_mode=default"):
        check_cuda_graph_plan(accum=1, world=2, rank_batch=4)
    check_cuda_graph_plan(accum=1, world=1, rank_batch=8)  # the checked case passes
