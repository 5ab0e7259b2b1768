"""Shared pieces for the trainer tests: a synthetic corpus and small configs."""

from types import SimpleNamespace

import numpy as np

from babybench import config as cfgmod
from babybench.train.config import TrainRunConfig

VOCAB = 64


def synthetic_data(n_train: int = 20_000, n_dev: int = 2_000, seed: int = 0, sha: str = "tok-sha"):
    """A fake ``get_data`` result: a noisy counting stream (next = prev + 1 mod V, 10% random)."""
    rng = np.random.default_rng(seed)

    def stream(n):
        x = np.empty(n, dtype=np.uint16)
        x[0] = 2
        noise = rng.random(n) < 0.1
        rand = rng.integers(4, VOCAB, n)
        for i in range(1, n):
            x[i] = rand[i] if noise[i] else 4 + (int(x[i - 1]) - 4 + 1) % (VOCAB - 4)
        return x

    prepared = SimpleNamespace(name="synthetic", sha256="corpus-sha", train_words=n_train // 2,
                               dev_words=n_dev // 2, dev_chars=n_dev * 3)
    tokenizer = SimpleNamespace(sha256=sha, vocab_size=VOCAB, path=None)
    shards = SimpleNamespace(train=stream(n_train), dev=stream(n_dev), manifest={})
    return SimpleNamespace(prepared=prepared, tokenizer=tokenizer, shards=shards)


def small_config(**over) -> TrainRunConfig:
    """A debug transformer on the synthetic stream; ``over`` are dotted overrides."""
    base = {
        "track": "test", "corpus": "synthetic", "model": {"family": "transformer", "size": "debug"},
        "data": {"seq_len": 32}, "optim": {"lr": 3e-3, "batch_size": 8, "warmup_steps": 2},
        "budget": {"epochs": 1.0, "max_steps": 8},
        "runtime": {"log_every": 2, "eval_every": 0, "ckpt_every": 4, "quiet": True,
                    "eval_max_tokens": None},
    }
    overrides = [f"{k}={v}" for k, v in over.items()]
    return cfgmod.from_dict(TrainRunConfig, cfgmod.merge(base, cfgmod.parse_overrides(overrides)))
