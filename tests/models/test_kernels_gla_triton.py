"""babybench's Triton scalar-decay GLA kernel against the step-by-step reference.

Without a GPU the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``, set before
triton is imported, hence the child process); that needs the ``triton`` package, which the CPU
torch wheel does not bring, so the test is skipped where it is missing. The interpreter has no
bf16, so fp32 and fp16 are checked there and bf16 on the GPU.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.models.kernels import resolve_backend, simple_gla, simple_gla_chunked, triton_available

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import torch
from babybench.models.kernels.gla import simple_gla_recurrent
from babybench.models.kernels.gla_triton import simple_gla_triton

torch.manual_seed(0)
# (B, T, H, K, V, chunk, dtype, g scale, tolerance): T not a multiple of the chunk, widths not
# powers of 2, two value blocks (V = 100), strong decays (g down to -30)
cases = [(2, 70, 2, 16, 24, 16, torch.float32, 2, 1e-5), (2, 33, 3, 20, 17, 16, torch.float32, 2, 1e-5),
         (1, 40, 2, 16, 100, 16, torch.float32, 30, 1e-5), (1, 64, 1, 32, 32, 64, torch.float32, 2, 1e-5),
         (2, 50, 2, 32, 48, 16, torch.float16, 1, 2e-3)]
for B, T, H, K, V, C, dt, gs, tol in cases:
    q, k, v = (torch.randn(B, T, H, d).to(dt) for d in (K, K, V))
    g = -torch.rand(B, T, H) * gs
    ins = [t.clone().requires_grad_() for t in (q, k, v, g)]
    ref = [t.clone().double().requires_grad_() for t in (q, k, v, g)]
    o = simple_gla_triton(*ins, chunk_size=C)
    o_ref, _ = simple_gla_recurrent(*ref)
    w = torch.randn_like(o_ref)
    (o.double() * w).sum().backward()
    (o_ref * w).sum().backward()
    for name, a, b in [("o", o, o_ref)] + [(n, x.grad, y.grad) for n, x, y in zip("qkvg", ins, ref)]:
        assert a.dtype == (dt if name != "g" else torch.float32), (name, a.dtype)
        rel = ((a.double() - b).norm() / b.norm()).item()
        assert rel < tol, (B, T, H, K, V, C, dt, name, rel)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_triton_kernels_match_recurrent_in_interpreter():
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": path, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_triton_backend_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(BabybenchError, match="backend 'triton' needs CUDA"):
        resolve_backend("triton", torch.zeros(1, 4, 1))


@pytest.mark.gpu
def test_triton_backend_matches_chunked_on_gpu():
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    torch.manual_seed(0)
    B, T, H, K, V = 2, 300, 4, 128, 128
    q, k, v = (torch.randn(B, T, H, d, device="cuda", dtype=torch.bfloat16) for d in (K, K, V))
    g = -torch.rand(B, T, H, device="cuda")
    grads = []
    for run in (lambda *a: simple_gla(*a, backend="triton")[0], lambda *a: simple_gla_chunked(*a)[0]):
        ins = [t.clone().requires_grad_() for t in (q, k, v, g)]
        o = run(*ins)
        o.float().square().sum().backward()
        grads.append([o.float()] + [t.grad.float() for t in ins])
    for a, b in zip(*grads):
        assert ((a - b).norm() / b.norm()).item() < 2e-2


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_triton_backend_dispatch(monkeypatch):
    """``backend: triton`` sends the stateless scalar-decay scan (Mamba-2, mLSTM in GLA form) to
    the kernel, and keeps the chunked form where a state goes in or out (the kernel keeps none)."""
    G = importlib.import_module("babybench.models.kernels.gla")
    GT = importlib.import_module("babybench.models.kernels.gla_triton")
    M = importlib.import_module("babybench.models.kernels.mlstm")
    calls = []
    monkeypatch.setattr(G, "resolve_backend", lambda backend, x: "recurrent" if x.shape[1] == 1 else backend)
    monkeypatch.setattr(M, "resolve_backend", G.resolve_backend)
    monkeypatch.setattr(GT, "simple_gla_triton", lambda q, k, v, g, scale, C: calls.append(C) or v * 0)
    q, k, v = (torch.randn(2, 9, 2, 4) for _ in range(3))
    g = -torch.rand(2, 9, 2)
    o, S = G.simple_gla(q, k, v, g, backend="triton", chunk_size=32)
    assert calls == [32] and S is None and not o.any()
    o, S = G.simple_gla(q, k, v, g, backend="triton", output_final_state=True)
    ref, S_ref = G.simple_gla_chunked(q, k, v, g, output_final_state=True)
    assert calls == [32] and torch.equal(o, ref) and torch.equal(S, S_ref)
    i, f = torch.randn(2, 9, 2), torch.randn(2, 9, 2) + 3
    M.mlstm(q, k, v, i, f, backend="triton", chunk_size=16)
    assert calls == [32, 16]
