"""The short causal depthwise convolution with its SiLU, as Triton kernels: the conv of the mLSTM
and Mamba-2 blocks in training (no state in; the state out is the input's last W - 1 rows).

    forward    y_t = silu(pre_t),  pre_t = bias + sum_m w_m x_{t - (W - 1) + m}     (per channel)
    backward   g_t = dy_t silu'(pre_t)                  (_conv_bwd_g; pre recomputed from x)
               dw_m = sum_t g_t x_{t - (W - 1) + m},  db = sum_t g_t     (the same kernel)
               dx_s = sum_j w_{W - 1 - j} g_{s + j}      (_conv_bwd_x; j = 0 .. W - 1)

Rows are the flattened (B * T) time steps; a row tile may span two sequences, so every shifted
load is masked by the step's position t = row % T (history before t = 0 is zero, and no step
reads past its sequence's end). g is stored in dy's dtype between the two backward kernels; each
row tile's weight-gradient sums are stored and added in PyTorch. Products and sums are fp32; x
may be a strided view of rows (the mLSTM block's x is half of the up-projection).

Why: under ``torch.compile`` the tap sum of ``conv.causal_conv1d`` compiles to flat pointwise
kernels that index the weight per element and write a padded copy of x; at the 30m xLSTM shapes
they took 18 + 75 us forward and 46 + 59 us backward a layer (the weight sums and dx, with the
SiLU's backward inside another 85 us kernel), against 39 + 126 us for these kernels (H200
profiles of the training step, benchmarks/README.md). The reference is ``conv.causal_conv1d_ref`` followed by ``F.silu``;
tests/models/test_kernels_conv_triton.py compares the two under Triton's CPU interpreter and on a GPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from babybench.models.kernels.blockdiag_triton import _rows

#: Launch settings per kernel: rows and channels per tile, and Triton's warps. From
#: ``python benchmarks/conv_triton_sweep.py`` (H200, the 30m xLSTM block: B = 32, T = 512, 992
#: channels, bf16; each kernel's CUDA time): forward 35.8 us, g and the weight sums 101.4 us, dx
#: 27.3 us, against 48.6 / 115.3 / 37.5 us with 64 x 128 tiles for all three. The g kernel gains
#: from tall tiles, which suggests that its five column sums per tile, not its traffic, bound it.
LAUNCH = {
    "_conv_fwd": {"BR": 32, "BC": 128, "num_warps": 4},
    "_conv_bwd_g": {"BR": 128, "BC": 64, "num_warps": 4},
    "_conv_bwd_x": {"BR": 32, "BC": 128, "num_warps": 4},
}


@triton.jit
def _tile(r0, c0, R, T, C, BR: tl.constexpr, BC: tl.constexpr):
    """Rows r (int64), their time steps t, channels c and the row / channel masks of a tile."""
    r = (r0 + tl.arange(0, BR)).to(tl.int64)
    c = c0 + tl.arange(0, BC)
    return r, r % T, c, r < R, c < C


@triton.jit
def _shifted(p, t, s, live, cm, stride, T):
    """The tile at ``p`` moved by s rows (fp32); zero where step t + s lies outside the sequence."""
    ok = live & (t + s >= 0) & (t + s < T)
    return tl.load(p + s * stride, mask=ok[:, None] & cm[None, :], other=0.).to(tl.float32)


@triton.jit
def _weight(w, c, cm, m, W: tl.constexpr):
    """Tap m of the (C, W) weight at channels c, as a (1, BC) row."""
    return tl.load(w + c * W + m, mask=cm, other=0.)[None, :]


@triton.jit
def _pre(xp, w, bias, t, live, c, cm, sx, T, W: tl.constexpr):
    """pre at the tile's rows: bias + the W taps of x (``xp`` the tile's pointers into x)."""
    acc = _shifted(xp, t, 1 - W, live, cm, sx, T) * _weight(w, c, cm, 0, W)
    for m in tl.static_range(1, W):
        acc += _shifted(xp, t, m - (W - 1), live, cm, sx, T) * _weight(w, c, cm, m, W)
    return acc + tl.load(bias + c, mask=cm, other=0.)[None, :]


@triton.jit
def _conv_fwd(x, w, bias, y, R, T, C, sx, W: tl.constexpr, BR: tl.constexpr, BC: tl.constexpr,
              SILU: tl.constexpr):
    r, t, c, live, cm = _tile(tl.program_id(0) * BR, tl.program_id(1) * BC, R, T, C, BR, BC)
    acc = _pre(x + r[:, None] * sx + c[None, :], w, bias, t, live, c, cm, sx, T, W)
    if SILU:
        acc = acc * tl.sigmoid(acc)
    tl.store(y + r[:, None] * C + c[None, :], acc.to(y.dtype.element_ty), mask=live[:, None] & cm[None, :])


@triton.jit
def _conv_bwd_g(x, w, bias, dy, g, dwp, dbp, R, T, C, sx, sdy, W: tl.constexpr, WP: tl.constexpr,
                BR: tl.constexpr, BC: tl.constexpr, SILU: tl.constexpr):
    """g = dy silu'(pre) (stored in dy's dtype), and this row tile's sums of g x per tap and of g."""
    ir = tl.program_id(0)
    r, t, c, live, cm = _tile(ir * BR, tl.program_id(1) * BC, R, T, C, BR, BC)
    m2 = live[:, None] & cm[None, :]
    xp = x + r[:, None] * sx + c[None, :]
    gt = tl.load(dy + r[:, None] * sdy + c[None, :], mask=m2, other=0.).to(tl.float32)
    if SILU:
        pre = _pre(xp, w, bias, t, live, c, cm, sx, T, W)
        sg = tl.sigmoid(pre)
        gt = gt * sg * (1. + pre * (1. - sg))
    tl.store(g + r[:, None] * C + c[None, :], gt.to(g.dtype.element_ty), mask=m2)
    tl.store(dbp + ir * C + c, tl.sum(gt, 0), mask=cm)
    for m in tl.static_range(W):
        gx = tl.sum(gt * _shifted(xp, t, m - (W - 1), live, cm, sx, T), 0)
        tl.store(dwp + (ir * WP + m) * C + c, gx, mask=cm)


@triton.jit
def _conv_bwd_x(g, w, dx, R, T, C, W: tl.constexpr, BR: tl.constexpr, BC: tl.constexpr):
    """dx_s = sum_j w_{W-1-j} g_{s+j}: output row s + j read x_s through tap W - 1 - j."""
    r, t, c, live, cm = _tile(tl.program_id(0) * BR, tl.program_id(1) * BC, R, T, C, BR, BC)
    gp = g + r[:, None] * C + c[None, :]
    acc = _shifted(gp, t, 0, live, cm, C, T) * _weight(w, c, cm, W - 1, W)
    for j in tl.static_range(1, W):
        acc += _shifted(gp, t, j, live, cm, C, T) * _weight(w, c, cm, W - 1 - j, W)
    tl.store(dx + r[:, None] * C + c[None, :], acc.to(dx.dtype.element_ty), mask=live[:, None] & cm[None, :])


def _grid_kw(name, R, C):
    """(grid, launch keywords) of kernel ``name`` over R rows and C channels."""
    kw = dict(LAUNCH[name])
    return (triton.cdiv(R, kw["BR"]), triton.cdiv(C, kw["BC"])), kw


class _ConvSiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, silu):
        B, T, C = x.shape
        W = weight.shape[1]
        x2, w, b = _rows(x, C), weight.float().contiguous(), bias.float().contiguous()
        R = x2.shape[0]
        y = torch.empty(R, C, device=x.device, dtype=x.dtype)
        grid, kw = _grid_kw("_conv_fwd", R, C)
        _conv_fwd[grid](x2, w, b, y, R, T, C, x2.stride(0), W=W, SILU=silu, **kw)
        ctx.save_for_backward(x2, w, b)
        ctx.shape, ctx.silu, ctx.dtypes = x.shape, silu, (weight.dtype, bias.dtype)
        return y.view(B, T, C)

    @staticmethod
    def backward(ctx, dy):
        x2, w, b = ctx.saved_tensors
        B, T, C = ctx.shape
        W, R = w.shape[1], x2.shape[0]
        dy2 = _rows(dy, C)
        WP = triton.next_power_of_2(W)
        grid, kw = _grid_kw("_conv_bwd_g", R, C)
        g = torch.empty(R, C, device=dy.device, dtype=dy2.dtype)
        dwp = torch.empty(grid[0], WP, C, device=dy.device, dtype=torch.float32)
        dbp = torch.empty(grid[0], C, device=dy.device, dtype=torch.float32)
        _conv_bwd_g[grid](x2, w, b, dy2, g, dwp, dbp, R, T, C, x2.stride(0), dy2.stride(0),
                          W=W, WP=WP, SILU=ctx.silu, **kw)
        dx = torch.empty(R, C, device=dy.device, dtype=x2.dtype)
        grid, kw = _grid_kw("_conv_bwd_x", R, C)
        _conv_bwd_x[grid](g, w, dx, R, T, C, W=W, **kw)
        dw = dwp[:, :W].sum(0).t().to(ctx.dtypes[0])
        return dx.view(B, T, C), dw, dbp.sum(0).to(ctx.dtypes[1]), None


def conv_triton_ok(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """True where the kernels take the call: (B, T, C) input in fp16 / bf16 / fp32."""
    return x.dim() == 3 and weight.dim() == 2 and x.dtype in (torch.float16, torch.bfloat16, torch.float32)


def causal_conv1d_silu_triton(x, weight, bias=None, silu=True):
    """silu(causal conv of x) (or the conv alone, ``silu=False``) without a state; x (B, T, C),
    weight (C, W), bias (C,) or None. Returns y (B, T, C) in x's dtype."""
    if bias is None:
        bias = weight.new_zeros(weight.shape[0])
    return _ConvSiLU.apply(x, weight, bias, silu)
