"""The LSTM recurrence of ``torch.nn.LSTM`` (one layer, gate order i, f, g, o) as babybench's own
persistent Triton kernels: one launch runs all T steps forward, one all T steps backward.

    gates_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T        (the x part: one matmul up front)
    c_t     = f_t c_{t-1} + i_t g_t,   h_t = o_t tanh(c_t)

Each program owns HS hidden units (their 4 HS gate columns) of a group of BB batch rows and holds
its slice of W_hh for the whole sequence. A step needs the whole h_{t-1} of its batch rows, which
the group's other programs wrote, so after each step the programs of a group meet at a barrier in
global memory (:func:`_barrier`: one counter per group, a release add, acquire polls; about 1 us a
step on an H200). That needs every program of a group resident at once, so :func:`lstm_triton_ok`
refuses grids larger than the GPU's SM count (the caller then runs cuDNN). The backward kernel
runs the loop in reverse, dh_t = dy_t + dgates_{t+1} W_hh and then the gate derivatives; the
weight gradients are three matmuls afterwards. The step's state c and the activated gates are
kept in fp32; h and the gate gradients in the input's dtype (bf16 under autocast).

At the 30m lstm shapes (B = 32, T = 512, D = 512, bf16, H200): forward 1.67 ms and backward 2.23
ms a layer, against cuDNN's 1.61 and 2.62 (benchmarks/README.md, tenth session).

Checks: the kernels match ``torch.nn.LSTM`` (outputs, final state and every gradient) under
Triton's CPU interpreter with one program per group (the interpreter runs programs one after
another, so it cannot run a barrier between them), and in bf16 on a GPU with the real grid
(tests/models/test_kernels_lstm_triton.py). benchmarks/lstm_cudnn.py times them against cuDNN.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from babybench.models.kernels.gla import _shared_mem_per_block


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    return 2.0 / (1.0 + tl.exp(-2.0 * x)) - 1.0


@triton.jit
def _barrier(count, NS, step):
    """Count this program in as done with ``step`` (1, 2, ...) and wait until all NS programs of its
    group are: ``count`` is the group's counter. Triton issues a scalar atomic from one thread and
    shares its result, so the CTA barriers around it order every thread's stores and loads."""
    tl.debug_barrier()
    tl.atomic_add(count, 1, sem="release", scope="gpu")
    seen = tl.atomic_add(count, 0, sem="acquire", scope="gpu")
    while seen < step * NS:
        seen = tl.atomic_add(count, 0, sem="acquire", scope="gpu")
    tl.debug_barrier()


@triton.jit
def _gate_tiles(ptr, row, D, mask):
    """The four (BB, HS) gate tiles i, f, g, o at offsets ``row`` of a (T, B, 4 D) tensor, as fp32."""
    return (tl.load(ptr + row, mask=mask, other=0.).to(tl.float32),
            tl.load(ptr + row + D, mask=mask, other=0.).to(tl.float32),
            tl.load(ptr + row + 2 * D, mask=mask, other=0.).to(tl.float32),
            tl.load(ptr + row + 3 * D, mask=mask, other=0.).to(tl.float32))


@triton.jit
def _tile_mask(rb, cols, B, D, live):
    """(rb < B) & (cols < D) as a (len(rb), len(cols)) mask, all False unless the scalar ``live``
    (written so, not ``mask & live``: Triton 3.9's interpreter refuses that mask's dtype)."""
    return (rb[:, None] < tl.where(live, B, 0)) & (cols[None, :] < D)


@triton.jit
def _c_before(cs, c0, t, B, D, st, rb, jj):
    """c_{t-1}: step t - 1's tile of cs (T, B, D), c0's for t = 0, zeros for t < 0."""
    return (tl.load(cs + (t - 1) * B * D + st, mask=_tile_mask(rb, jj, B, D, t > 0), other=0.)
            + tl.load(c0 + st, mask=_tile_mask(rb, jj, B, D, t == 0), other=0.))


@triton.jit
def _gate(a, q, BB: tl.constexpr, HS: tl.constexpr):
    """Gate q's (BB, HS) tile of a (BB, 4 HS) tile whose columns are gate-major."""
    a = tl.reshape(a, (BB, 4, HS))
    return tl.sum(tl.where(tl.arange(0, 4)[None, :, None] == q, a, 0.), 1)


@triton.jit
def _w_rows(w, rows, ks, cols, D):
    """A (len(ks), len(cols)) tile of W_hh (4 D, D) transposed: element [k, n] = W_hh[rows[n], ks[k]]."""
    return tl.load(w + rows[None, :] * D + ks[:, None], mask=(ks[:, None] < D) & (cols[None, :] < D), other=0.)


@triton.jit
def _row_tile(ptr, base, ks, D, mb):
    """A (BB, len(ks)) tile of ``ptr`` at row offsets ``base`` (BB,), columns ks < D."""
    return tl.load(ptr + base[:, None] + ks[None, :], mask=mb[:, None] & (ks[None, :] < D), other=0.,
                   cache_modifier=".cg")


@triton.jit
def _lstm_fwd(gx, w, h0, c0, y, acts, cs, cT, counts, T, B, D, NS,
              BB: tl.constexpr, HS: tl.constexpr, DP: tl.constexpr):
    """gx, acts (T, B, 4 D); cs (T, B, D) are time-major, so one step's tiles are contiguous (with
    batch-major rows 2 MB apart, one step's loads took 15-50 us). y is (B, T, D).

    The four gates' columns of W_hh^T form one (DP, 4 HS) operand, so the warps split the matmul
    by column (with one (DP, HS) operand per gate, every warp held all four and spilled registers:
    6.8 ms a layer). It is cut into four K quarters, four independent chains of tensor-core steps
    instead of one long one: 1.80 instead of 1.88 ms on four warps, 1.67 on eight."""
    s, grp = tl.program_id(0), tl.program_id(1)
    DK: tl.constexpr = DP // 4
    rb, jj, rk, n = (grp * BB + tl.arange(0, BB), s * HS + tl.arange(0, HS), tl.arange(0, DK),
                     tl.arange(0, 4 * HS))
    unit = s * HS + n % HS
    col = (n // HS) * D + unit                                      # this program's gate columns
    w0, w1 = _w_rows(w, col, rk, unit, D), _w_rows(w, col, rk + DK, unit, D)
    w2, w3 = _w_rows(w, col, rk + 2 * DK, unit, D), _w_rows(w, col, rk + 3 * DK, unit, D)
    mb = rb < B
    m2 = mb[:, None] & (jj[None, :] < D)
    m4 = mb[:, None] & (unit[None, :] < D)
    st = rb[:, None] * D + jj[None, :]
    c = tl.load(c0 + st, mask=m2, other=0.)
    hb = rb * D
    h_0, h_1 = _row_tile(h0, hb, rk, D, mb), _row_tile(h0, hb, rk + DK, D, mb)
    h_2, h_3 = _row_tile(h0, hb, rk + 2 * DK, D, mb), _row_tile(h0, hb, rk + 3 * DK, D, mb)
    row = rb[:, None] * (4 * D) + col[None, :]                      # step 0's (BB, 4 HS) gate tile
    xt = tl.load(gx + row, mask=m4, other=0.).to(tl.float32)
    is_g = (n // HS == 2)[None, :]                                  # the cell input: tanh, not sigmoid
    t = 0
    while t < T:                                  # (a while loop: the interpreter's range needs ints)
        if t > 0:
            hb = (rb * T + t - 1) * D
            h_0, h_1 = _row_tile(y, hb, rk, D, mb), _row_tile(y, hb, rk + DK, D, mb)
            h_2, h_3 = _row_tile(y, hb, rk + 2 * DK, D, mb), _row_tile(y, hb, rk + 3 * DK, D, mb)
        a = xt + (tl.dot(h_0, w0) + tl.dot(h_1, w1)) + (tl.dot(h_2, w2) + tl.dot(h_3, w3))
        sg = _sigmoid(tl.where(is_g, 2 * a, a))
        a = tl.where(is_g, 2 * sg - 1, sg)                          # i, f, g, o (tanh(x) = 2 sig(2x) - 1)
        xt = tl.load(gx + row + B * 4 * D, mask=_tile_mask(rb, unit, B, D, t + 1 < T),
                     other=0.).to(tl.float32)                       # the next step's, early
        tl.store(acts + row, a, mask=m4)
        c = _gate(a, 1, BB, HS) * c + _gate(a, 0, BB, HS) * _gate(a, 2, BB, HS)
        tl.store(y + (rb[:, None] * T + t) * D + jj[None, :],
                 (_gate(a, 3, BB, HS) * _tanh(c)).to(y.dtype.element_ty), mask=m2)
        tl.store(cs + t * B * D + st, c, mask=m2)
        _barrier(counts + grp, NS, t + 1)
        row += B * 4 * D
        t += 1
    tl.store(cT + st, c, mask=m2)


@triton.jit
def _lstm_bwd(dy, w, acts, cs, c0, dhT, dcT, dg, dh0, dc0, counts, T, B, D, NS,
              BB: tl.constexpr, HS: tl.constexpr, DP: tl.constexpr):
    """dy, cs (T, B, D); acts, dg (T, B, 4 D): time-major, as in the forward kernel.

    The recurrent matmul dgates_{t+1} W_hh is a batch of four (BB, DP) x (DP, HS) products, one
    per gate, summed: the batch is split over the warps. As one (BB, 4 DP) x (4 DP, HS) product,
    every warp computed all of it (the (BB, HS) result is too small to split) and read both
    operands whole from shared memory each step (2.39 instead of 2.23 ms a layer)."""
    s, grp = tl.program_id(0), tl.program_id(1)
    rb, jj, kk = grp * BB + tl.arange(0, BB), s * HS + tl.arange(0, HS), tl.arange(0, DP)
    q4 = tl.arange(0, 4)
    kb = (q4 * D)[:, None, None] + kk[None, :, None]                # (4, DP, 1): gate q's rows of W_hh
    wb = tl.load(w + kb * D + jj[None, None, :], mask=(kk[None, :, None] < D) & (jj[None, None, :] < D),
                 other=0.)                                          # (4, DP, HS)
    m2 = (rb[:, None] < B) & (jj[None, :] < D)
    kg = (q4 * D)[:, None, None] + kk[None, None, :]                # (4, 1, DP): gate q's columns
    mg = (rb[None, :, None] < B) & (kk[None, None, :] < D)
    st = rb[:, None] * D + jj[None, :]
    dc = tl.load(dcT + st, mask=m2, other=0.)
    dh = tl.load(dhT + st, mask=m2, other=0.)
    # step T - 1's inputs; each step then loads the next one's before its barrier
    t = T - 1
    ig, fg, gg, og = _gate_tiles(acts, (t * B + rb[:, None]) * (4 * D) + jj[None, :], D, m2)
    c = tl.load(cs + t * B * D + st, mask=m2, other=0.)
    cp = _c_before(cs, c0, t, B, D, st, rb, jj)
    dyt = tl.load(dy + t * B * D + st, mask=m2, other=0.).to(tl.float32)
    while t >= 0:
        dh += dyt
        if t < T - 1:
            dgn = tl.load(dg + (((t + 1) * B + rb) * (4 * D))[None, :, None] + kg, mask=mg, other=0.,
                          cache_modifier=".cg")                     # (4, BB, DP)
            dh += tl.sum(tl.dot(dgn, wb), 0)                        # one gate per warp
        tc = _tanh(c)
        dc += dh * og * (1 - tc * tc)
        row = (t * B + rb[:, None]) * (4 * D) + jj[None, :]
        et = dg.dtype.element_ty
        tl.store(dg + row, (dc * gg * ig * (1 - ig)).to(et), mask=m2)
        tl.store(dg + row + D, (dc * cp * fg * (1 - fg)).to(et), mask=m2)
        tl.store(dg + row + 2 * D, (dc * ig * (1 - gg * gg)).to(et), mask=m2)
        tl.store(dg + row + 3 * D, (dh * tc * og * (1 - og)).to(et), mask=m2)
        dc = dc * fg
        mp = _tile_mask(rb, jj, B, D, t > 0)
        ig, fg, gg, og = _gate_tiles(acts, row - B * 4 * D, D, mp)
        c, cp = cp, _c_before(cs, c0, t - 1, B, D, st, rb, jj)
        dyt = tl.load(dy + (t - 1) * B * D + st, mask=mp, other=0.).to(tl.float32)
        dh = tl.zeros((BB, HS), dtype=tl.float32)
        _barrier(counts + grp, NS, T - t)
        t -= 1
    dgn = tl.load(dg + (rb * (4 * D))[None, :, None] + kg, mask=mg, other=0., cache_modifier=".cg")
    tl.store(dh0 + st, tl.sum(tl.dot(dgn, wb), 0), mask=m2)
    tl.store(dc0 + st, dc, mask=m2)


#: Hidden units per program and batch rows per group (tl.dot needs >= 16 of each).
HS, BB = 16, 16
#: Warps per kernel.
NUM_WARPS = {"fwd": 8, "bwd": 8}
#: Widest hidden size the kernels take: beyond 512 the backward kernel's shared memory (its W_hh
#: slice and one step's gate gradients) outgrows Hopper's 227 KiB (256 KiB at D = 1024).
MAX_WIDTH = 512
#: Shared memory a block needs at MAX_WIDTH (the backward kernel, sm_90: 128 KiB).
SHARED_NEEDED = 128 * 1024


def _width(D):
    """The padded hidden width: a power of 2, at least 64 (four K quarters of >= 16)."""
    return max(64, triton.next_power_of_2(D))


def _grid(B, D, hs, bb):
    return triton.cdiv(D, hs), triton.cdiv(B, bb)


def lstm_triton_ok(x: torch.Tensor, hidden: int, dtype: torch.dtype) -> bool:
    """True where the kernels take input ``x`` (B, T, D_in), run in ``dtype``, of a layer with
    ``hidden`` units: CUDA, bf16 or fp16, hidden <= MAX_WIDTH, a GPU with SHARED_NEEDED of shared
    memory per block, and a grid small enough for all programs to be resident at once (at D = 512,
    B <= 64 on a 132-SM GPU)."""
    if not (x.is_cuda and dtype in (torch.bfloat16, torch.float16) and hidden <= MAX_WIDTH):
        return False
    if _shared_mem_per_block(x.device.index or 0) < SHARED_NEEDED:
        return False
    ns, ng = _grid(x.shape[0], hidden, HS, BB)
    return ns * ng <= _sm_count(x.device.index or 0)


_SMS: dict[int, int] = {}


@torch.compiler.assume_constant_result      # run once while tracing, not a graph break
def _sm_count(device_index: int) -> int:
    if device_index not in _SMS:
        _SMS[device_index] = torch.cuda.get_device_properties(device_index).multi_processor_count
    return _SMS[device_index]


class _LSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, hs, bb):
        B, T, _ = x.shape
        D = w_hh.shape[1]
        dt = x.dtype
        w_ih, w_hh = w_ih.to(dt), w_hh.to(dt).contiguous()
        xt = x.transpose(0, 1).reshape(T * B, -1)                   # time-major rows
        gx = torch.addmm((b_ih + b_hh).to(dt), xt, w_ih.t())         # (T * B, 4 D)
        y = torch.empty(B, T, D, device=x.device, dtype=dt)
        acts = torch.empty(T, B, 4 * D, device=x.device, dtype=torch.float32)
        cs = torch.empty(T, B, D, device=x.device, dtype=torch.float32)
        cT = torch.empty(B, D, device=x.device, dtype=torch.float32)
        ns, ng = _grid(B, D, hs, bb)
        counts = torch.zeros(ng, device=x.device, dtype=torch.int32)   # one barrier counter a group
        h0, c0 = h0.to(dt).contiguous(), c0.float().contiguous()
        _lstm_fwd[(ns, ng)](gx, w_hh, h0, c0, y, acts, cs, cT, counts, T, B, D, ns, BB=bb, HS=hs,
                            DP=_width(D), num_warps=NUM_WARPS["fwd"])
        ctx.save_for_backward(xt, h0, c0, w_ih, w_hh, y, acts, cs)
        ctx.grid = hs, bb
        return y, y[:, -1].contiguous(), cT                         # cuDNN takes only contiguous states

    @staticmethod
    def backward(ctx, dy, dhT, dcT):
        xt, h0, c0, w_ih, w_hh, y, acts, cs = ctx.saved_tensors
        hs, bb = ctx.grid
        B, T, D = y.shape
        dy = torch.zeros(T, B, D, device=y.device, dtype=y.dtype) if dy is None else dy.transpose(0, 1).contiguous()
        dhT = torch.zeros(B, D, device=y.device) if dhT is None else dhT.float().contiguous()
        dcT = torch.zeros(B, D, device=y.device) if dcT is None else dcT.float().contiguous()
        dg = torch.empty(T, B, 4 * D, device=y.device, dtype=y.dtype)
        dh0, dc0 = (torch.empty(B, D, device=y.device, dtype=torch.float32) for _ in range(2))
        ns, ng = _grid(B, D, hs, bb)
        counts = torch.zeros(ng, device=y.device, dtype=torch.int32)
        _lstm_bwd[(ns, ng)](dy, w_hh, acts, cs, c0, dhT, dcT, dg, dh0, dc0, counts, T, B, D, ns,
                            BB=bb, HS=hs, DP=_width(D), num_warps=NUM_WARPS["bwd"])
        dg2 = dg.view(T * B, 4 * D)
        hprev = torch.cat([h0[None], y.transpose(0, 1)[:-1]]).reshape(T * B, D)   # time-major
        dx = (dg2 @ w_ih).view(T, B, -1).transpose(0, 1)
        dw_ih, dw_hh = dg2.t() @ xt, dg2.t() @ hprev
        db = dg2.sum(0, dtype=torch.float32)
        return dx, dh0, dc0, dw_ih, dw_hh, db, db, None, None


def lstm_triton(x, w_ih, w_hh, b_ih, b_hh, h0=None, c0=None, hs=None, bb=None):
    """One LSTM layer over x (B, T, D_in) with ``torch.nn.LSTM``'s weights (gate order i, f, g, o);
    h0, c0 (B, D) or None (zeros). Returns (y (B, T, D) in x's dtype, (h_T, c_T)); c_T is fp32.
    ``hs`` / ``bb`` override the hidden units per program and batch rows per group (tests)."""
    B, D = x.shape[0], w_hh.shape[1]
    h0 = x.new_zeros(B, D) if h0 is None else h0
    c0 = x.new_zeros(B, D, dtype=torch.float32) if c0 is None else c0
    y, hT, cT = _LSTM.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, hs or HS, bb or BB)
    return y, (hT, cT)
