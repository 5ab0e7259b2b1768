"""Block-diagonal linear map y = x W as Triton kernels: the q / k / v maps of xLSTM's mLSTM block.

W holds nb blocks of b x b (``weight`` (nb, b, b), nb * b = C channels), so the map is cheap
(b multiply-adds per output) and memory-bound. As one cuBLAS call it is a dense C x C matmul
(``xlstm.block_diag_dense``), nb-fold extra work (for the 30m block: 992 x 992, 3 maps x 14
layers). These kernels read x once and write y once instead (on an H200 at the 30m shapes, 20 us
forward and 29 us backward a call, about 3.2 TB/s; benchmarks/README.md):

    forward    y  = x  W_tile                 one (BR, BC) row tile per program, W_tile the dense
                                               (BC, BC) diagonal tile of W built in registers
    backward   dx = dy W_tile^T               the same tiles
               dW = sum over rows of x^T dy    each program sums its share of the rows; the
                                               diagonal b x b blocks of that (BC, BC) sum are
                                               stored per program and summed in PyTorch

BC = 64 channels (64 / b blocks) per tile, so each block lies inside one tile; the tile products
run on the tensor cores and accumulate in fp32. x may be a strided view of rows (the mLSTM
block's x is half of the up-projection); y and dx are contiguous.

The reference is ``xlstm.block_diag_linear_ref``; tests/models/test_kernels_blockdiag_triton.py
compares the two (outputs and both gradients) under Triton's CPU interpreter and, in bf16, on a GPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

#: Channels per tile. A block size must divide it (``block_diag_triton_ok``).
BC = 64
#: Rows per tile, and the most programs one channel tile's weight-gradient sum is split over.
BR, MAX_GROUPS = 64, 32


@triton.jit
def _diag_tile(c, C, b: tl.constexpr):
    """Offsets into (nb, b, b) and mask of the dense (BC, BC) tile of W at channels ``c``."""
    ci, co = c[:, None], c[None, :]
    same = (ci // b == co // b) & (ci < C) & (co < C)
    return (ci // b) * (b * b) + (ci % b) * b + (co % b), same


@triton.jit
def _block_diag_fwd(x, w, y, R, C, sx, BR: tl.constexpr, BC: tl.constexpr, b: tl.constexpr,
                    IEEE: tl.constexpr):
    ir, ic = tl.program_id(0), tl.program_id(1)
    r = (ir * BR + tl.arange(0, BR)).to(tl.int64)
    c = ic * BC + tl.arange(0, BC)
    m = (r[:, None] < R) & (c[None, :] < C)
    xt = tl.load(x + r[:, None] * sx + c[None, :], mask=m, other=0.)      # (BR, BC)
    offs, same = _diag_tile(c, C, b)
    wt = tl.load(w + offs, mask=same, other=0.).to(xt.dtype)              # (BC, BC)
    if IEEE:
        yt = tl.dot(xt, wt, input_precision="ieee")
    else:
        yt = tl.dot(xt, wt)
    tl.store(y + r[:, None] * C + c[None, :], yt.to(y.dtype.element_ty), mask=m)


@triton.jit
def _block_diag_bwd(x, w, dy, dx, dwp, R, C, sx, sdy, BR: tl.constexpr, BC: tl.constexpr, b: tl.constexpr,
                    IEEE: tl.constexpr):
    ig, ic, G = tl.program_id(0), tl.program_id(1), tl.num_programs(0)
    c = ic * BC + tl.arange(0, BC)
    offs, same = _diag_tile(c, C, b)
    wt = tl.load(w + offs, mask=same, other=0.)                            # (BC, BC) fp32
    acc = tl.zeros((BC, BC), dtype=tl.float32)                             # this program's x^T dy
    r0 = ig * BR
    while r0 < R:                                                          # rows ig, ig + G, ... (tiles)
        r = (r0 + tl.arange(0, BR)).to(tl.int64)
        m = (r[:, None] < R) & (c[None, :] < C)
        xt = tl.load(x + r[:, None] * sx + c[None, :], mask=m, other=0.)
        dyt = tl.load(dy + r[:, None] * sdy + c[None, :], mask=m, other=0.)
        if IEEE:
            dxt = tl.dot(dyt, tl.trans(wt.to(dyt.dtype)), input_precision="ieee")
            acc += tl.dot(tl.trans(xt), dyt.to(xt.dtype), input_precision="ieee")
        else:
            dxt = tl.dot(dyt, tl.trans(wt.to(dyt.dtype)))
            acc += tl.dot(tl.trans(xt), dyt.to(xt.dtype))
        tl.store(dx + r[:, None] * C + c[None, :], dxt.to(dx.dtype.element_ty), mask=m)
        r0 += G * BR
    tl.store(dwp + ig * (C * b) + offs, acc, mask=same)                    # dwp: (G, nb, b, b)


def _rows(t, C):
    """``t`` as (rows, C) with unit stride along C: a view where the layout allows one."""
    t = t.reshape(-1, C)
    return t if t.stride(-1) == 1 else t.contiguous()


class _BlockDiag(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, groups):
        nb, b, _ = weight.shape
        C = nb * b
        x2, w = _rows(x, C), weight.contiguous()
        R = x2.shape[0]
        y = torch.empty(R, C, device=x.device, dtype=x.dtype)
        ieee = x.dtype == torch.float32
        _block_diag_fwd[(triton.cdiv(R, BR), triton.cdiv(C, BC))](x2, w, y, R, C, x2.stride(0),
                                                                   BR=BR, BC=BC, b=b, IEEE=ieee)
        ctx.save_for_backward(x2, w)
        ctx.shape, ctx.groups = x.shape, groups
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy):
        x2, w = ctx.saved_tensors
        nb, b, _ = w.shape
        C, R = nb * b, x2.shape[0]
        dy2 = _rows(dy, C)
        G = max(1, min(triton.cdiv(R, BR), ctx.groups))
        dx = torch.empty(R, C, device=dy.device, dtype=x2.dtype)
        dwp = torch.empty(G, nb, b, b, device=dy.device, dtype=torch.float32)
        ieee = x2.dtype == torch.float32
        _block_diag_bwd[(G, triton.cdiv(C, BC))](x2, w, dy2, dx, dwp, R, C, x2.stride(0), dy2.stride(0),
                                                 BR=BR, BC=BC, b=b, IEEE=ieee)
        return dx.view(ctx.shape), dwp.sum(0).to(w.dtype), None


def block_diag_triton_ok(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """True where the kernels take the call: a block size dividing :data:`BC`, fp16 / bf16 / fp32."""
    b = weight.shape[-1]
    return BC % b == 0 and x.dtype in (torch.float16, torch.bfloat16, torch.float32)


def block_diag_triton(x, weight, groups=MAX_GROUPS):
    """y = x W, W block-diagonal with blocks ``weight`` (nb, b, b); x (..., nb * b); y in x's
    dtype. ``groups``: the most programs that split one channel tile's weight-gradient sum."""
    return _BlockDiag.apply(x, weight, groups)
