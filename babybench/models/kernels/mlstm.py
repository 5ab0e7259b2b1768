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
Layout (B, T, H, D); gates (B, T, H). There is no fla path for this op.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from babybench.models.kernels.gla import BACKENDS, _to_chunks, acc_dtype
from babybench.errors import BabybenchError


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


def mlstm(q, k, v, i, f, scale=None, initial_state=None, output_final_state=False,
          backend="auto", chunk_size=64):
    """Dispatch: the recurrent step for T == 1 (decoding), else the chunked form.
    ``backend`` is validated but every value runs the PyTorch code (no fla path)."""
    if backend not in BACKENDS:
        raise BabybenchError(f"unknown kernel backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if q.shape[1] == 1:
        return mlstm_recurrent(q, k, v, i, f, scale, initial_state, output_final_state)
    return mlstm_chunked(q, k, v, i, f, scale, initial_state, output_final_state, chunk_size)
