"""QRNN f-pooling: the chunked log-space scan against the step-by-step reference."""

import importlib

import pytest
import torch
import torch.nn.functional as F

from babybench.models import ModelConfig
from babybench.models.qrnn import QRNN, fpool_chunked, fpool_recurrent


def _inputs(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    f_pre = (torch.randn(2, T, 8, generator=g) * 3).double().requires_grad_()
    z = torch.randn(2, T, 8, generator=g).double().requires_grad_()
    h0 = torch.randn(2, 8, generator=g).double().requires_grad_()
    return f_pre, z, h0


def _run(fn, f_pre, z, h0, **kw):
    log_f = F.logsigmoid(f_pre)
    u = torch.sigmoid(-f_pre) * torch.tanh(z)
    return fn(log_f.float(), u.float(), h0.float(), **kw)


@pytest.mark.parametrize("T", [1, 7, 16, 50, 64, 97], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("chunk", [16, 64], ids=lambda c: f"C{c}")
def test_chunked_matches_recurrent(T, chunk):
    f_pre, z, h0 = _inputs(T)
    ref, ref_h = _run(fpool_recurrent, f_pre, z, h0)
    fast, fast_h = _run(fpool_chunked, f_pre, z, h0, chunk_size=chunk)
    torch.testing.assert_close(fast, ref, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(fast_h, ref_h, atol=2e-5, rtol=1e-4)
    w = torch.randn_like(ref)
    grads_ref = torch.autograd.grad((ref * w).sum() + ref_h.sum(), (f_pre, z, h0))
    grads_fast = torch.autograd.grad((fast * w).sum() + fast_h.sum(), (f_pre, z, h0))
    for a, b in zip(grads_fast, grads_ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_strong_decay_is_stable():
    # f close to 0 for a long stretch: large negative cumulative log decay.
    log_f = torch.full((1, 200, 4), -30.0)
    u = torch.randn(1, 200, 4)
    ref, _ = fpool_recurrent(log_f, u)
    fast, _ = fpool_chunked(log_f, u, chunk_size=64)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)


def test_mixer_impls_agree_and_state_carries():
    cfg = ModelConfig(d_model=16, n_heads=2, chunk_size=8, pattern="q", n_layers=1)
    torch.manual_seed(0)
    fast = QRNN(cfg, 0)
    slow = QRNN(ModelConfig(**{**cfg.to_dict(), "mixer_options": {"q": {"impl": "recurrent"}}}), 0)
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 21, 16)
    y_fast, s_fast = fast(x, return_state=True)
    y_slow, s_slow = slow(x, return_state=True)
    torch.testing.assert_close(y_fast, y_slow, atol=1e-5, rtol=1e-4)
    y1, s = fast(x[:, :10], return_state=True)
    y2, _ = fast(x[:, 10:], state=s)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y_fast, atol=1e-5, rtol=1e-4)


def test_bad_impl_is_one_line_error():
    from babybench.errors import BabybenchError

    with pytest.raises(BabybenchError, match="impl"):
        QRNN(ModelConfig(mixer_options={"q": {"impl": "cuda"}}), 0)
    with pytest.raises(BabybenchError, match="did you mean 'width'"):
        QRNN(ModelConfig(mixer_options={"q": {"widht": 3}}), 0)


def test_auto_impl_follows_the_kernel_backend(monkeypatch):
    """``impl: auto`` takes fla's kernel only where ``backend`` resolves to ``fla`` (as the other
    mixers do), the chunked form for ``triton`` (QRNN has no kernel of its own) and otherwise,
    and the step for decoding."""
    Q = importlib.import_module("babybench.models.qrnn")
    used = []

    def record(name):
        return lambda log_f, u, h0=None, *rest: used.append(name) or fpool_recurrent(log_f, u, h0)
    for name, attr in (("fla", "_fpool_fla"), ("chunked", "fpool_chunked"), ("recurrent", "fpool_recurrent")):
        monkeypatch.setattr(Q, attr, record(name))
    mixer = QRNN(ModelConfig(d_model=16, n_heads=2, pattern="q", n_layers=1), 0)
    x = torch.randn(1, 5, 16)
    for form, want in (("fla", "fla"), ("triton", "chunked"), ("chunked", "chunked"), ("recurrent", "recurrent")):
        monkeypatch.setattr(Q, "resolve_backend", lambda backend, t, f=form: f)
        used.clear()
        mixer(x)
        assert used == [want], (form, used)
