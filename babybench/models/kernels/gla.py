"""Gated linear attention (GLA) kernels in PyTorch, plus a guarded fla path.

Two ops share one recurrence over a matrix state S (B, H, K, V):

    S_t = decay_t * S_{t-1} + k_t^T v_t        o_t = scale * q_t S_t

- ``gla_*``        : vector decay, ``decay_t = exp(gk_t)`` with gk (B, T, H, K) <= 0.
                     This is HGRN2 (k = 1 - f, gk = log f).
- ``simple_gla_*`` : scalar decay per head, ``decay_t = exp(g_t)`` with g (B, T, H).
                     This is Mamba-2's SSD (q = C, k = B, v = x * dt, g = a * dt).

Every op comes in three forms with the same signature and results:
``*_recurrent`` (naive step-by-step loop, fp32 state; the reference),
``*_chunked`` (chunkwise parallel, matmuls inside a chunk and a short loop over
chunks that carries the state; the fast CPU path and the GPU fallback) and, on
CUDA, fla's Triton kernels (``fla.ops.gla.chunk_gla``,
``fla.ops.simple_gla.chunk_simple_gla``), imported lazily. ``gla`` and
``simple_gla`` dispatch between them. Layout is fla's default (B, T, H, D).

Stability: all decays are log-space cumsums *inside a chunk* (relative to the
chunk start) in fp32, and every ``exp`` is taken of a non-positive number
(the vector-gate intra-chunk term uses sub-chunks to keep that true).
"""
from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F

from babybench.errors import BabybenchError

BACKENDS = ("auto", "torch", "fla", "triton")


def acc_dtype(x: torch.Tensor) -> torch.dtype:
    """Accumulation dtype: fp64 for fp64 inputs (tests), fp32 otherwise (bf16/fp16/fp32)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


# ----------------------------------------------------------------------------
# fla (lazy, optional)

_FLA = None


def fla_available() -> bool:
    """True when ``fla`` imports (it needs triton and a CUDA build of torch)."""
    global _FLA
    if _FLA is None:
        try:
            from fla.ops.gla import chunk_gla  # noqa: F401
            from fla.ops.simple_gla import chunk_simple_gla  # noqa: F401
            _FLA = True
        except Exception:  # ImportError, or triton failing to initialise
            _FLA = False
    return _FLA


def fla_simple_gla_backward_ok(x: torch.Tensor) -> bool:
    """False where fla's ``chunk_simple_gla`` backward refuses to run.

    fla 0.6 raises in its gated ``chunk_bwd_dqkwg`` kernel (the simple-GLA backward)
    on Hopper (sm_90) with Triton >= 3.4 and < 3.7.1, where Triton miscompiles it
    (fla issue #640). ``chunk_gla``'s backward uses other kernels and is unaffected.
    """
    try:
        import triton
    except ImportError:
        return False
    version = tuple(int(p) for p in re.findall(r"\d+", triton.__version__)[:3])
    hopper = torch.cuda.get_device_capability(x.device)[0] == 9
    return not (hopper and (3, 4, 0) <= version < (3, 7, 1))


def triton_available() -> bool:
    """True when ``triton`` imports (it comes with CUDA builds of torch)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


#: ``auto`` runs the Triton kernel only on GPUs with at least this much shared memory per block
#: (H100 / H200: 227 KiB, as Triton reads it on the H200, the GPU it was measured on). Smaller ones (A100: 163 KiB,
#: consumer cards: ~100 KiB) have not been checked to fit it, so they run chunked unless
#: ``backend: triton`` asks for the kernel.
TRITON_AUTO_MIN_SHARED = 227 * 1024


_SHARED_MEM: dict[int, int] = {}


@torch.compiler.assume_constant_result      # run once while tracing, not a graph break
def _shared_mem_per_block(device_index: int) -> int:
    """Triton's own figure (the opt-in maximum it compiles against); 0 if it cannot be read."""
    if device_index not in _SHARED_MEM:
        try:
            from triton.runtime import driver
            props = driver.active.utils.get_device_properties(device_index)
            _SHARED_MEM[device_index] = int(props["max_shared_mem"])
        except Exception:  # noqa: BLE001 - an unreadable device means "do not pick the kernel"
            _SHARED_MEM[device_index] = 0
    return _SHARED_MEM[device_index]


def triton_auto_ok(x: torch.Tensor) -> bool:
    """True where ``auto`` picks the Triton kernel for ``x``: CUDA, triton, a large shared memory."""
    return (x.is_cuda and triton_available()
            and _shared_mem_per_block(x.device.index or 0) >= TRITON_AUTO_MIN_SHARED)


def triton_chunk_ok(chunk_size: int) -> bool:
    """True when the Triton kernel takes this chunk length: a power of 2, at least 16."""
    return chunk_size >= 16 and not chunk_size & (chunk_size - 1)


def resolve_backend(backend: str, x: torch.Tensor) -> str:
    """Map ``auto|torch|fla|triton`` to the form to run for input ``x``: ``recurrent`` for
    T == 1 (decoding); ``fla`` or ``triton`` on CUDA where asked for (each needs its package);
    else ``chunked``. ``$BABYBENCH_KERNEL_BACKEND`` replaces ``auto`` process-wide.

    ``auto`` means babybench's own Triton kernel (:mod:`.gla_triton`) on CUDA when triton
    imports and the GPU has Hopper-class shared memory (:data:`TRITON_AUTO_MIN_SHARED`), else
    the chunked PyTorch form. The kernel covers the stateless scalar-decay scan (Mamba-2's
    SSD, the mLSTM cell in GLA form); on an H200 at the 30m shapes its fwd + bwd took 0.89 ms
    against 4.92 ms chunked (Mamba-2) and 2.53 against 7.57 ms (mLSTM; benchmarks/README.md).
    Every call it does not cover (a state in or out, vector decays) runs chunked. fla is never
    chosen by ``auto``: its HGRN2 kernel trained slower than the chunked form on an H100,
    its gated backward is wrong on Hopper with Triton 3.6, and its autotuning costs minutes
    per new shape on a fresh machine."""
    if backend == "auto":
        backend = os.environ.get("BABYBENCH_KERNEL_BACKEND", "auto")
    if backend not in BACKENDS:
        raise BabybenchError(f"unknown kernel backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if x.shape[1] == 1:
        return "recurrent"
    if backend == "fla":
        if not (x.is_cuda and fla_available()):
            raise BabybenchError("backend 'fla' needs CUDA and the flash-linear-attention package "
                                 "(pip install flash-linear-attention); or set backend=auto")
        return "fla"
    if backend == "triton":
        if not (x.is_cuda and triton_available()):
            raise BabybenchError("backend 'triton' needs CUDA and the triton package (it comes with "
                                 "CUDA builds of torch); or set backend=auto")
        return "triton"
    return "triton" if backend == "auto" and triton_auto_ok(x) else "chunked"


# ----------------------------------------------------------------------------
# naive references

def gla_recurrent(q, k, v, gk, scale=None, initial_state=None, output_final_state=False):
    """Step-by-step GLA. q, k, gk: (B, T, H, K); v: (B, T, H, V); gk = log decay <= 0.
    initial_state: (B, H, K, V) or None. Returns (o (B, T, H, V) in v's dtype,
    final state (B, H, K, V) fp32 or None)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    scale = K ** -0.5 if scale is None else scale
    acc = acc_dtype(v)
    S = q.new_zeros(B, H, K, V, dtype=acc) if initial_state is None else initial_state.to(acc)
    q, k, v, gk = (t.to(acc) for t in (q, k, v, gk))
    out = []
    for t in range(T):
        kv = k[:, t, :, :, None] * v[:, t, :, None, :]          # (B, H, K, V)
        S = gk[:, t].exp()[..., None] * S + kv
        out.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, S))
    o = torch.stack(out, dim=1).to(v.dtype)                     # (B, T, H, V)
    return o, (S if output_final_state else None)


def simple_gla_recurrent(q, k, v, g, scale=None, initial_state=None, output_final_state=False):
    """Step-by-step GLA with a scalar decay per head: g (B, T, H) log decay <= 0.
    Otherwise as ``gla_recurrent``."""
    gk = g[..., None].expand(*q.shape)
    return gla_recurrent(q, k, v, gk, scale, initial_state, output_final_state)


# ----------------------------------------------------------------------------
# chunked forms

def _to_chunks(x: torch.Tensor, C: int) -> torch.Tensor:
    """(B, T, H, *D) -> (B, H, N, C, *D) fp32, zero-padded at the end to N * C steps.
    Zero padding is harmless: a padded step has k = v = 0 and log decay 0."""
    B, T, H = x.shape[:3]
    x = x.to(acc_dtype(x)).transpose(1, 2)                               # (B, H, T, *D)
    pad = (-T) % C
    if pad:
        x = F.pad(x, (0, 0) * (x.dim() - 3) + (0, pad))
    return x.reshape(B, H, (T + pad) // C, C, *x.shape[3:])


def _carry_state(qg, kd, v, last, S0):
    """Inter-chunk part shared by both ops.
    qg: (B, H, N, C, K) = scale * q * exp(b)          (decay from chunk start, <= 1)
    kd: (B, H, N, C, K) = k * exp(b_last - b)         (decay to chunk end, <= 1)
    v: (B, H, N, C, V); last: (B, H, N, K or 1) = exp(b_last), the whole chunk's decay.
    Returns (o_inter (B, H, N, C, V), final state (B, H, K, V))."""
    U = kd.transpose(-1, -2) @ v                                  # (B, H, N, K, V) chunk's own state
    S, starts = S0, []
    for n in range(U.shape[2]):                                   # loop over chunks, not steps
        starts.append(S)
        S = last[:, :, n, :, None] * S + U[:, :, n]
    o = qg @ torch.stack(starts, dim=2)                           # (B, H, N, C, V)
    return o, S


def _init_state(initial_state, B, H, K, V, v):
    acc = acc_dtype(v)
    if initial_state is None:
        return v.new_zeros(B, H, K, V, dtype=acc)
    return initial_state.to(acc)


def _finish(o, T, dtype):
    B, H, N, C, V = o.shape
    return o.reshape(B, H, N * C, V)[:, :, :T].transpose(1, 2).to(dtype)  # (B, T, H, V)


def simple_gla_chunked(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
                       chunk_size=64):
    """Chunkwise-parallel ``simple_gla_recurrent`` (same arguments and results)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    scale = K ** -0.5 if scale is None else scale
    C = min(chunk_size, T)
    qc, kc, vc = _to_chunks(q, C) * scale, _to_chunks(k, C), _to_chunks(v, C)  # (B, H, N, C, D)
    b = _to_chunks(g, C).cumsum(-1)                               # (B, H, N, C) log decay since chunk start
    # intra-chunk: A_ij = q_i.k_j * exp(b_i - b_j) for j <= i (masked before exp: no overflow)
    mask = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
    diff = (b[..., :, None] - b[..., None, :]).masked_fill(~mask, float("-inf"))
    A = (qc @ kc.transpose(-1, -2)) * diff.exp()                  # (B, H, N, C, C)
    o_intra = A @ vc
    # inter-chunk: carry S across chunks
    blast = b[..., -1:]                                           # (B, H, N, 1)
    qg = qc * b.exp()[..., None]
    kd = kc * (blast - b).exp()[..., None]
    S0 = _init_state(initial_state, B, H, K, V, v)
    o_inter, S = _carry_state(qg, kd, vc, blast.exp(), S0)
    return _finish(o_intra + o_inter, T, v.dtype), (S if output_final_state else None)


def _intra_vector(qc, kc, b, sub):
    """A_ij = sum_k q_ik k_jk exp(b_ik - b_jk) for j <= i, per chunk, with vector decays.
    qc, kc, b: (B, H, N, C, K). Splitting the chunk into sub-chunks of ``sub`` steps keeps
    every exponent <= 0: diagonal sub-blocks use exact pairwise decays, off-diagonal
    sub-blocks route through the key sub-chunk's end e_s (b_i <= e_s <= b_j)."""
    *lead, C, K = qc.shape
    M = C // sub
    qs, ks, bs = (t.reshape(*lead, M, sub, K) for t in (qc, kc, b))  # (..., M, c, K)
    # diagonal sub-blocks: pairwise (..., M, c, c, K)
    tri = torch.ones(sub, sub, dtype=torch.bool, device=qc.device).tril()
    d = (bs[..., :, None, :] - bs[..., None, :, :]).masked_fill(~tri[..., None], float("-inf"))
    Ad = ((qs[..., :, None, :] * d.exp()) * ks[..., None, :, :]).sum(-1)  # (..., M, c, c)
    eye = torch.eye(M, dtype=qc.dtype, device=qc.device)
    A = (Ad[..., :, :, None, :] * eye[:, None, :, None]).reshape(*lead, C, C)
    if M > 1:
        e = bs[..., -1, :]                                        # (..., M, K) end of each sub-chunk
        kt = ks * (e[..., None, :] - bs).exp()                     # (..., M, c, K)
        later = (torch.arange(C, device=qc.device)[None, :] // sub
                 > torch.arange(M, device=qc.device)[:, None])     # (M, C) query after sub-chunk s
        x = (b[..., None, :, :] - e[..., :, None, :]).masked_fill(~later[..., None], float("-inf"))
        qt = qc[..., None, :, :] * x.exp()                         # (..., M, C, K)
        A = A + (qt @ kt.transpose(-1, -2)).transpose(-3, -2).reshape(*lead, C, C)
    return A


def gla_chunked(q, k, v, gk, scale=None, initial_state=None, output_final_state=False,
                chunk_size=32, sub_chunk=8):
    """Chunkwise-parallel ``gla_recurrent`` (same arguments and results).
    Work grows like (chunk_size / sub_chunk + sub_chunk) * T * K, so the default chunk
    is 32 with sub-chunks of 8 (about 4x faster than 64/16 on CPU)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    scale = K ** -0.5 if scale is None else scale
    # a short sequence is padded up to whole sub-chunks: a sub-chunk as long as the chunk
    # would cost (C^2 K) memory per chunk (e.g. 8x more for BLiMP's T = 31 than T = 32)
    sub = sub_chunk if chunk_size % sub_chunk == 0 else chunk_size
    C = min(chunk_size, -(-T // sub) * sub)
    qc, kc, vc = _to_chunks(q, C) * scale, _to_chunks(k, C), _to_chunks(v, C)  # (B, H, N, C, D)
    b = _to_chunks(gk, C).cumsum(-2)                              # (B, H, N, C, K)
    o_intra = _intra_vector(qc, kc, b, sub) @ vc
    blast = b[..., -1:, :]                                        # (B, H, N, 1, K)
    qg = qc * b.exp()
    kd = kc * (blast - b).exp()
    S0 = _init_state(initial_state, B, H, K, V, v)
    o_inter, S = _carry_state(qg, kd, vc, blast.squeeze(-2).exp(), S0)
    return _finish(o_intra + o_inter, T, v.dtype), (S if output_final_state else None)


# ----------------------------------------------------------------------------
# dispatch

def gla(q, k, v, gk, scale=None, initial_state=None, output_final_state=False,
        backend="auto", chunk_size=32, sub_chunk=8):
    """GLA with vector decays (HGRN2). q, k, gk: (B, T, H, K); v: (B, T, H, V);
    initial_state (B, H, K, V) fp32 or None. Returns (o (B, T, H, V), state or None).
    ``chunk_size`` and ``sub_chunk`` apply to the chunked PyTorch form."""
    form = resolve_backend(backend, q)
    if form == "fla":
        from fla.ops.gla import chunk_gla
        dt = v.dtype
        o, S = chunk_gla(q=q.to(dt), k=k.to(dt), v=v, g=gk.float(), scale=scale,
                         initial_state=None if initial_state is None else initial_state.float(),
                         output_final_state=output_final_state)
        return o, (S.float() if S is not None else None)
    if form == "recurrent":
        return gla_recurrent(q, k, v, gk, scale, initial_state, output_final_state)
    return gla_chunked(q, k, v, gk, scale, initial_state, output_final_state, chunk_size, sub_chunk)


def simple_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
               backend="auto", chunk_size=64):
    """GLA with a scalar decay per head (Mamba-2 SSD). g: (B, T, H); otherwise as ``gla``."""
    form = resolve_backend(backend, q)
    if form == "fla":
        return _fla_simple_gla(q, k, v, g, scale, initial_state, output_final_state)
    # the kernel keeps no state, and takes chunks of a power of 2 (a bad size errors only when
    # the kernel was asked for by name)
    if form == "triton" and initial_state is None and not output_final_state and (
            backend == "triton" or triton_chunk_ok(chunk_size)):
        from babybench.models.kernels.gla_triton import simple_gla_triton
        dt = v.dtype
        return simple_gla_triton(q.to(dt), k.to(dt), v, g.float(), scale, chunk_size), None
    if form == "recurrent":
        return simple_gla_recurrent(q, k, v, g, scale, initial_state, output_final_state)
    return simple_gla_chunked(q, k, v, g, scale, initial_state, output_final_state, chunk_size)


def _fla_simple_gla(q, k, v, g, scale, initial_state, output_final_state):
    """fla's ``chunk_simple_gla``; where its backward is refused (see
    :func:`fla_simple_gla_backward_ok`) and a gradient is needed, fla's ``chunk_gla``
    with the scalar decay broadcast over the key dimension (the same maths)."""
    dt = v.dtype
    h0 = None if initial_state is None else initial_state.float()
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, g))
    if grad and not fla_simple_gla_backward_ok(q):
        from fla.ops.gla import chunk_gla
        gk = g.float()[..., None].expand(*k.shape).contiguous()
        o, S = chunk_gla(q=q.to(dt), k=k.to(dt), v=v, g=gk, scale=scale, initial_state=h0,
                         output_final_state=output_final_state)
    else:
        from fla.ops.simple_gla import chunk_simple_gla
        o, S = chunk_simple_gla(q=q.to(dt), k=k.to(dt), v=v, g=g.float(), scale=scale,
                                initial_state=h0, output_final_state=output_final_state)
    return o, (S.float() if S is not None else None)
