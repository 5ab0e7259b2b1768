"""Chunked simple GLA (scalar decay per head) as babybench's own Triton kernels.

The op of ``gla.simple_gla`` (Mamba-2's SSD, xLSTM's mLSTM in GLA form), training path only:
no initial state and no final state.

    o_t = scale * sum_{j <= t} exp(G_t - G_j) (q_t . k_j) v_j,     G = cumsum of g over time

Per chunk of BT steps, with b the in-chunk cumsum of g (so every exp below is of a number <= 0):

    forward   h_n  = state entering chunk n              (_states_fwd: one loop over chunks)
              o    = scale [(q e^b) h_n + ((q k^T) * e^(b_i - b_j), j <= i) v]      (_out_fwd)
    backward  dh_n = d loss / d(state after chunk n)     (_states_bwd: the loop, reversed)
              dq, dk, dv, and dG_t = sum_k (q dq - k dk)_t                           (_grads)
              dg = reverse cumsum of dG over the whole sequence (G_t sums g_s, s <= t)

The loops carry the state in fp32; matmul operands take the inputs' dtype and accumulate in
fp32. The chunk states the other kernels read (h_n and dh_n, (B * H, N, K, V)) are stored in
:data:`STATE_DTYPE`. Layout (B, T, H, D), contiguous; g (B, T, H) fp32 log decay <= 0.

Checks: the kernels match ``simple_gla_recurrent`` (outputs and all gradients, ~1e-6 in
fp32) under Triton's CPU interpreter (``TRITON_INTERPRET=1``) and the chunked form in bf16
on a GPU (tests/models/test_kernels_gla_triton.py). The chunk loops run to a run-time
bound, so one compiled kernel serves every sequence length. ``backend: auto`` picks them on
CUDA (see ``gla.resolve_backend``); benchmarks/gla_triton_sweep.py times launch settings.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from babybench.errors import BabybenchError
from babybench.models.kernels.gla import triton_chunk_ok


@triton.jit
def _row_tile(ib, ih, t, cols, T, H, D):
    """Offsets and mask of x[ib, t, ih, cols] in a (B, T, H, D) tensor: a (len(t), len(cols)) tile."""
    return ((ib * T + t[:, None]) * H + ih) * D + cols[None, :], (t[:, None] < T) & (cols[None, :] < D)


@triton.jit
def _rows(ptr, ib, ih, t, cols, T, H, D):
    """Load the :func:`_row_tile` tile of ``ptr``, zeros outside the tensor."""
    offs, mask = _row_tile(ib, ih, t, cols, T, H, D)
    return tl.load(ptr + offs, mask=mask, other=0.)


@triton.jit
def _state_tile(bh, n, rk, rv, NT, K, V):
    """Offsets and mask of chunk n's (K, V) state tile of sequence bh in a (B * H, NT, K, V) tensor."""
    return ((bh * NT + n) * K + rk[:, None]) * V + rv[None, :], (rk[:, None] < K) & (rv[None, :] < V)


@triton.jit
def _chunk_gates(b, ib, ih, n, t, T, H, BT: tl.constexpr):
    """In-chunk cumulative log decay b (BT,) and the chunk's total, b at its last real step."""
    bn = tl.load(b + (ib * T + t) * H + ih, mask=t < T, other=0.)
    last = tl.minimum(n * BT + BT, T) - 1
    return bn, tl.max(tl.where(t == last, bn, float("-inf")), 0)


@triton.jit
def _states_fwd(k, v, b, hs, T, H, K, V, NT, BT: tl.constexpr, BK: tl.constexpr,
                BV: tl.constexpr):
    iv, bh = tl.program_id(0), tl.program_id(1)             # (V block, batch * head)
    ib, ih = bh // H, bh % H
    rt, rk, rv = tl.arange(0, BT), tl.arange(0, BK), iv * BV + tl.arange(0, BV)
    h = tl.zeros((BK, BV), dtype=tl.float32)                # the state, carried across chunks
    n = 0
    while n < NT:
        t = n * BT + rt
        offs, mask = _state_tile(bh, n, rk, rv, NT, K, V)
        tl.store(hs + offs, h.to(hs.dtype.element_ty), mask=mask)
        kn = _rows(k, ib, ih, t, rk, T, H, K)         # (BT, BK)
        vn = _rows(v, ib, ih, t, rv, T, H, V)         # (BT, BV)
        bn, blast = _chunk_gates(b, ib, ih, n, t, T, H, BT)
        kd = (kn * tl.exp(blast - bn)[:, None]).to(vn.dtype)  # decay from each step to chunk end
        h = h * tl.exp(blast) + tl.dot(tl.trans(kd), vn)
        n += 1


@triton.jit
def _out_fwd(q, k, v, b, hs, o, scale, T, H, K, V, NT, BT: tl.constexpr,
             BK: tl.constexpr, BV: tl.constexpr):
    iv, n, bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    ib, ih = bh // H, bh % H
    rt, rk, rv = tl.arange(0, BT), tl.arange(0, BK), iv * BV + tl.arange(0, BV)
    t = n * BT + rt
    mt = t < T
    qn, kn = _rows(q, ib, ih, t, rk, T, H, K), _rows(k, ib, ih, t, rk, T, H, K)
    vn = _rows(v, ib, ih, t, rv, T, H, V)
    bn, _ = _chunk_gates(b, ib, ih, n, t, T, H, BT)
    offs, mask = _state_tile(bh, n, rk, rv, NT, K, V)
    hn = tl.load(hs + offs, mask=mask, other=0.)
    acc = tl.dot((qn * tl.exp(bn)[:, None]).to(vn.dtype), hn.to(vn.dtype))   # carried state
    # in-chunk part; padded rows (t >= T) are masked too, or exp(0 - b_j) could overflow
    keep = (rt[:, None] >= rt[None, :]) & mt[:, None]
    A = tl.dot(qn, tl.trans(kn)) * tl.exp(tl.where(keep, bn[:, None] - bn[None, :], float("-inf")))
    acc += tl.dot(A.to(vn.dtype), vn)
    offs, mask = _row_tile(ib, ih, t, rv, T, H, V)
    tl.store(o + offs, (acc * scale).to(o.dtype.element_ty), mask=mask)


@triton.jit
def _states_bwd(q, do, b, dhs, scale, T, H, K, V, NT, BT: tl.constexpr, BK: tl.constexpr,
                BV: tl.constexpr):
    iv, bh = tl.program_id(0), tl.program_id(1)
    ib, ih = bh // H, bh % H
    rt, rk, rv = tl.arange(0, BT), tl.arange(0, BK), iv * BV + tl.arange(0, BV)
    dh = tl.zeros((BK, BV), dtype=tl.float32)               # no final-state gradient
    n = NT - 1
    while n >= 0:
        t = n * BT + rt
        offs, mask = _state_tile(bh, n, rk, rv, NT, K, V)
        tl.store(dhs + offs, dh.to(dhs.dtype.element_ty), mask=mask)
        qn = _rows(q, ib, ih, t, rk, T, H, K)
        don = _rows(do, ib, ih, t, rv, T, H, V)
        bn, blast = _chunk_gates(b, ib, ih, n, t, T, H, BT)
        qg = (qn * (tl.exp(bn) * scale)[:, None]).to(don.dtype)
        dh = dh * tl.exp(blast) + tl.dot(tl.trans(qg), don)
        n -= 1


@triton.jit
def _grads(q, k, v, b, do, hs, dhs, dq, dk, dv, dG, scale, T, H, K, V, NT,
           BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, NV: tl.constexpr):
    n, bh = tl.program_id(0), tl.program_id(1)
    ib, ih = bh // H, bh % H
    rt, rk = tl.arange(0, BT), tl.arange(0, BK)
    t = n * BT + rt
    mt = t < T
    qn, kn = _rows(q, ib, ih, t, rk, T, H, K), _rows(k, ib, ih, t, rk, T, H, K)
    bn, blast = _chunk_gates(b, ib, ih, n, t, T, H, BT)
    keep = (rt[:, None] >= rt[None, :]) & mt[:, None]
    D = tl.exp(tl.where(keep, bn[:, None] - bn[None, :], float("-inf"))) * scale   # (BT, BT)
    A = tl.dot(qn, tl.trans(kn)) * D
    kd = kn * tl.exp(blast - bn)[:, None]
    dA = tl.zeros((BT, BT), dtype=tl.float32)               # d o / d A, summed over V blocks
    dq_h = tl.zeros((BT, BK), dtype=tl.float32)             # do h_n^T
    dk_h = tl.zeros((BT, BK), dtype=tl.float32)             # v dh_n^T
    for iv in range(NV):
        rv = iv * BV + tl.arange(0, BV)
        vn, don = _rows(v, ib, ih, t, rv, T, H, V), _rows(do, ib, ih, t, rv, T, H, V)
        offs, mask = _state_tile(bh, n, rk, rv, NT, K, V)
        hn, dhn = tl.load(hs + offs, mask=mask, other=0.), tl.load(dhs + offs, mask=mask, other=0.)
        dA += tl.dot(don, tl.trans(vn))
        dq_h += tl.dot(don, tl.trans(hn.to(don.dtype)))
        dk_h += tl.dot(vn, tl.trans(dhn.to(vn.dtype)))
        dvn = tl.dot(tl.trans(A.to(don.dtype)), don) + tl.dot(kd.to(vn.dtype), dhn.to(vn.dtype))
        offs, mask = _row_tile(ib, ih, t, rv, T, H, V)
        tl.store(dv + offs, dvn.to(dv.dtype.element_ty), mask=mask)
    dS = dA * D                                             # d loss / d(q_i . k_j)
    dqn = dq_h * (tl.exp(bn) * scale)[:, None] + tl.dot(dS.to(kn.dtype), kn)
    dkn = dk_h * tl.exp(blast - bn)[:, None] + tl.dot(tl.trans(dS.to(qn.dtype)), qn)
    offs, mask = _row_tile(ib, ih, t, rk, T, H, K)
    tl.store(dq + offs, dqn.to(dq.dtype.element_ty), mask=mask)
    tl.store(dk + offs, dkn.to(dk.dtype.element_ty), mask=mask)
    tl.store(dG + (ib * T + t) * H + ih, tl.sum(qn.to(tl.float32) * dqn - kn.to(tl.float32) * dkn, 1), mask=mt)


# Launch settings per kernel: ``BV``, the value block width (capped at V's power of 2), and
# Triton's warps and pipelining stages; :data:`LAUNCH_SMALL_K` overrides them for key blocks
# of 64 or less. Kernel times (B = 32, T = 512, bf16, H200, CUDA profiler; ninth session,
# ``python benchmarks/gla_triton_sweep.py``), against the settings before (all BV = 64, four
# warps, the gradient kernel on eight warps and one stage):
# - mLSTM, 8 heads of 128: the state loops 45 / 45 us with BV = 128 (58 / 60 with 64); the
#   gradient kernel 173 us with eight warps and three stages (209 with one stage, 247-253 at
#   BV = 128, 254-312 on four warps); all four 334 us instead of 402.
# - Mamba-2, 16 heads of 64: the gradient kernel 128 us on four warps (207 on eight).
LAUNCH = {
    "_states_fwd": {"BV": 128},
    "_out_fwd": {"BV": 64},
    "_states_bwd": {"BV": 128},
    "_grads": {"BV": 64, "num_warps": 8, "num_stages": 3},
}
LAUNCH_SMALL_K = {"_grads": {"num_warps": 4}}

#: dtype of the stored chunk states h_n and dh_n; None = v's. Every kernel that reads them casts
#: them to v's dtype before its matmul, so None gives the same bits as fp32 (tests: fp16 in the
#: interpreter, bf16 on the GPU) with half their traffic and saved memory in bf16. The 30m xLSTM
#: (H200, B = 32, T = 512, compiled) took 33.1 ms a step and 10.9 GB with None, against
#: 34.5-36.0 ms and 11.8 GB with fp32 (benchmarks/README.md, seventh session).
STATE_DTYPE = None


def _chunk_cumsum(g, BT):
    """In-chunk cumsum of g (B, T, H) in fp32, chunks of BT steps from t = 0."""
    B, T, H = g.shape
    gp = F.pad(g.float(), (0, 0, 0, (-T) % BT))
    return gp.view(B, -1, BT, H).cumsum(2).view(B, -1, H)[:, :T].contiguous()


def _sizes(q, v, BT):
    """(B, T, H, K, V, chunks, key block); the key block is a power of 2 >= 16."""
    B, T, H, K = q.shape
    return B, T, H, K, v.shape[-1], triton.cdiv(T, BT), max(16, triton.next_power_of_2(K))


def _launch(name, V, BK):
    """(value blocks, launch keywords) of kernel ``name`` for key block ``BK``: ``LAUNCH[name]``
    (with ``LAUNCH_SMALL_K``'s where BK <= 64), its ``BV`` capped at V's power of 2 (>= 16)."""
    opts = {**LAUNCH[name], **(LAUNCH_SMALL_K.get(name, {}) if BK <= 64 else {})}
    BV = min(opts.pop("BV", 64), max(16, triton.next_power_of_2(V)))
    return triton.cdiv(V, BV), dict(opts, BV=BV)


class _SimpleGLA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, g, scale, BT):
        q, k, v = (x.contiguous() for x in (q, k, v))
        B, T, H, K, V, NT, BK = _sizes(q, v, BT)
        b = _chunk_cumsum(g, BT)                            # (B, T, H) fp32
        hs = torch.empty(B * H, NT, K, V, device=q.device, dtype=STATE_DTYPE or v.dtype)
        NV, kw = _launch("_states_fwd", V, BK)
        _states_fwd[(NV, B * H)](k, v, b, hs, T, H, K, V, NT, BT=BT, BK=BK, **kw)
        o = torch.empty_like(v)
        NV, kw = _launch("_out_fwd", V, BK)
        _out_fwd[(NV, NT, B * H)](q, k, v, b, hs, o, scale, T, H, K, V, NT, BT=BT, BK=BK, **kw)
        ctx.save_for_backward(q, k, v, b, hs)
        ctx.scale, ctx.BT = scale, BT
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, b, hs = ctx.saved_tensors
        B, T, H, K, V, NT, BK = _sizes(q, v, ctx.BT)
        do = do.contiguous()
        dhs = torch.empty_like(hs)
        NV, kw = _launch("_states_bwd", V, BK)
        _states_bwd[(NV, B * H)](q, do, b, dhs, ctx.scale, T, H, K, V, NT, BT=ctx.BT, BK=BK, **kw)
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        dG = torch.empty(B, T, H, device=q.device, dtype=torch.float32)
        NV, kw = _launch("_grads", V, BK)
        _grads[(NT, B * H)](q, k, v, b, do, hs, dhs, dq, dk, dv, dG, ctx.scale, T, H, K, V, NT,
                            BT=ctx.BT, BK=BK, NV=NV, **kw)
        return dq, dk, dv, dG.flip(1).cumsum(1).flip(1), None, None


def simple_gla_triton(q, k, v, g, scale=None, chunk_size=64):
    """``simple_gla_chunked`` without states, in Triton. q, k (B, T, H, K); v (B, T, H, V);
    g (B, T, H) log decay. ``chunk_size`` must be a power of 2 >= 16. Returns o (B, T, H, V)."""
    if not triton_chunk_ok(chunk_size):
        raise BabybenchError(f"backend 'triton' needs model.chunk_size to be a power of 2 >= 16, "
                             f"not {chunk_size}; set e.g. model.chunk_size=64")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return _SimpleGLA.apply(q, k, v, g, scale, chunk_size)
