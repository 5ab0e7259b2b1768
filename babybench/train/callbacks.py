"""Callbacks: everything around the loop that is not the loop.

A :class:`Callback` gets ``on_start(trainer)``, ``on_step(trainer, metrics)``
after every good optimiser step (``metrics`` holds python floats) and
``on_end(trainer)``. The trainer runs them in order on every rank; callbacks
that write check ``trainer.dist.main`` themselves.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

from babybench.io import atomic_write_text, read_jsonl

if TYPE_CHECKING:  # pragma: no cover
    from babybench.train.loop import Trainer

LOG_FILE = "train_log.jsonl"


class Callback:
    """Base class with empty hooks."""

    def on_start(self, trainer: "Trainer") -> None:
        """Before the first step (after a resume has restored state)."""

    def on_step(self, trainer: "Trainer", metrics: dict[str, float]) -> None:
        """After every successful optimiser step."""

    def on_end(self, trainer: "Trainer") -> None:
        """After the last step (before the final evaluation and export)."""


class JsonlLog(Callback):
    """Appends one row per ``log_every`` steps and per dev evaluation to ``train_log.jsonl``.

    On start, rows past the resumed step (logged after the last checkpoint of
    an interrupted run) are dropped, so the log matches the resumed state.
    """

    def on_start(self, trainer):
        if not trainer.dist.main:
            return
        self.path = trainer.run_dir / LOG_FILE
        if self.path.exists():
            rows = [r for r in read_jsonl(self.path) if r.get("step", 0) <= trainer.step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in rows))

    def write(self, trainer, row: dict) -> None:
        """Append one row (rank 0 only)."""
        if trainer.dist.main:
            with open(trainer.run_dir / LOG_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def on_step(self, trainer, metrics):
        if trainer.step % trainer.cfg.runtime.log_every == 0 or trainer.step == trainer.total_steps:
            self.write(trainer, {"kind": "train", "step": trainer.step, **metrics})


class DevEval(Callback):
    """Dev loss and BPC every ``eval_every`` steps (on ``eval_max_tokens`` dev tokens)."""

    def __init__(self, log: JsonlLog):
        self.log = log

    def on_step(self, trainer, metrics):
        every = trainer.cfg.runtime.eval_every
        if every and trainer.step % every == 0 and trainer.step < trainer.total_steps:
            dev = trainer.evaluate(trainer.cfg.runtime.eval_max_tokens)
            if dev is not None:
                self.log.write(trainer, {"kind": "dev", "step": trainer.step, **dev})
                trainer.say(f"step {trainer.step}: dev loss {dev['loss']:.4f}, bpc {dev['bpc']:.4f}")


class Checkpointing(Callback):
    """A checkpoint every ``ckpt_every`` steps (the final one is written by the trainer)."""

    def on_step(self, trainer, metrics):
        every = trainer.cfg.runtime.ckpt_every
        if every and trainer.step % every == 0 and trainer.step < trainer.total_steps:
            trainer.save_checkpoint()


def _quiet(cfg_quiet: bool) -> bool:
    return cfg_quiet or not sys.stderr.isatty() or bool(os.environ.get("CI"))


class Progress(Callback):
    """A rich progress bar (tokens/s, loss, ETA), or plain log lines when quiet.

    Quiet mode is automatic when stderr is not a terminal or ``$CI`` is set.
    """

    def on_start(self, trainer):
        self.quiet = _quiet(trainer.cfg.runtime.quiet)
        self.t0, self.step0 = time.perf_counter(), trainer.step
        self.bar = None
        if trainer.dist.main and not self.quiet:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)

            self.bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), transient=False)
            self.bar.start()
            self.task = self.bar.add_task(trainer.run_id, total=trainer.total_steps,
                                          completed=trainer.step, info="")

    def _rate(self, trainer) -> float:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return (trainer.step - self.step0) * trainer.tokens_per_step / dt

    def on_step(self, trainer, metrics):
        if not trainer.dist.main:
            return
        every = trainer.cfg.runtime.log_every
        if self.bar is not None:
            info = f"loss {metrics['loss']:.3f} | {self._rate(trainer) / 1e3:.1f}k tok/s"
            self.bar.update(self.task, completed=trainer.step, info=info)
        elif trainer.step % every == 0 or trainer.step == trainer.total_steps:
            rate = self._rate(trainer)
            left = (trainer.total_steps - trainer.step) * trainer.tokens_per_step / max(rate, 1e-9)
            extra = " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in ("ce", "kl"))
            print(f"[{trainer.run_id}] step {trainer.step}/{trainer.total_steps} loss "
                  f"{metrics['loss']:.4f} {extra} lr {metrics['lr']:.2e} "
                  f"{rate / 1e3:.1f}k tok/s eta {left / 60:.1f} min", flush=True)

    def on_end(self, trainer):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def default_callbacks() -> list[Callback]:
    """Logging, dev evaluation, checkpointing and progress, in that order."""
    log = JsonlLog()
    return [log, DevEval(log), Checkpointing(), Progress()]
