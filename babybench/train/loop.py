"""The training loop: ``train(cfg) -> run_dir`` and ``resume(run_dir) -> run_dir``.

One :class:`Trainer` owns the model, optimiser, schedule, data position and
objective. A step is: draw this rank's micro-batches, forward + backward each
(bf16 autocast on CUDA, fp32 on CPU), average the loss over ranks, stop on a
non-finite loss or gradient norm, clip, step AdamW and the schedule. Logging,
dev evaluation, checkpoints and the progress bar are callbacks.

FLOPs estimate (recorded in run.json), per training token::

    6 * (non-embedding params + d_model * vocab)      # matmuls incl. the LM head, fwd + bwd
    + 12 * n_attention_layers * d_model * seq_len     # QK^T and AV, fwd + bwd (no causal halving)
    + 2 * teacher params                              # distillation: teacher forward passes

Recurrent scans and elementwise work are not counted.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from pathlib import Path

import torch

from babybench import config as cfgmod
from babybench.errors import BabybenchError
from babybench.io import runs_dir
from babybench.models.compile import compile_model, family_compile_mode
from babybench.train import checkpoint as ckpt
from babybench.train import dist
from babybench.train.callbacks import Callback, default_callbacks
from babybench.train.config import TrainRunConfig, load_config_file
from babybench.train.data import WindowSampler, batch_plan, dev_batches
from babybench.train.objectives import ObjectiveContext, build_objective
from babybench.train.schedule import build_scheduler, warmup_steps
from babybench.train.summary import data_stats, update_run_json


class NonFiniteLoss(Exception):
    """Raised inside the loop when the loss or the gradient norm is NaN or inf."""


def build_model_for(cfg: TrainRunConfig, vocab_size: int) -> torch.nn.Module:
    """``build_model(family, size, vocab_size, **overrides)`` seeded with ``cfg.seed``."""
    from babybench.models import build_model

    torch.manual_seed(cfg.seed)
    return build_model(cfg.model.family, cfg.model.size, vocab_size=vocab_size, **cfg.model.overrides)


def export_model(model: torch.nn.Module, run_dir: Path) -> None:
    """Write ``config.json`` + ``model.safetensors`` (``babybench.models.save_model``)."""
    from babybench.models import save_model

    save_model(model, run_dir)


def pick_device(name: str, info: dist.DistInfo) -> torch.device:
    """``auto`` -> this rank's CUDA device if available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and info.world > 1:
        name = f"cuda:{info.local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BabybenchError(f"runtime.device={name} but CUDA is not available; use runtime.device=cpu")
    return torch.device(name)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on matrices, none on norms, biases and embeddings."""
    emb = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():  # parameters() de-duplicates tied weights
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and id(p) not in emb else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def check_cuda_graph_plan(accum: int, world: int, rank_batch: int) -> None:
    """``runtime.compile_mode=reduce-overhead`` runs where it was checked: one process, one
    micro-batch a step. Accumulating into a gradient that lives in the graphs' memory pool
    reads it after the next replay overwrote it (torch fails deep inside backward)."""
    if accum > 1:
        raise BabybenchError(
            f"runtime.compile_mode=reduce-overhead cannot accumulate gradients ({accum} micro-batches "
            f"a step): set optim.micro_batch_size to the per-GPU batch ({rank_batch}) or use runtime.compile_mode=default")
    if world > 1:
        raise BabybenchError(f"runtime.compile_mode=reduce-overhead is not supported under DDP ({world} processes; "
                             "it was never tested there): use runtime.compile_mode=default")


def pick_compile_mode(mode: str, family: str, accum: int, world: int) -> tuple[str, str | None]:
    """(torch.compile mode, why ``auto`` fell back or None) for this run. ``auto`` is the
    family's mode, or ``default`` where CUDA graphs cannot run (see :func:`check_cuda_graph_plan`)."""
    picked = family_compile_mode(mode, family)
    if mode == "auto" and picked == "reduce-overhead" and (accum > 1 or world > 1):
        why, fix = ((f"{accum} micro-batches a step", "set optim.micro_batch_size to the per-GPU batch")
                    if accum > 1 else (f"{world} processes", "train on one GPU"))
        return "default", (f"runtime.compile_mode=auto: {family} compiles in the default mode, without CUDA "
                           f"graphs, as this run has {why} (to use them, {fix})")
    return picked, None


class Trainer:
    """One run: builds everything from ``cfg`` and the data, then :meth:`fit`.

    Args:
        cfg: the resolved config.
        run_dir: the run folder (created by :func:`train`).
        data: ``babybench.data.get_data`` result (prepared, tokenizer, shards).
        callbacks: hooks; default logging, dev eval, checkpoints, progress.
        command: the command line recorded in run.json.
    """

    def __init__(self, cfg: TrainRunConfig, run_dir: Path, data, callbacks: list[Callback] | None = None,
                 command: str | None = None):
        self.cfg, self.run_dir, self.data = cfg, Path(run_dir), data
        self.run_id = f"{cfg.track}/{run_dir.name}"
        self.callbacks = default_callbacks() if callbacks is None else callbacks
        self.command = command
        self.dist = dist.init(cfg.runtime.device)
        self.device = pick_device(cfg.runtime.device, self.dist)
        if cfg.runtime.threads:
            torch.set_num_threads(cfg.runtime.threads)
        prec = cfg.runtime.precision
        self.precision = ("bf16" if self.device.type == "cuda" else "fp32") if prec == "auto" else prec
        self.stats = data_stats(data)
        self._setup()

    # ------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.cfg
        self.model = build_model_for(cfg, self.stats["vocab_size"]).to(self.device)
        self.micro, self.accum = batch_plan(cfg.optim.batch_size, cfg.optim.micro_batch_size, self.dist.world)
        self.compile_mode, fallback = pick_compile_mode(cfg.runtime.compile_mode, cfg.model.family,
                                                        self.accum, self.dist.world)
        if fallback and cfg.runtime.compile and self.device.type == "cuda":
            self.say(fallback)
        graphs = cfg.runtime.compile and self.compile_mode == "reduce-overhead"
        if graphs:
            check_cuda_graph_plan(self.accum, self.dist.world, self.micro * self.accum)
        self.sampler = WindowSampler(self.data.shards.train, cfg.data.seq_len, cfg.seed)
        self.tokens_per_step = cfg.optim.batch_size * cfg.data.seq_len
        self.total_steps = self._total_steps()
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.optim.weight_decay),
                                           lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                           eps=cfg.optim.eps, fused=fused or None)
        warm = warmup_steps(self.total_steps, cfg.optim.warmup_steps, cfg.optim.warmup_frac)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim.schedule, self.total_steps, warm,
                                         cfg.optim.min_lr_ratio)
        ctx = ObjectiveContext(self.device, self.stats["tokenizer_sha256"], self.stats["vocab_size"])
        self.objective = build_objective(cfg.objective, ctx)
        self.train_model = self.model
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DDP(self.model, device_ids=ids)
        self.cuda_graphs = graphs and self.device.type == "cuda"
        if cfg.runtime.compile and self.device.type == "cuda":
            self.train_model = compile_model(self.train_model, self.compile_mode)
        else:
            self.compile_mode = None                # recorded in run.json: not compiled
        self.step, self.wall_prev, self.last_dev = 0, 0.0, None
        self.ckpt_step: int | None = None

    def _total_steps(self) -> int:
        b = self.cfg.budget
        epochs = b.epochs
        if b.words is not None:
            epochs = b.words / max(1, self.stats["train_words"])
            if epochs > 10:
                raise BabybenchError(f"budget.words={b.words} is {epochs:.2f} epochs of the corpus "
                                     f"({self.stats['train_words']} words); BabyLM allows at most 10")
        steps = max(1, int(epochs * self.sampler.n_windows // self.cfg.optim.batch_size))
        return min(steps, b.max_steps) if b.max_steps else steps

    def autocast(self):
        """bf16 autocast when the precision says so; a no-op for fp32."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def say(self, msg: str) -> None:
        """Print on rank 0 only."""
        if self.dist.main:
            print(msg, flush=True)

    # ------------------------------------------------------------ one step
    def train_step(self) -> dict[str, float]:
        """One optimiser step over this rank's micro-batches; returns metrics as floats."""
        self.train_model.train()
        batches = self.sampler.step_batches(self.cfg.optim.batch_size, self.micro,
                                            self.dist.rank, self.dist.world)
        sums: dict[str, torch.Tensor] = {}
        for j, (x, y) in enumerate(batches):
            if self.cuda_graphs:  # a new replay: the last step's graph outputs are spent
                torch.compiler.cudagraph_mark_step_begin()
            x = x.to(self.device, non_blocking=True)  # (b, T)
            y = y.to(self.device, non_blocking=True)  # (b, T)
            last = j == len(batches) - 1
            sync = contextlib.nullcontext() if last or self.dist.world == 1 else self.train_model.no_sync()
            with sync:
                with self.autocast():
                    loss, metrics = self.objective(self.train_model, x, y)
                (loss / self.accum).backward()
            for k, v in {"loss": loss.detach(), **metrics}.items():
                sums[k] = sums.get(k, 0) + v.float() / self.accum
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else float("inf")
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        keys = list(sums)
        vec = dist.mean_across(torch.stack([sums[k] for k in keys]), self.dist)
        values = vec.tolist() + [float(gnorm)]  # the one host sync per step
        if not all(math.isfinite(v) for v in values):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLoss(f"loss {values[0]}, grad norm {values[-1]}")
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        out = dict(zip(keys, values[:-1]))
        out.update(grad_norm=values[-1], lr=self.scheduler.get_last_lr()[0])
        return out

    # ------------------------------------------------------------ dev evaluation
    @torch.no_grad()
    def evaluate(self, max_tokens: int | None = None) -> dict[str, float] | None:
        """Dev loss, BPC and perplexity on rank 0 (other ranks wait and get None).

        BPC = total dev nats / (ln 2 * dev characters). With ``max_tokens`` only
        a prefix is scored and its mean loss is scaled to the whole dev stream.
        """
        result = None
        if self.dist.main:
            self.model.eval()
            nats = torch.zeros((), device=self.device, dtype=torch.float64)
            n = 0
            for x, y in dev_batches(self.data.shards.dev, self.cfg.data.seq_len,
                                    batch=self.micro, max_tokens=max_tokens):
                x, y = x.to(self.device), y.to(self.device)
                with self.autocast():
                    out = self.model(x, y)
                nats += out.loss.double() * y.numel()
                n += y.numel()
            self.model.train()
            mean = nats.item() / max(n, 1)
            total_targets = max(len(self.data.shards.dev) - 1, 1)
            bpc = mean * total_targets / (math.log(2) * max(self.stats["dev_chars"], 1))
            result = {"loss": mean, "bpc": bpc, "perplexity": math.exp(min(mean, 50.0)), "tokens": n}
            self.last_dev = result
        dist.barrier(self.dist)
        return result

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """Write the checkpoint on rank 0 (atomically) and update run.json."""
        if self.dist.main:
            ckpt.save_checkpoint(self.run_dir, model=self.model, optimizer=self.optimizer,
                                 scheduler=self.scheduler, data_state=self.sampler.state_dict(),
                                 step=self.step, extra={"wall_s": self.wall_s(), "last_dev": self.last_dev})
            update_run_json(self, "running")
        self.ckpt_step = self.step
        dist.barrier(self.dist)

    def load_checkpoint(self) -> None:
        """Restore model, optimiser, schedule, RNG and data position from ``checkpoint/``."""
        state = ckpt.load_checkpoint(self.run_dir)
        self.step = ckpt.restore(state, model=self.model, optimizer=self.optimizer,
                                 scheduler=self.scheduler, sampler=self.sampler,
                                 where=ckpt.checkpoint_path(self.run_dir))
        self.wall_prev = float(state["extra"].get("wall_s", 0.0))
        self.last_dev = state["extra"].get("last_dev")
        self.ckpt_step = self.step

    def wall_s(self) -> float:
        """Training wall time so far, over all sessions of this run."""
        return self.wall_prev + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    # ------------------------------------------------------------ the loop
    def fit(self) -> Path:
        """Train to ``total_steps``, evaluate on all dev data, export; returns the run folder."""
        self._t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.on_start(self)
        try:
            while self.step < self.total_steps:
                try:
                    metrics = self.train_step()
                except NonFiniteLoss as e:
                    self._fail(str(e))
                for cb in self.callbacks:
                    cb.on_step(self, metrics)
        finally:
            for cb in self.callbacks:
                cb.on_end(self)
        self.finish()
        return self.run_dir

    def _fail(self, what: str) -> None:
        if self.dist.main:
            update_run_json(self, "failed")
        where = (f"last good checkpoint {ckpt.checkpoint_path(self.run_dir)} (step {self.ckpt_step})"
                 if self.ckpt_step is not None else "no checkpoint had been written yet")
        raise BabybenchError(f"{self.run_id}: non-finite training at step {self.step + 1} ({what}); "
                             f"run stopped and marked failed; {where}")

    def finish(self) -> None:
        """Final dev evaluation on all dev tokens, final checkpoint, model export, run.json complete."""
        self.evaluate(None)
        if self.dist.main:
            log = next((cb for cb in self.callbacks if hasattr(cb, "write")), None)
            if log is not None and self.last_dev is not None:
                log.write(self, {"kind": "dev", "step": self.step, "final": True, **self.last_dev})
        self.save_checkpoint()
        if self.dist.main:
            export_model(self.model, self.run_dir)
            update_run_json(self, "complete")
            d = self.last_dev or {}
            self.say(f"{self.run_id}: done in {self.step} steps; dev loss {d.get('loss', float('nan')):.4f}, "
                     f"bpc {d.get('bpc', float('nan')):.4f} -> {self.run_dir}")
        dist.barrier(self.dist)


# ---------------------------------------------------------------- entry points
def run_dir_for(cfg: TrainRunConfig) -> Path:
    """``runs_dir()/<track>/<run_name>``."""
    return runs_dir() / cfg.track / cfg.resolved_run_name()


def _get_data(cfg: TrainRunConfig):
    """``get_data`` for the run; under torchrun rank 0 prepares (and caches) it first."""
    from babybench.data import get_data

    info = dist.init(cfg.runtime.device)
    if not info.main:
        dist.barrier(info)
    data = get_data(cfg.corpus, cfg.data.vocab_size)
    if info.main:
        dist.barrier(info)
    return data


def train(cfg: TrainRunConfig, *, data=None, callbacks: list[Callback] | None = None,
          command: str | None = None) -> Path:
    """Start a run from scratch (an existing folder of the same name is reused) and train it.

    Args:
        cfg: the resolved config (see :func:`babybench.train.config.load_track_config`).
        data: ``get_data`` result; default ``get_data(cfg.corpus, cfg.data.vocab_size)``.
        callbacks: replaces the default callbacks (tests).
        command: command line recorded in run.json.

    Returns the run folder. Raises BabybenchError on bad input or a non-finite loss.
    """
    data = data if data is not None else _get_data(cfg)
    run_dir = run_dir_for(cfg)
    trainer = Trainer(cfg, run_dir, data, callbacks, command)
    if trainer.dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("train_log.jsonl", "checkpoint"):
            p = run_dir / stale
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        cfgmod.save(cfg, run_dir / "config.yaml")
        tok_path = getattr(data.tokenizer, "path", None)
        if tok_path is not None and Path(tok_path).is_file():
            shutil.copyfile(tok_path, run_dir / "tokenizer.model")
        update_run_json(trainer, "running")
    dist.barrier(trainer.dist)
    return trainer.fit()


def resume(run_dir: str | Path, *, data=None, callbacks: list[Callback] | None = None,
           command: str | None = None) -> Path:
    """Continue a run from ``<run_dir>/checkpoint`` exactly where it stopped."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise BabybenchError(f"{cfg_path} not found; {run_dir} is not a babybench run folder")
    cfg = load_config_file(cfg_path)
    data = data if data is not None else _get_data(cfg)
    trainer = Trainer(cfg, run_dir, data, callbacks, command)
    trainer.load_checkpoint()
    trainer.say(f"{trainer.run_id}: resuming at step {trainer.step}/{trainer.total_steps}")
    return trainer.fit()


__all__ = ["Trainer", "train", "resume", "run_dir_for"]
