"""Shared model checks, called by every family's tests (and the kernels helper's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch


def _logits(model, idx, state=None, return_state=False):
    out = model(idx, state=state, return_state=return_state)
    return out.logits.double(), out.state


@torch.no_grad()
def check_decode_matches_forward(model, T: int = 12, B: int = 2, split: int = 5, atol: float = 1e-4):
    """Full-sequence logits == prefill(split) then token-by-token decoding with state."""
    model.eval()
    V = model.config.vocab_size
    idx = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1))
    full, _ = _logits(model, idx)
    got, state = _logits(model, idx[:, :split], return_state=True)
    pieces = [got]
    for t in range(split, T):
        step, state = _logits(model, idx[:, t : t + 1], state=state, return_state=True)
        pieces.append(step)
    dec = torch.cat(pieces, dim=1)
    err = (dec - full).abs().max().item()
    assert err < atol, f"decode vs forward max |diff| = {err:.3g}"
    # A multi-token continuation from a state must agree too.
    _, state = _logits(model, idx[:, :split], return_state=True)
    rest, _ = _logits(model, idx[:, split:], state=state)
    err = (rest - full[:, split:]).abs().max().item()
    assert err < atol, f"chunked continuation vs forward max |diff| = {err:.3g}"


@torch.no_grad()
def check_causal(model, T: int = 12, t: int = 6, atol: float = 1e-5):
    """Changing the token at position t leaves logits before t untouched (and changes t)."""
    model.eval()
    V = model.config.vocab_size
    idx = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(2))
    other = idx.clone()
    other[:, t] = (idx[:, t] + 1) % V
    a, _ = _logits(model, idx)
    b, _ = _logits(model, other)
    err = (a[:, :t] - b[:, :t]).abs().max().item()
    assert err < atol, f"logits before position {t} changed by {err:.3g}"
    assert (a[:, t] - b[:, t]).abs().max().item() > atol, "the changed token had no effect"


def saved_for_backward(fn, *args):
    """(fn(*args), the tensors autograd saved for the backward pass while running it)."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = fn(*args)
    return out, saved


def run_in_triton_interpreter(code: str, timeout: int = 600) -> None:
    """Run ``code`` (which prints "ok" when its checks pass) in a child process under Triton's CPU
    interpreter: ``TRITON_INTERPRET=1`` must be set before triton is imported, and CUDA hidden."""
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": path, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
