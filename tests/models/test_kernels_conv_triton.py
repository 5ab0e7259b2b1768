"""babybench's Triton conv + SiLU against the tap-sum reference (``causal_conv1d_ref``, then SiLU).

Without a GPU the kernels run in Triton's CPU interpreter, in a child process (``TRITON_INTERPRET=1``
must be set before triton is imported); fp32 and fp16 are checked there, bf16 on the GPU.
"""
import importlib
import importlib.util

import pytest
import torch
import torch.nn.functional as F

from tests.models.helpers import run_in_triton_interpreter


def compare_with_reference(cases, device="cpu"):
    """Each case: ((B, T), C, W, dtype, tolerance, strided x, silu). Outputs and the
    gradients of x, weight and bias against the fp64 reference."""
    from babybench.models.kernels import causal_conv1d_ref
    from babybench.models.kernels.conv_triton import causal_conv1d_silu_triton
    torch.manual_seed(0)
    for (B, T), C, W, dt, tol, strided, silu in cases:
        wide = torch.randn(B, T, 2 * C if strided else C, device=device).to(dt)
        w, b = torch.randn(C, W, device=device) * 0.5, torch.randn(C, device=device)
        ins = [t.clone().requires_grad_() for t in (wide, w, b)]
        ref = [t.clone().double().requires_grad_() for t in (wide, w, b)]
        y = causal_conv1d_silu_triton(ins[0][..., :C], ins[1], ins[2], silu=silu)
        y_ref = causal_conv1d_ref(ref[0][..., :C], ref[1], ref[2])[0]
        y_ref = F.silu(y_ref) if silu else y_ref
        assert y.dtype == dt and y.shape == (B, T, C), (y.dtype, y.shape)
        g = torch.randn_like(y_ref)
        (y.double() * g).sum().backward()
        (y_ref * g).sum().backward()
        assert ins[1].grad.dtype == ins[2].grad.dtype == torch.float32
        for name, a, r in (("y", y, y_ref), ("dx", ins[0].grad, ref[0].grad),
                           ("dw", ins[1].grad, ref[1].grad), ("db", ins[2].grad, ref[2].grad)):
            rel = ((a.double() - r).norm() / r.norm()).item()
            assert rel < tol, (B, T, C, W, dt, name, rel)


# Row tiles that span sequences (T = 5, 50 and 70 against 64-row tiles), sequences shorter than the
# conv (T = 2 < W - 1), channels not a multiple of the 128-channel tile, several row tiles, widths 4
# and 3, x a strided half of a wider tensor, the conv without its SiLU, fp16.
CASES = [((3, 50), 100, 4, torch.float32, 1e-6, False, True),
         ((2, 70), 136, 4, torch.float32, 1e-6, True, True),
         ((4, 2), 20, 4, torch.float32, 1e-6, False, True),
         ((2, 5), 260, 3, torch.float32, 1e-6, True, False),
         ((2, 40), 64, 4, torch.float16, 3e-3, False, True)]


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_conv_triton_matches_reference_in_interpreter():
    run_in_triton_interpreter("from tests.models.test_kernels_conv_triton import CASES, compare_with_reference\n"
                              "compare_with_reference(CASES)\nprint('ok')\n")


@pytest.mark.gpu
def test_conv_triton_matches_reference_on_gpu():
    """The real launch grid: the 30m xLSTM block's shape (x a strided half of the up-projection)
    in bf16 and fp32, and a ragged one."""
    from babybench.models.kernels import triton_available
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    compare_with_reference([((8, 512), 992, 4, torch.bfloat16, 1e-2, True, True),
                            ((8, 512), 992, 4, torch.float32, 1e-5, True, True),
                            ((3, 77), 1153, 4, torch.float32, 1e-5, False, True)], device="cuda")


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_conv_silu_takes_the_kernel_where_the_backend_resolves_to_triton(monkeypatch):
    """``causal_conv1d_silu`` runs the kernels where ``backend`` resolves to ``triton`` and no
    state comes in; else the conv and ``F.silu``. Its state out is the last W - 1 inputs either way."""
    conv = importlib.import_module("babybench.models.kernels.conv")
    CT = importlib.import_module("babybench.models.kernels.conv_triton")
    calls = []

    def fake(x, w, b=None):
        calls.append("triton")
        return F.silu(conv.causal_conv1d_ref(x, w, b)[0])

    monkeypatch.setattr(CT, "causal_conv1d_silu_triton", fake)

    def resolve(backend, x):  # resolve_backend as on an H100-class GPU, for CPU tensors
        return "recurrent" if x.shape[1] == 1 else ("chunked" if backend == "torch" else backend)

    monkeypatch.setattr(conv, "resolve_backend", resolve)
    x, w, b = torch.randn(2, 6, 8), torch.randn(8, 4), torch.randn(8)
    st = torch.randn(2, 3, 8)
    for args, want in (((x, w, b, None, "triton"), ["triton"]), ((x, w, b, None, "torch"), []),
                       ((x, w, b, st, "triton"), []), ((x[:, :1], w, b, None, "triton"), []),
                       ((x[:, :2], w, b, None, "triton"), ["triton"])):
        calls.clear()
        y, state = conv.causal_conv1d_silu(*args)
        y_ref, state_ref = conv.causal_conv1d_ref(*args[:4])
        assert calls == want, (args[0].shape, args[4], calls)
        torch.testing.assert_close(y, F.silu(y_ref))
        torch.testing.assert_close(state, state_ref)
