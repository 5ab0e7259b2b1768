"""mLSTM cell (xLSTM paper, matrix memory) in recurrent and chunkwise-parallel form.

Per head, with input-gate pre-activation i~ and forget-gate pre-activation f~
(log f = logsigmoid(f~), input gate exp(i~)), the paper's stabilised recurrence is

    m_t = max(log f_t + m_{t-1}, i~_t)                          (max-stabiliser)
    C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i~_t - m_t) k_t^T v_t
    n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i~_t - m_t) k_t
    h_t = (scale q_t) C_t / max(|(scale q_t) . n_t|, exp(-m_t))

State = (C (B, H, K, V), n (B, H, K), m (B, H)), fp32; the zero state is (0, 0, 0).
Unrolled, m_t is the largest log-weight among all contributions to step t, so the
chunked form recomputes that same m_t from in-chunk cumsums and gets identical
results with every ``exp`` taken of a non-positive number.

The stabiliser only rescales numerator and denominator together: with the
unstabilised state C^u_t = sum_j exp(b_t - b_j + i~_j) k_j^T v_j (b = cumsum log f),
h_t = (scale q_t) C^u_t / max(|(scale q_t) . n^u_t|, 1). So :func:`mlstm_gla` runs the
cell as one simple-GLA call (log decay log f, keys k exp(i~ - M), values [v, 1], whose
last column gives the denominator); the per-sequence constant M = max(i~, m0) keeps
every exp <= 1. On CUDA that is fla's Triton kernel (the ``fla`` form).
Layout (B, T, H, D); gates (B, T, H).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from babybench.models.kernels.gla import _to_chunks, acc_dtype, resolve_backend, simple_gla


def mlstm_zero_state(B, H, K, V, device=None, dtype=torch.float32):
    """The empty mLSTM state (C, n, m)."""
    return (torch.zeros(B, H, K, V, device=device, dtype=dtype),
            torch.zeros(B, H, K, device=device, dtype=dtype),
            torch.zeros(B, H, device=device, dtype=dtype))


def mlstm_recurrent(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False):
    """Step-by-step mLSTM. q, k: (B, T, H, K); v: (B, T, H, V); i, f: (B, T, H) gate
    pre-activations. Returns (h (B, T, H, V) in v's dtype, (C, n, m) or None)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    acc = acc_dtype(v)
    scale = K ** -0.5 if scale is None else scale
    C, n, m = initial_state or mlstm_zero_state(B, H, K, V, q.device, acc)
    C, n, m = C.to(acc), n.to(acc), m.to(acc)
    q, k, v, i = (t.to(acc) for t in (q, k, v, i))
    logf = F.logsigmoid(f.to(acc))
    out = []
    for t in range(T):
        m_new = torch.maximum(logf[:, t] + m, i[:, t])           # (B, H)
        fg = (logf[:, t] + m - m_new).exp()
        ig = (i[:, t] - m_new).exp()
        C = fg[..., None, None] * C + ig[..., None, None] * k[:, t, :, :, None] * v[:, t, :, None, :]
        n = fg[..., None] * n + ig[..., None] * k[:, t]
        m = m_new
        qt = q[:, t] * scale                                       # (B, H, K)
        num = torch.einsum("bhk,bhkv->bhv", qt, C)
        den = (qt * n).sum(-1).abs().maximum((-m).exp())           # (B, H)
        out.append(num / den[..., None])
    h = torch.stack(out, dim=1).to(v.dtype)
    return h, ((C, n, m) if output_final_state else None)


def _chunk_states(kc, vc, ic, b, state):
    """Loop over chunks carrying (C, n, m); returns the per-chunk start states stacked
    on dim 2 and the final state. kc (B, H, N, L, K), vc (B, H, N, L, V), ic and b (B, H, N, L)."""
    blast = b[..., -1]                                             # (B, H, N) whole chunk log decay
    w = blast[..., None] - b + ic                                  # (B, H, N, L) log weight to chunk end
    wmax = w.max(-1).values                                        # (B, H, N)
    C, n, m = state
    Cs, ns, ms = [], [], []
    for c in range(kc.shape[2]):
        Cs.append(C), ns.append(n), ms.append(m)
        m_new = torch.maximum(blast[:, :, c] + m, wmax[:, :, c])   # (B, H)
        old = (blast[:, :, c] + m - m_new).exp()
        new = (w[:, :, c] - m_new[..., None]).exp()                # (B, H, L)
        kw = kc[:, :, c] * new[..., None]                          # (B, H, L, K)
        C = old[..., None, None] * C + kw.transpose(-1, -2) @ vc[:, :, c]
        n = old[..., None] * n + kw.sum(-2)
        m = m_new
    return torch.stack(Cs, 2), torch.stack(ns, 2), torch.stack(ms, 2), (C, n, m)


def mlstm_chunked(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False,
                  chunk_size=64):
    """Chunkwise-parallel ``mlstm_recurrent`` (same arguments and results)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    acc = acc_dtype(v)
    scale = K ** -0.5 if scale is None else scale
    L = min(chunk_size, T)
    qc, kc, vc = _to_chunks(q, L) * scale, _to_chunks(k, L), _to_chunks(v, L)  # (B, H, N, L, D)
    ic = _to_chunks(i, L)                                          # (B, H, N, L)
    b = F.logsigmoid(_to_chunks(f, L)).cumsum(-1)                  # log decay since chunk start
    pad = (-T) % L
    if pad:  # padded steps must not add to the state: input gate -> -inf, decay -> 1
        valid = torch.arange(ic.shape[2] * L, device=q.device).reshape(-1, L) < T
        ic = ic.masked_fill(~valid, float("-inf"))
        b = F.logsigmoid(_to_chunks(f, L).masked_fill(~valid, float("inf"))).cumsum(-1)
    state = initial_state or mlstm_zero_state(B, H, K, V, q.device, acc)
    state = tuple(s.to(acc) for s in state)
    C0, n0, m0, final = _chunk_states(kc, vc, ic, b, state)
    # log weights: D_ij = b_i - b_j + i~_j (j <= i) inside the chunk; b_i + m0 for the carried state
    mask = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    D = (b[..., :, None] - b[..., None, :] + ic[..., None, :]).masked_fill(~mask, float("-inf"))
    inter = b + m0[..., None]                                      # (B, H, N, L)
    m = torch.maximum(D.max(-1).values, inter)                     # (B, H, N, L) = recurrent m_t
    Sw = (qc @ kc.transpose(-1, -2)) * (D - m[..., None]).exp()    # (B, H, N, L, L)
    g = (inter - m).exp()[..., None]                               # (B, H, N, L, 1)
    num = Sw @ vc + g * (qc @ C0)                                  # (B, H, N, L, V)
    den = Sw.sum(-1) + g[..., 0] * (qc * n0[..., None, :]).sum(-1)  # (B, H, N, L)
    h = num / den.abs().maximum((-m).exp())[..., None]
    h = h.reshape(B, H, -1, V)[:, :, :T].transpose(1, 2).to(v.dtype)
    return h, (final if output_final_state else None)


def _pad_last(x, size):
    """Zero-pad the last dim of ``x`` up to ``size``."""
    return F.pad(x, (0, size - x.shape[-1])) if size > x.shape[-1] else x


def mlstm_gla(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False,
              backend="torch", chunk_size=64, align=None):
    """``mlstm_recurrent`` as one ``simple_gla`` call (see the module docstring); same
    arguments and results. ``backend`` is passed to ``simple_gla`` (``fla`` or ``triton`` on CUDA).
    The final state is exact while the input gates of one sequence span < ~80 in log
    space (beyond that exp(m_T - M) underflows in fp32); training needs no state.

    ``align``: the key width and the value width + 1 (the denominator column) are
    zero-padded up to a multiple of it, which changes no result (padded key columns
    add 0 to every q.k, padded value columns stay 0). Default 16 on CUDA, where the
    30m block's 124-wide heads would otherwise give odd (125-wide) state rows, and 1
    (no padding) elsewhere."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    acc = acc_dtype(v)
    scale = K ** -0.5 if scale is None else scale
    align = (16 if q.is_cuda else 1) if align is None else align
    Kp, Vp = -(-K // align) * align, -(-(V + 1) // align) * align
    i, logf = i.to(acc), F.logsigmoid(f.to(acc))
    C0, n0, m0 = (s.to(acc) for s in (initial_state or mlstm_zero_state(B, H, K, V, q.device, acc)))
    M = torch.maximum(i.amax(1), m0).detach()                      # (B, H): cancels in h
    kk = (k.to(acc) * (i - M[:, None]).exp()[..., None]).to(k.dtype)
    va = _pad_last(torch.cat([v, v.new_ones(B, T, H, 1)], dim=-1), Vp)  # (B, T, H, Vp): [v, 1, 0...]
    S0 = None
    if initial_state is not None:                                  # C^u_0 = C0 exp(m0), scaled by exp(-M)
        S0 = torch.cat([C0, n0[..., None]], dim=-1) * (m0 - M).exp()[..., None, None]
        S0 = F.pad(S0, (0, Vp - V - 1, 0, Kp - K))               # (B, H, Kp, Vp)
    o, S = simple_gla(_pad_last(q, Kp), _pad_last(kk, Kp), va, logf, scale=scale, initial_state=S0,
                      output_final_state=output_final_state, backend=backend, chunk_size=chunk_size)
    o = o.to(acc)
    h = (o[..., :V] / o[..., V:V + 1].abs().maximum((-M).exp()[:, None, :, None])).to(v.dtype)
    if not output_final_state:
        return h, None
    # m_T = max(b_T + m0, max_j (b_T - b_j + i~_j)); b_T - b_j = sum of log f after step j
    after = logf.flip(1).cumsum(1).flip(1) - logf
    mT = torch.maximum(logf.sum(1) + m0, (after + i).amax(1))      # (B, H)
    r = (M - mT).exp()
    return h, (S[..., :K, :V] * r[..., None, None], S[..., :K, V] * r[..., None], mT)


#: ``mlstm_gla`` is exact while every exp(i~ - M) and exp(m_T - M) stays far from fp32
#: underflow (exp(-87)); soft-capped gates keep both above exp(-2 * cap).
GLA_MAX_SPAN = 60.0


def mlstm(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False,
          backend="auto", chunk_size=64, gate_softcap=0.0):
    """Dispatch: the recurrent step for T == 1 (decoding); ``mlstm_gla`` on fla's or
    babybench's Triton kernel where ``backend`` resolves to one (CUDA; under ``auto`` only
    for capped gates, below), else a chunked PyTorch form.

    ``gate_softcap``: the cap the gate pre-activations went through (0 = none). Capped
    gates keep i~ and every m_t inside (-cap, cap), so when 2 * cap <= GLA_MAX_SPAN the
    PyTorch path runs ``mlstm_gla`` (same results; ~2x faster forward + backward than
    ``mlstm_chunked`` on an H200, compiled); uncapped gates take ``mlstm_chunked``."""
    form = resolve_backend(backend, q)
    if form == "recurrent":
        return mlstm_recurrent(q, k, v, i, f, scale, initial_state, output_final_state)
    capped = 0 < gate_softcap and 2 * gate_softcap <= GLA_MAX_SPAN
    if form == "fla" or (form == "triton" and (capped or backend == "triton")):   # asked for, or safe
        return mlstm_gla(q, k, v, i, f, scale, initial_state, output_final_state, form, chunk_size)
    if capped:
        return mlstm_gla(q, k, v, i, f, scale, initial_state, output_final_state, "torch", chunk_size)
    return mlstm_chunked(q, k, v, i, f, scale, initial_state, output_final_state, chunk_size)
