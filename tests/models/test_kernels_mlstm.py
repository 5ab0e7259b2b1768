"""mLSTM kernel: chunkwise-parallel form against the stabilised step-by-step reference."""
import pytest
import torch

import importlib

M = importlib.import_module("babybench.models.kernels.mlstm")
from babybench.models.kernels import causal_conv1d, causal_conv1d_ref
from tests.models.helpers import saved_for_backward


def _inputs(T, dtype, B=2, H=2, K=8, V=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, k, v = r(B, T, H, K), r(B, T, H, K), r(B, T, H, V)
    i, f = r(B, T, H) * 4, r(B, T, H) * 3 + 2      # large input gates exercise the stabiliser
    st = (r(B, H, K, V), r(B, H, K), r(B, H))
    return [t.to(dtype).requires_grad_() for t in (q, k, v, i, f, *st)]


def _run(fn, args, use_state, **kw):
    q, k, v, i, f, C0, n0, m0 = args
    h, (C, n, m) = fn(q, k, v, i, f, None, (C0, n0, m0) if use_state else None, True, **kw)
    w = torch.linspace(-1, 1, h.numel(), dtype=h.dtype, device=h.device).view_as(h)
    loss = (h * w).sum() + 0.3 * C.sum() + 0.2 * n.sum()
    leaves = [q, k, v, i, f] + ([C0, n0] if use_state else [])
    return [h, C, n, m, *torch.autograd.grad(loss, leaves)]


# fp32 gets 1e-3: the normaliser max(|q.n|, exp(-m)) can be small for random q, k,
# which amplifies rounding in h; fp64 at 1e-9 shows the two forms are the same maths.
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-3), (torch.float64, 1e-9)], ids=["fp32", "fp64"])
@pytest.mark.parametrize("use_state", [False, True], ids=["zero", "state"])
@pytest.mark.parametrize("T", [1, 17, 64, 100], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("form", ["chunked", "gla"])
def test_fast_forms_match_recurrent(form, T, use_state, dtype, tol):
    args = _inputs(T, dtype)
    a = _run(M.mlstm_recurrent, args, use_state)
    b = _run(getattr(M, f"mlstm_{form}"), args, use_state, chunk_size=16)
    for x, y in zip(a, b):
        torch.testing.assert_close(y, x, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("use_state", [False, True], ids=["zero", "state"])
@pytest.mark.parametrize("align", [1, 16, 5])
def test_gla_form_head_padding_changes_nothing(align, use_state):
    """mlstm_gla pads the key width (8) and value width + 1 (7) up to ``align`` (the CUDA
    default is 16); results, final state and gradients stay the recurrent reference's."""
    args = _inputs(37, torch.float64)
    a = _run(M.mlstm_recurrent, args, use_state)
    b = _run(M.mlstm_gla, args, use_state, chunk_size=16, align=align)
    for x, y in zip(a, b):
        assert y.shape == x.shape
        torch.testing.assert_close(y, x, rtol=1e-9, atol=1e-8)


def test_dispatch_decode_step():
    q, k, v, i, f, *_ = (t.detach() for t in _inputs(9, torch.float64))
    h, st = M.mlstm(q, k, v, i, f, output_final_state=True)
    outs, s = [], None
    for t in range(9):
        ht, s = M.mlstm(q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1], i[:, t:t + 1], f[:, t:t + 1],
                        initial_state=s, output_final_state=True)
        outs.append(ht)
    torch.testing.assert_close(torch.cat(outs, 1), h)
    for a, b in zip(s, st):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("use_state", [False, True], ids=["zero", "state"])
@pytest.mark.parametrize("T", [17, 100], ids=lambda t: f"T{t}")
def test_dispatch_capped_gates_take_the_gla_form(monkeypatch, T, use_state):
    """Soft-capped gates (the xLSTM block's default) route the PyTorch path to mlstm_gla,
    which matches the recurrent reference there; uncapped gates take mlstm_chunked."""
    cap = 15.0
    args = _inputs(T, torch.float64)
    with torch.no_grad():
        for g in args[3:5]:
            g.copy_(cap * torch.tanh(g * 3 / cap))           # spans most of (-cap, cap)
        args[7].copy_(cap * torch.tanh(args[7] / cap))       # a reachable m0
    ref = _run(M.mlstm_recurrent, args, use_state)
    calls = []
    for name in ("mlstm_gla", "mlstm_chunked"):
        monkeypatch.setattr(M, name, lambda *a, _f=getattr(M, name), _n=name, **kw: calls.append(_n) or _f(*a, **kw))
    got = _run(M.mlstm, args, use_state, backend="torch", chunk_size=16, gate_softcap=cap)
    assert calls == ["mlstm_gla"]
    for x, y in zip(ref, got):
        torch.testing.assert_close(y, x, rtol=1e-9, atol=1e-8)
    _run(M.mlstm, args, use_state, backend="torch", chunk_size=16)
    assert calls == ["mlstm_gla", "mlstm_chunked"]


@pytest.mark.parametrize("T", [1, 5, 30])
def test_causal_conv_matches_reference(T):
    x, w, b = torch.randn(2, T, 6), torch.randn(6, 4), torch.randn(6)
    st = torch.randn(2, 3, 6)
    for state in (None, st):
        y1, s1 = causal_conv1d(x, w, b, state)
        y2, s2 = causal_conv1d_ref(x, w, b, state)
        torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s1, s2)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)], ids=["fp32", "bf16"])
def test_causal_conv_compiled_branch_matches_eager(monkeypatch, dtype, tol):
    """Under torch.compile causal_conv1d takes the fp32 tap sum; it matches the F.conv1d path."""
    x, w, b, st = torch.randn(2, 9, 6).to(dtype), torch.randn(6, 4), torch.randn(6), torch.randn(2, 3, 6).to(dtype)
    y1, s1 = causal_conv1d(x, w, b, st)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    y2, s2 = causal_conv1d(x, w, b, st)
    assert (y2.dtype, s2.dtype) == (y1.dtype, s1.dtype) == (dtype, dtype)
    torch.testing.assert_close(y2, y1, rtol=tol, atol=tol)
    torch.testing.assert_close(s2, s1)


def test_causal_conv_compiled_branch_keeps_bf16_input_for_backward(monkeypatch):
    """The compiled branch sums the taps in fp32 but keeps the bf16 input (and its zero
    history) for the backward pass, not an fp32 copy of it; its gradients match fp32's."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    x = torch.randn(2, 9, 6).to(torch.bfloat16).requires_grad_()
    w, b = torch.randn(6, 4, requires_grad=True), torch.randn(6, requires_grad=True)
    (y, _), saved = saved_for_backward(causal_conv1d, x, w, b)
    big = [t for t in saved if t.numel() >= x.numel()]
    assert big and all(t.dtype == torch.bfloat16 for t in big), [(t.dtype, tuple(t.shape)) for t in big]
    y.float().square().sum().backward()
    x32, w32, b32 = (t.detach().float().requires_grad_() for t in (x, w, b))
    causal_conv1d_ref(x32, w32, b32)[0].square().sum().backward()
    for got, want in ((x.grad, x32.grad), (w.grad, w32.grad), (b.grad, b32.grad)):
        torch.testing.assert_close(got.float(), want, rtol=3e-2, atol=3e-2)


@pytest.mark.gpu
def test_fla_form_matches_recurrent():
    from babybench.models.kernels import fla_available
    if not fla_available():
        pytest.skip("fla not installed")
    args = [t.detach().float().cuda().requires_grad_() for t in _inputs(200, torch.float64, H=4, K=64, V=63)]
    a = _run(M.mlstm_recurrent, args, True)
    b = _run(M.mlstm_gla, args, True, backend="fla")
    for x, y in zip(a, b):
        rel = (x - y).norm() / x.norm().clamp_min(1e-6)
        assert rel < 5e-3, rel
