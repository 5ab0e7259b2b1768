"""Batches from a token memmap: contiguous windows in a seeded order.

The training stream (1-D array of token ids) is cut into ``n_windows`` windows
of ``seq_len + 1`` tokens starting at multiples of ``seq_len`` (neighbouring
windows share one token: the last target of one is the first input of the
next). An epoch visits every window once in a random permutation seeded by
``(seed, epoch)``. The whole data position is one integer, the number of
windows consumed so far over all ranks, so resuming is exact and fractional
epochs are simply ``consumed / n_windows``.

With ``world_size`` ranks, the windows of one optimiser step are dealt out in
disjoint slices: micro-step ``j`` on rank ``r`` takes the ``(j * world + r)``-th
slice of ``micro_batch`` windows.
"""

from __future__ import annotations

import numpy as np
import torch

from babybench.errors import BabybenchError


class WindowSampler:
    """Deterministic, resumable window order over a token stream.

    Args:
        tokens: 1-D array (``np.memmap``) of token ids.
        seq_len: tokens per input window (targets are shifted by one).
        seed: data-order seed.
        where: name used in error messages (e.g. the shard path).
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int, where: str = "train shard"):
        self.tokens = tokens
        self.seq_len = seq_len
        self.seed = seed
        self.n_windows = (len(tokens) - 1) // seq_len
        if self.n_windows < 1:
            raise BabybenchError(
                f"{where}: {len(tokens)} tokens is fewer than one window of data.seq_len+1="
                f"{seq_len + 1}; lower data.seq_len or use a bigger corpus")
        self.consumed = 0  # windows consumed over all ranks: the data position
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(self.n_windows)
            self._perm_epoch = epoch
        return self._perm

    def window_starts(self, first: int, count: int) -> np.ndarray:
        """Start offsets of global windows ``first .. first + count - 1`` (across epochs)."""
        out = np.empty(count, dtype=np.int64)
        for k in range(count):
            g = first + k
            epoch, i = divmod(g, self.n_windows)
            out[k] = self._permutation(epoch)[i] * self.seq_len
        return out

    def batch(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, targets)`` int64 tensors of shape (count, seq_len) for global windows."""
        starts = self.window_starts(first, count)
        rows = np.stack([np.asarray(self.tokens[s:s + self.seq_len + 1], dtype=np.int64)
                         for s in starts])  # (count, seq_len + 1)
        x = torch.from_numpy(rows[:, :-1].copy())
        y = torch.from_numpy(rows[:, 1:].copy())
        return x, y

    def step_batches(self, global_batch: int, micro_batch: int, rank: int = 0,
                     world: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's micro-batches for the next optimiser step; advances the position."""
        per_rank = global_batch // world
        accum = per_rank // micro_batch
        out = []
        for j in range(accum):
            first = self.consumed + (j * world + rank) * micro_batch
            out.append(self.batch(first, micro_batch))
        self.consumed += global_batch
        return out

    def epochs_done(self) -> float:
        """Fractional epochs consumed so far."""
        return self.consumed / self.n_windows

    def state_dict(self) -> dict:
        """The data position (and what it refers to, to catch a changed stream)."""
        return {"consumed": self.consumed, "n_windows": self.n_windows,
                "seq_len": self.seq_len, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Restore the data position; the stream must be the same one."""
        for key in ("n_windows", "seq_len", "seed"):
            if state.get(key) != getattr(self, key):
                raise BabybenchError(
                    f"checkpoint data position was for {key}={state.get(key)}, but the stream now has "
                    f"{key}={getattr(self, key)}; the corpus or tokenizer changed since the checkpoint")
        self.consumed = int(state["consumed"])


def batch_plan(global_batch: int, micro_batch: int | None, world: int) -> tuple[int, int]:
    """``(micro_batch, grad_accum)`` for a global batch split over ``world`` ranks."""
    if global_batch % world:
        raise BabybenchError(
            f"optim.batch_size={global_batch} is not divisible by the {world} processes; "
            f"pick a multiple of {world}")
    per_rank = global_batch // world
    micro = min(micro_batch or per_rank, per_rank)
    if per_rank % micro:
        raise BabybenchError(
            f"optim.micro_batch_size={micro} does not divide the per-process batch {per_rank}; "
            "pick a divisor")
    return micro, per_rank // micro


def dev_batches(tokens: np.ndarray, seq_len: int, batch: int = 8, max_tokens: int | None = None):
    """Yield ``(inputs, targets)`` int64 tensors that cover every dev target exactly once.

    Windows start at multiples of ``seq_len``; full windows come in batches of
    up to ``batch`` rows (shape (b, seq_len)), and a shorter last window comes
    alone (shape (1, t)). ``max_tokens`` truncates the stream (quick periodic
    evaluations).
    """
    n = len(tokens) if max_tokens is None else min(len(tokens), max_tokens + 1)
    n_full = (n - 1) // seq_len
    for b0 in range(0, n_full, batch):
        rows = [np.asarray(tokens[s * seq_len:s * seq_len + seq_len + 1], dtype=np.int64)
                for s in range(b0, min(b0 + batch, n_full))]
        t = torch.from_numpy(np.stack(rows))  # (b, seq_len + 1)
        yield t[:, :-1], t[:, 1:]
    tail = np.asarray(tokens[n_full * seq_len:n], dtype=np.int64)
    if len(tail) >= 2:
        t = torch.from_numpy(tail)
        yield t[None, :-1], t[None, 1:]
