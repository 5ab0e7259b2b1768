"""GLA kernels: chunked PyTorch (and fla on GPU) against the step-by-step reference."""
import pytest
import torch
import torch.nn.functional as F

from babybench.errors import BabybenchError
import importlib

G = importlib.import_module("babybench.models.kernels.gla")

LENGTHS = [1, 17, 64, 100]


def _inputs(T, dtype, vector, B=2, H=2, K=16, V=8, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, k, v = r(B, T, H, K), r(B, T, H, K), r(B, T, H, V)
    # strong and weak decays both: log f from about -15 up to about 0
    gk = F.logsigmoid(r(B, T, H, K) * 3 + 1) * 3
    if not vector:
        gk = gk[..., 0]
    h0 = r(B, H, K, V)
    return [t.to(device=device, dtype=dtype).requires_grad_() for t in (q, k, v, gk, h0)]


def _run(fn, args, use_h0, **kw):
    q, k, v, g, h0 = args
    o, S = fn(q, k, v, g, None, h0 if use_h0 else None, True, **kw)
    loss = (o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype, device=o.device).view_as(o)).sum() + (S * 0.3).sum()
    grads = torch.autograd.grad(loss, [q, k, v, g] + ([h0] if use_h0 else []))
    return [o, S, *grads]


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-9)], ids=["fp32", "fp64"])
@pytest.mark.parametrize("use_h0", [False, True], ids=["zero", "h0"])
@pytest.mark.parametrize("T", LENGTHS, ids=lambda t: f"T{t}")
@pytest.mark.parametrize("op", ["gla", "simple_gla"])
def test_chunked_matches_recurrent(op, T, use_h0, dtype, tol):
    ref = getattr(G, f"{op}_recurrent")
    fast = getattr(G, f"{op}_chunked")
    args = _inputs(T, dtype, vector=(op == "gla"))
    kw = {"chunk_size": 16} if op == "gla" else {"chunk_size": 64}
    for a, b in zip(_run(ref, args, use_h0), _run(fast, args, use_h0, **kw)):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("chunk,sub", [(8, 8), (32, 8), (64, 16), (32, 4)])
def test_gla_chunk_shapes(chunk, sub):
    args = _inputs(70, torch.float64, vector=True)
    a = _run(G.gla_recurrent, args, True)
    b = _run(G.gla_chunked, args, True, chunk_size=chunk, sub_chunk=sub)
    for x, y in zip(a, b):
        torch.testing.assert_close(y, x, rtol=1e-9, atol=1e-8)


def test_gla_chunked_stable_with_strong_decay():
    """log f = -30 per step: a naive exp(-cumsum) formulation would overflow."""
    q, k, v, gk, h0 = (t.detach().float() for t in _inputs(64, torch.float32, vector=True))
    gk = torch.full_like(gk, -30.0)
    o, S = G.gla_chunked(q, k, v, gk, initial_state=h0, output_final_state=True)
    o_ref, S_ref = G.gla_recurrent(q, k, v, gk, initial_state=h0, output_final_state=True)
    assert torch.isfinite(o).all() and torch.isfinite(S).all()
    torch.testing.assert_close(o, o_ref, rtol=1e-4, atol=1e-4)


def test_dispatch_and_errors():
    q, k, v, gk, _ = (t.detach().float() for t in _inputs(5, torch.float32, vector=True))
    o, S = G.gla(q, k, v, gk, output_final_state=True, backend="torch")
    o_ref, _ = G.gla_recurrent(q, k, v, gk)
    torch.testing.assert_close(o, o_ref, rtol=1e-4, atol=1e-5)
    assert G.resolve_backend("auto", q[:, :1]) == "recurrent"
    assert G.resolve_backend("auto", q) == "chunked"  # CPU
    with pytest.raises(BabybenchError, match="backend"):
        G.gla(q, k, v, gk, backend="cuda")
    with pytest.raises(BabybenchError, match="fla"):
        G.gla(q, k, v, gk, backend="fla")  # CPU tensors never run fla


def test_env_overrides_auto_backend(monkeypatch):
    q = torch.zeros(1, 5, 2, 4)
    monkeypatch.setenv("BABYBENCH_KERNEL_BACKEND", "fla")
    with pytest.raises(BabybenchError, match="fla"):
        G.resolve_backend("auto", q)  # auto now means fla, which CPU tensors cannot run
    assert G.resolve_backend("torch", q) == "chunked"  # an explicit choice wins
    monkeypatch.setenv("BABYBENCH_KERNEL_BACKEND", "bogus")
    with pytest.raises(BabybenchError, match="unknown kernel backend"):
        G.resolve_backend("auto", q)


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["gla", "simple_gla"])
def test_fla_matches_chunked(op):
    if not G.fla_available():
        pytest.skip("fla not installed")
    args = _inputs(200, torch.float32, vector=(op == "gla"), H=4, K=64, V=64, device="cuda")
    a = _run(getattr(G, f"{op}_chunked"), args, True)
    b = _run(getattr(G, op), args, True, backend="fla")
    for x, y in zip(a, b):
        rel = (x - y).norm() / x.norm().clamp_min(1e-6)
        assert rel < 5e-3, rel
