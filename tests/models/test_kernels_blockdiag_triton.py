"""babybench's Triton block-diagonal map against the dense reference (``block_diag_linear_ref``).

As for the GLA kernel, without a GPU the kernels run in Triton's CPU interpreter, in a child
process (``TRITON_INTERPRET=1`` must be set before triton is imported); fp32 and fp16 are checked
there, bf16 on the GPU.
"""
import importlib
import importlib.util

import pytest
import torch

from babybench.models import ModelConfig
from tests.models.helpers import run_in_triton_interpreter

CHECK = """
import torch
from babybench.models.kernels.blockdiag_triton import block_diag_triton
from babybench.models.xlstm import block_diag_linear_ref

torch.manual_seed(0)
# (rows B x T, channels, block, groups, dtype, tolerance, strided x): channels not a multiple of
# the 64-channel tile, rows not a multiple of the 64-row tile, a program summing several row
# tiles (groups 2), block sizes 4 and 8, x a strided half of a wider tensor
cases = [((3, 50), 100, 4, 32, torch.float32, 1e-6, False), ((2, 150), 136, 8, 2, torch.float32, 1e-6, True),
         ((1, 70), 64, 4, 1, torch.float32, 1e-6, True), ((2, 90), 200, 4, 3, torch.float16, 3e-3, False)]
for (B, T), C, b, groups, dt, tol, strided in cases:
    wide = torch.randn(B, T, 2 * C if strided else C).to(dt)
    w = torch.randn(C // b, b, b)
    ins = [wide.clone().requires_grad_(), w.clone().requires_grad_()]
    ref = [wide.clone().double().requires_grad_(), w.clone().double().requires_grad_()]
    y = block_diag_triton(ins[0][..., :C], ins[1], groups=groups)
    y_ref = block_diag_linear_ref(ref[0][..., :C], ref[1])
    assert y.dtype == dt and y.shape == (B, T, C), (y.dtype, y.shape)
    g = torch.randn_like(y_ref)
    (y.double() * g).sum().backward()
    (y_ref * g).sum().backward()
    assert ins[1].grad.dtype == torch.float32
    for name, a, r in (("y", y, y_ref), ("dx", ins[0].grad, ref[0].grad), ("dw", ins[1].grad, ref[1].grad)):
        rel = ((a.double() - r).norm() / r.norm()).item()
        assert rel < tol, (B, T, C, b, groups, dt, name, rel)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_block_diag_triton_matches_reference_in_interpreter():
    run_in_triton_interpreter(CHECK)


@pytest.mark.gpu
def test_block_diag_triton_matches_dense_on_gpu():
    """bf16 at the 30m block's shapes (x a strided half of the up-projection), against the dense
    matmul that cuBLAS runs, both against the fp32 reference."""
    from babybench.models.kernels import triton_available
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    from babybench.models.kernels.blockdiag_triton import block_diag_triton
    from babybench.models.xlstm import block_diag_dense, block_diag_linear_ref
    torch.manual_seed(0)
    wide = torch.randn(4, 512, 2 * 992, device="cuda")
    w = torch.randn(248, 4, 4, device="cuda") * 0.5
    g = torch.randn(4, 512, 992, device="cuda")
    outs = []
    for fn, dt in ((block_diag_linear_ref, torch.float32), (block_diag_triton, torch.bfloat16),
                   (block_diag_dense, torch.bfloat16)):
        x, wt = wide.to(dt, copy=True).requires_grad_(), w.clone().requires_grad_()
        y = fn(x[..., :992], wt)
        (y.float() * g).sum().backward()
        outs.append([y.float(), x.grad.float(), wt.grad.float()])
    ref, fast, dense = outs
    for name, a, d, r in zip(("y", "dx", "dw"), fast, dense, ref):
        e_fast, e_dense = (((t - r).norm() / r.norm()).item() for t in (a, d))
        assert e_fast <= 1.5 * e_dense + 1e-4, (name, e_fast, e_dense)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_block_diag_linear_takes_the_kernel_where_the_backend_resolves_to_triton(monkeypatch):
    """The mLSTM block's maps run the kernel where ``backend`` resolves to ``triton`` (``auto`` on an
    H100-class GPU), and the PyTorch forms where it does not, for decoding steps (T = 1, which
    ``resolve_backend`` sends to the recurrent form) and for block sizes the 64-channel tile cannot hold."""
    xlstm = importlib.import_module("babybench.models.xlstm")
    BT = importlib.import_module("babybench.models.kernels.blockdiag_triton")
    calls = []
    monkeypatch.setattr(BT, "block_diag_triton", lambda x, w: calls.append("triton") or x)
    monkeypatch.setattr(xlstm, "block_diag_einsum", lambda x, w: calls.append("einsum") or x)

    def resolve(backend, x):  # resolve_backend as on an H100-class GPU, for CPU tensors
        return "recurrent" if x.shape[1] == 1 else ("chunked" if backend == "torch" else backend)

    monkeypatch.setattr(xlstm, "resolve_backend", resolve)
    x, w4, w3 = torch.zeros(2, 6, 24), torch.zeros(6, 4, 4), torch.zeros(8, 3, 3)
    for args, want in (((x, w4, "triton"), "triton"), ((x, w4, "torch"), "einsum"),
                       ((x[:, :1], w4, "triton"), "einsum"), ((x, w3, "triton"), "einsum"),
                       ((x.double(), w4, "triton"), "einsum")):
        calls.clear()
        xlstm.block_diag_linear(*args)
        assert calls == [want], (args[0].shape, args[1].shape, args[2], calls)
    block = xlstm.MLSTMBlock(ModelConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=1, pattern="x",
                                         backend="torch"), 0)
    assert {m.backend for m in (block.q_proj, block.k_proj, block.v_proj)} == {"torch"}
