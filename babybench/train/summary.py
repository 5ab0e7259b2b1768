"""``run.json``: the run's summary, rewritten atomically at start, checkpoints and the end."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from babybench.io import git_commit, hardware
from babybench.train.run import write_run_json

if TYPE_CHECKING:  # pragma: no cover
    from babybench.train.loop import Trainer


def data_stats(data) -> dict[str, Any]:
    """Corpus and tokenizer facts the trainer needs, from a ``get_data`` result."""
    p, tok = data.prepared, data.tokenizer
    return {
        "corpus": getattr(p, "name", "unknown"), "corpus_sha256": getattr(p, "sha256", None),
        "train_words": int(p.train_words), "dev_words": int(p.dev_words),
        "dev_chars": int(p.dev_chars), "tokenizer_sha256": getattr(tok, "sha256", None),
        "vocab_size": int(tok.vocab_size),
    }


def n_attention_layers(pattern: str) -> int:
    """Attention mixers in a layer pattern (``a`` inside parallel groups counts too)."""
    return len(re.findall("a", pattern or ""))


def flops_per_token(trainer: "Trainer") -> float:
    """Training FLOPs per token (formula in :mod:`babybench.train.loop`)."""
    m = trainer.model
    mc = getattr(m, "config", None)
    d = getattr(mc, "d_model", 0)
    n = m.num_params(non_embedding=True) if hasattr(m, "num_params") else sum(
        p.numel() for p in m.parameters())
    attn = n_attention_layers(getattr(mc, "pattern", ""))
    return (6 * (n + d * trainer.stats["vocab_size"]) + 12 * attn * d * trainer.cfg.data.seq_len
            + trainer.objective.extra_flops_per_token())


def default_command(trainer: "Trainer") -> str:
    """A command line that reproduces the run (used when none was given)."""
    c = trainer.cfg
    return shlex.join(["babybench", "train", "--track", c.track, "--family", c.model.family,
                       "--size", c.model.size, "--seed", str(c.seed), f"run_name={trainer.run_dir.name}"])


def run_summary(trainer: "Trainer", status: str) -> dict[str, Any]:
    """The run.json dict (schema in notes/CONTRACTS.md)."""
    c, s, m = trainer.cfg, trainer.stats, trainer.model
    mc = getattr(m, "config", None)
    tokens = trainer.step * trainer.tokens_per_step
    epochs = trainer.step * c.optim.batch_size / trainer.sampler.n_windows
    wall = trainer.wall_s()
    total = m.num_params(non_embedding=False) if hasattr(m, "num_params") else sum(
        p.numel() for p in m.parameters())
    non_emb = m.num_params(non_embedding=True) if hasattr(m, "num_params") else total
    dev = trainer.last_dev or {}
    return {
        "run_id": trainer.run_id, "track": c.track, "run_name": trainer.run_dir.name,
        "family": c.model.family, "size": c.model.size, "pattern": getattr(mc, "pattern", None),
        "seed": c.seed, "params": {"total": total, "non_embedding": non_emb},
        "corpus": {"name": s["corpus"], "sha256": s["corpus_sha256"],
                   "train_words": s["train_words"], "dev_words": s["dev_words"]},
        "tokenizer": {"sha256": s["tokenizer_sha256"], "vocab_size": s["vocab_size"]},
        "train": {"epochs": epochs, "words_seen": int(round(epochs * s["train_words"])),
                  "tokens_seen": tokens, "steps": trainer.step, "total_steps": trainer.total_steps,
                  "flops": flops_per_token(trainer) * tokens, "wall_s": wall,
                  "tokens_per_s": tokens / wall if wall > 0 else None, "hardware": hardware(),
                  "precision": trainer.precision, "world_size": trainer.dist.world,
                  "compile_mode": trainer.compile_mode},
        "objective": trainer.objective.info(),
        "dev": {"loss": dev.get("loss"), "bpc": dev.get("bpc"), "perplexity": dev.get("perplexity")},
        "tasks": list(c.tasks),
        "status": status, "git_commit": git_commit(),
        "command": trainer.command or default_command(trainer),
    }


def update_run_json(trainer: "Trainer", status: str) -> None:
    """Rewrite run.json with the current state (rank 0 calls this)."""
    write_run_json(trainer.run_dir, run_summary(trainer, status))
