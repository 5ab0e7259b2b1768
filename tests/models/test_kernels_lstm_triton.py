"""babybench's persistent Triton LSTM kernels against ``torch.nn.LSTM``, and the lstm mixer's dispatch.

Without a GPU the kernels run in Triton's CPU interpreter, in a child process (as for the GLA
kernel). The interpreter runs a launch's programs one after another, so a group's programs cannot
wait for each other there: the CPU check gives each group a single program (``hs`` >= the hidden
width). The GPU tests run the real grid, whose programs meet at a barrier after every step.
"""
import importlib
import importlib.util

import pytest
import torch

from babybench.models import ModelConfig, build_model
from babybench.models.kernels import triton_available
from tests.models.helpers import run_in_triton_interpreter

def compare_with_nn_lstm(B, T, Din, D, dt, tol, state, device="cpu", **grid):
    """``lstm_triton`` against ``torch.nn.LSTM`` in fp64: outputs, final state and every gradient
    (of the initial state too, where ``state``), each within ``tol`` relative. ``grid``: the
    kernels' ``hs`` / ``bb``. Run by the interpreter check (a child process) and the GPU test."""
    from babybench.models.kernels.lstm_triton import lstm_triton
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(Din, D, batch_first=True).double().to(device)
    x = torch.randn(B, T, Din, dtype=torch.double, device=device)
    h0, c0 = (torch.randn(B, D, dtype=torch.double, device=device) for _ in range(2))
    ws = [p.detach().float().clone().requires_grad_() for p in
          (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)]
    xi, hi, ci = (t.to(dt).clone().requires_grad_() for t in (x, h0, c0))
    y, (hT, cT) = lstm_triton(xi, *ws, hi if state else None, ci.float() if state else None, **grid)
    assert y.dtype == dt and hT.dtype == dt and cT.dtype == torch.float32
    xr, hr, cr = (t.to(dt).double().requires_grad_() for t in (x, h0, c0))
    yr, (hTr, cTr) = lstm(xr, (hr[None], cr[None]) if state else None)
    wy, wh, wc = (torch.randn_like(t) for t in (yr, hTr[0], cTr[0]))
    ((y.double() * wy).sum() + (hT.double() * wh).sum() + (cT.double() * wc).sum()).backward()
    ((yr * wy).sum() + (hTr[0] * wh).sum() + (cTr[0] * wc).sum()).backward()
    pairs = [("y", y, yr), ("hT", hT, hTr[0]), ("cT", cT, cTr[0]), ("dx", xi.grad, xr.grad)]
    pairs += [(n, a.grad, b.grad) for n, a, b in zip(("dw_ih", "dw_hh", "db_ih", "db_hh"), ws, lstm.parameters())]
    if state:
        pairs += [("dh0", hi.grad, hr.grad), ("dc0", ci.grad, cr.grad)]
    for name, a, b in pairs:
        rel = ((a.double() - b).norm() / b.norm()).item()
        assert rel < tol, (B, T, Din, D, dt, name, rel)


CHECK = """
import torch
from tests.models.test_kernels_lstm_triton import compare_with_nn_lstm
# (B, T, D_in, D, dtype, tolerance, state, hidden units per program): widths not powers of 2,
# batch rows past one group of 16 (B = 20: two groups, the second partial), fp16
for B, T, Din, D, dt, tol, state, hs in [(3, 7, 20, 24, torch.float32, 1e-5, True, 32),
                                          (20, 5, 16, 16, torch.float32, 1e-5, False, 16),
                                          (2, 9, 16, 40, torch.float16, 5e-3, True, 64)]:
    compare_with_nn_lstm(B, T, Din, D, dt, tol, state, hs=hs)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_lstm_kernels_match_nn_lstm_in_interpreter():
    run_in_triton_interpreter(CHECK)


def test_lstm_mixer_takes_the_kernels_where_the_backend_resolves_to_triton(monkeypatch):
    """The ``l`` mixer runs the kernels where ``backend`` resolves to ``triton`` and the kernels
    take the shape, in the autocast dtype; otherwise, and for decoding steps (T = 1), ``nn.LSTM``."""
    L = importlib.import_module("babybench.models.lstm")
    LT = importlib.import_module("babybench.models.kernels.lstm_triton")
    calls = []

    def fake(x, w_ih, w_hh, b_ih, b_hh, h0=None, c0=None):
        calls.append(("triton", x.dtype, h0 is None))
        B, D = x.shape[0], w_hh.shape[1]
        return torch.zeros(B, x.shape[1], D), (torch.zeros(B, D), torch.zeros(B, D))

    def resolve(backend, x):  # resolve_backend as on an H100-class GPU, for CPU tensors
        return "recurrent" if x.shape[1] == 1 else ("chunked" if backend == "torch" else "triton")

    monkeypatch.setattr(LT, "lstm_triton", fake)
    monkeypatch.setattr(LT, "lstm_triton_ok", lambda x, hidden, dtype: dtype != torch.float32)
    monkeypatch.setattr(L, "resolve_backend", resolve)
    monkeypatch.setattr(L, "_compute_dtype", lambda x: torch.bfloat16)
    cfg = dict(vocab_size=11, d_model=16, n_heads=2, n_layers=1, pattern="l")
    mixer = L.LSTMMixer(ModelConfig(**cfg), 0)
    x = torch.randn(2, 6, 16)
    _, state = mixer(x, return_state=True)
    assert calls == [("triton", torch.bfloat16, True)] and state[0].shape == (1, 2, 16)
    calls.clear()
    mixer(x, state=state)
    assert calls == [("triton", torch.bfloat16, False)]
    calls.clear()
    mixer(x[:, :1], state=state)                                  # a decoding step: nn.LSTM
    L.LSTMMixer(ModelConfig(**cfg, backend="torch"), 0)(x)
    monkeypatch.setattr(L, "_compute_dtype", lambda x: torch.float32)
    mixer(x)                                                      # fp32: nn.LSTM
    assert calls == []
    # nn.LSTM continues from the kernels' state, (h in the autocast dtype, c in fp32)
    h, c = torch.randn(1, 2, 16), torch.randn(1, 2, 16)
    got, _ = mixer(x[:, :1], state=(h.bfloat16(), c))
    want, _ = mixer(x[:, :1], state=(h.bfloat16().float(), c))
    assert torch.equal(got, want)


needs_gpu = pytest.mark.skipif(not (torch.cuda.is_available() and triton_available()),
                               reason="needs CUDA and triton")


@pytest.mark.gpu
@needs_gpu
def test_lstm_kernels_match_nn_lstm_on_gpu():
    """The real grid (32 programs a group at D = 512, a barrier after every step) in bf16, with a
    partial third group of batch rows, a state in and out, and a width that is not a power of 2."""
    compare_with_nn_lstm(40, 100, 384, 512, torch.bfloat16, 2e-2, True, device="cuda")
    compare_with_nn_lstm(5, 70, 64, 200, torch.bfloat16, 2e-2, False, device="cuda")


@pytest.mark.gpu
@needs_gpu
def test_lstm_family_trains_alike_on_the_kernels_and_on_cudnn():
    """The debug lstm model under bf16 autocast: loss and gradients with ``backend: auto`` (the
    Triton kernels on an H100-class GPU) against ``backend: torch`` (cuDNN), same weights."""
    torch.manual_seed(0)
    idx = torch.randint(0, 97, (4, 65), device="cuda")
    runs = []
    for backend in ("auto", "torch"):
        torch.manual_seed(1)
        model = build_model("lstm", "debug", vocab_size=97, backend=backend).cuda()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(idx[:, :-1], targets=idx[:, 1:]).loss
        loss.backward()
        runs.append((loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()])))
    (la, ga), (lb, gb) = runs
    assert abs(la - lb) < 1e-2 * abs(lb)
    assert ((ga - gb).norm() / gb.norm()).item() < 3e-2
