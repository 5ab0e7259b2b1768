"""``x`` (mLSTM block) and ``s`` (sLSTM) mixers of the xLSTM paper, nano style.

mLSTM block (``x``, pre-up-projection; it carries its own up/down projection, so
``has_mlp = True`` and the skeleton skips the block's MLP):

    xm, z   = up_proj(u)                         each (B, T, di), di = proj_factor * d
    xc      = silu(causal_conv1d(xm))            width 4
    q, k    = blockdiag(xc),  v = blockdiag(xm)  headwise block-diagonal projections
    i~, f~  = gates([q, k, v])                   (B, T, H) pre-activations
    h       = mLSTM cell(q, k, v, i~, f~)        ``kernels.mlstm`` (GLA form when capped)
    out     = down_proj((groupnorm(h) + skip * xc) * silu(z))

On CUDA with babybench's Triton kernels (``backend: auto`` on an H100-class GPU, or ``triton``),
the block-diagonal maps run as :mod:`.kernels.blockdiag_triton` and the conv with its SiLU as
:mod:`.kernels.conv_triton`.

sLSTM (``s``): scalar memory with exponential gating, the max-stabiliser and
block-diagonal (per head) recurrent weights; a plain Python loop over time (keep
the number of ``s`` layers low). Output = out_proj(groupnorm(h)); the block's
SwiGLU plays the paper's post-up-projection.

Decoding states: ``x`` -> (conv_state (B, 3, di), (C, n, m)); ``s`` -> (h, c, n, m),
each (B, d) fp32.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from babybench.errors import BabybenchError
from babybench.models.config import ModelConfig
from babybench.models.kernels import causal_conv1d_silu, mlstm, resolve_backend
from babybench.models.mixers import MIXERS


def block_diag_linear(x, weight, backend="auto"):
    """y = x W, W block-diagonal with blocks ``weight`` (nb, b, b); x (..., nb * b).

    Four forms of the same maths. Where ``backend`` resolves to babybench's Triton kernels
    (CUDA; see ``kernels.resolve_backend``), :mod:`.kernels.blockdiag_triton`, eager or compiled:
    x read once and y written once, forward and backward (the 30m xLSTM trained at 467k instead
    of 418k tokens/s with the dense form, H200). Otherwise, in eager mode (scoring, GLUE fine-tuning),
    :func:`block_diag_einsum`: one batched matmul instead of ~10 elementwise kernels. Under
    ``torch.compile``: on CUDA :func:`block_diag_dense`, one tensor-core matmul with the
    zeros filled in (with it, and the padded mLSTM heads, the 30m xLSTM trained at 265k
    instead of 242k tokens/s on an H200); on the CPU :func:`block_diag_products`, one fused
    pass over x, where the dense form's nb-fold extra work would cost real time."""
    if _triton_takes(x, weight, backend):
        from babybench.models.kernels.blockdiag_triton import block_diag_triton
        return block_diag_triton(x, weight)
    if not torch.compiler.is_compiling():
        return block_diag_einsum(x, weight)
    if _dense_pays(x):
        return block_diag_dense(x, weight)
    return block_diag_products(x, weight)


def _triton_takes(x, weight, backend) -> bool:
    """True where ``backend`` resolves to the Triton form for ``x`` and the kernels take the shapes."""
    if x.dim() < 3 or resolve_backend(backend, x) != "triton":   # it reads dim 1 as time
        return False
    from babybench.models.kernels.blockdiag_triton import block_diag_triton_ok
    return block_diag_triton_ok(x, weight)


def _dense_pays(x) -> bool:
    return x.is_cuda


def block_diag_dense(x, weight):
    """:func:`block_diag_linear` as x times the (nb * b)^2 matrix with the blocks on its diagonal,
    built with one broadcast product (its backward picks the blocks back out)."""
    nb, b, _ = weight.shape
    eye = torch.eye(nb, dtype=weight.dtype, device=weight.device)
    dense = (weight[:, :, None, :] * eye[:, None, :, None]).reshape(nb * b, nb * b)
    return x @ dense.to(x.dtype)


def block_diag_products(x, weight):
    """:func:`block_diag_linear` as a sum of ``b`` broadcast products in fp32 (or wider)."""
    acc = torch.promote_types(x.dtype, torch.float32)
    xb = x.unflatten(-1, (-1, weight.shape[-1])).to(acc)           # (..., nb, b)
    w = weight.to(acc)
    y = sum(xb[..., j, None] * w[:, j] for j in range(w.shape[1]))  # (..., nb, b)
    return y.flatten(-2).to(x.dtype)


def block_diag_einsum(x, weight):
    """:func:`block_diag_linear` as one batched (b x b) matmul per block."""
    xb = x.unflatten(-1, (-1, weight.shape[-1]))                    # (..., nb, b)
    return torch.einsum("...ni,nio->...no", xb, weight.to(x.dtype)).flatten(-2)


def block_diag_linear_ref(x, weight):
    """Naive reference of :func:`block_diag_linear`: x times the dense block-diagonal W."""
    return x @ torch.block_diag(*weight.to(x.dtype))


class BlockDiagLinear(nn.Module):
    """y = x W with W block-diagonal: ``dim / block`` independent (block x block) maps."""

    def __init__(self, dim: int, block: int, backend: str = "auto"):
        super().__init__()
        self.block, self.backend = block, backend
        self.weight = nn.Parameter(torch.randn(dim // block, block, block) * block ** -0.5)

    def forward(self, x):  # (B, T, dim)
        return block_diag_linear(x, self.weight, self.backend)


def head_norm(x, weight, eps):
    """Group norm with one group per head: x (B, T, H, Dh), weight (H * Dh,). fp32 or wider."""
    acc = torch.promote_types(x.dtype, torch.float32)
    x = x.to(acc)
    x = (x - x.mean(-1, keepdim=True)) * torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + eps)
    return x.flatten(-2) * weight.to(acc)


#: The gate soft-cap of new mLSTM blocks (``make_config`` puts it into ``mixer_options["x"]``).
GATE_SOFTCAP = 15.0


def _x_options(cfg: ModelConfig):
    o = cfg.mixer_opts("x", proj_factor=2, n_heads=cfg.n_heads, qkv_block=4, d_conv=4, gate_softcap=0.0)
    di = int(o.proj_factor * cfg.d_model)
    if di % o.n_heads or di % o.qkv_block:
        raise BabybenchError(f"model.mixer_options.x: proj_factor * d_model = {di} must be divisible "
                             f"by n_heads={o.n_heads} and qkv_block={o.qkv_block}")
    return o, di


@MIXERS.register("x")
class MLSTMBlock(nn.Module):
    """mLSTM block with its own up-projection. Options (``mixer_options["x"]``):
    ``proj_factor`` (2), ``n_heads`` (cfg.n_heads), ``qkv_block`` (block size of the
    q/k/v block-diagonal maps, 4), ``d_conv`` (4), ``gate_softcap`` (gate pre-activations pass
    through ``cap * tanh(x / cap)``, as in xLSTM-7B; 0 = off). The option's default is 0, what
    every model saved before the cap existed was trained with; ``make_config`` writes
    :data:`GATE_SOFTCAP` into each new config, so saved models always state their cap.

    Why the cap: the denominator floor exp(-m_t) overflows fp32 once m_t < -88, which
    happens when input gates go very negative while forget gates decay fast. The forward
    pass still gives a finite loss (h -> 0), but the backward pass gives 0 * inf = NaN
    (seen at step 397 of a strict-small run). With |i~| < cap, m_t >= i~_t > -cap."""

    has_mlp = True
    residual_proj_names = ("down_proj",)

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        o, di = _x_options(cfg)
        self.di, self.n_heads, self.eps = di, o.n_heads, cfg.norm_eps
        self.backend, self.chunk_size = cfg.backend, cfg.chunk_size
        self.gate_softcap = float(o.gate_softcap)
        self.up_proj = nn.Linear(cfg.d_model, 2 * di, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(di, o.d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(di))
        self.q_proj, self.k_proj, self.v_proj = (BlockDiagLinear(di, o.qkv_block, cfg.backend)
                                                 for _ in range(3))
        self.igate = nn.Linear(3 * di, o.n_heads)
        self.fgate = nn.Linear(3 * di, o.n_heads)
        self.norm_weight = nn.Parameter(torch.ones(di))
        self.skip = nn.Parameter(torch.ones(di))
        self.down_proj = nn.Linear(di, cfg.d_model, bias=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        self.conv_weight.uniform_(-self.conv_weight.shape[1] ** -0.5, self.conv_weight.shape[1] ** -0.5)
        self.conv_bias.zero_()
        # paper: gate weights 0, forget bias linspace(3, 6) (long memory at init), input bias ~N(0, 0.1)
        for gate in (self.igate, self.fgate):
            gate.weight.zero_()
        self.fgate.bias.copy_(torch.linspace(3.0, 6.0, self.n_heads))
        self.igate.bias.normal_(0.0, 0.1)
        self.norm_weight.fill_(1.0)
        self.skip.fill_(1.0)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        """d*2di + di*(W+1) + 3*di*block + 2*(3di*H + H) + 2di + di*d, di = proj_factor*d."""
        o, di = _x_options(cfg)
        D, H = cfg.d_model, o.n_heads
        return (D * 2 * di + di * (o.d_conv + 1) + 3 * di * o.qkv_block
                + 2 * (3 * di * H + H) + 2 * di + di * D)

    def gate_preacts(self, q, k, v):
        """The input and forget gates' pre-activations, ``igate`` / ``fgate`` (Linear(3 di, H))
        of ``cat([q, k, v])``, as one 2H-wide product per part summed in fp32 (or wider), so the
        3 di-wide concatenation is never built (forward or backward)."""
        acc = torch.promote_types(q.dtype, torch.float32)
        W = torch.cat([self.igate.weight, self.fgate.weight])       # (2H, 3 di)
        b = torch.cat([self.igate.bias, self.fgate.bias]).to(acc)
        g = sum(F.linear(x, w).to(acc) for x, w in zip((q, k, v), W.split(self.di, dim=1))) + b
        return g.chunk(2, dim=-1)

    def forward(self, u, state=None, return_state=False):  # u: (B, T, D)
        B, T, _ = u.shape
        H, di = self.n_heads, self.di
        conv_state, cell_state = state if state is not None else (None, None)
        up = self.up_proj(u)                                        # (B, T, 2 di): [xm, z]
        xm = up[..., :di]
        xc, conv_state = causal_conv1d_silu(xm, self.conv_weight, self.conv_bias, conv_state, self.backend)
        q, k, v = self.q_proj(xc), self.k_proj(xc), self.v_proj(xm)
        ig, fg = self.gate_preacts(q, k, v)                         # (B, T, H) each, fp32
        if self.gate_softcap > 0:
            ig, fg = (self.gate_softcap * torch.tanh(g / self.gate_softcap) for g in (ig, fg))
        h, cell_state = mlstm(*(t.view(B, T, H, di // H) for t in (q, k, v)), ig, fg,
                              initial_state=cell_state, output_final_state=return_state,
                              backend=self.backend, chunk_size=self.chunk_size,
                              gate_softcap=self.gate_softcap)
        # xc and z enter in their own dtype (bf16 under autocast); the products are fp32, and
        # the backward pass keeps the bf16 tensors rather than fp32 copies of them. z is sliced
        # here, where it is used: sliced up front (``chunk``), torch.compile's partitioner saved
        # an fp32 copy of it for the backward pass (65 MB a layer at 30m, B = 32, T = 512), as it
        # prefers saving values computed late in the forward pass; now it keeps ``up`` itself.
        h = head_norm(h, self.norm_weight, self.eps) + self.skip * xc
        z = up[..., di:]
        out = self.down_proj((h * F.silu(z)).to(u.dtype))
        return out, ((conv_state, cell_state) if return_state else None)


# ----------------------------------------------------------------------------
# sLSTM

def slstm_recurrent(pre, R, state):
    """sLSTM scan. pre: (B, T, 4, H, Dh) input pre-activations (z, i, f, o);
    R: (H, Dh, 4, Dh) block-diagonal recurrent weights; state (h, c, n, m) each (B, H, Dh)
    fp32. Returns (h (B, T, H, Dh) fp32, new state)."""
    h, c, n, m = state
    out = []
    for t in range(pre.shape[1]):
        g = pre[:, t] + torch.einsum("bhd,hdge->bghe", h, R)       # (B, 4, H, Dh)
        zt, it, ft, ot = g.unbind(1)
        logf = F.logsigmoid(ft)
        m_new = torch.maximum(logf + m, it)                         # stabiliser
        i_ = (it - m_new).exp()
        f_ = (logf + m - m_new).exp()
        c = f_ * c + i_ * torch.tanh(zt)
        n = f_ * n + i_
        h = torch.sigmoid(ot) * c / n
        m = m_new
        out.append(h)
    return torch.stack(out, dim=1), (h, c, n, m)


@MIXERS.register("s")
class SLSTMMixer(nn.Module):
    """sLSTM layer: input projection to 4 gates, headwise recurrence, group norm, out_proj.
    Option (``mixer_options["s"]``): ``n_heads`` (cfg.n_heads)."""

    residual_proj_names = ("out_proj",)

    def __init__(self, cfg: ModelConfig, layer_idx: int):
        super().__init__()
        o = cfg.mixer_opts("s", n_heads=cfg.n_heads)
        D = cfg.d_model
        if D % o.n_heads:
            raise BabybenchError(f"model.mixer_options.s.n_heads={o.n_heads} must divide d_model={D}")
        self.n_heads, self.dh, self.eps = o.n_heads, D // o.n_heads, cfg.norm_eps
        self.in_proj = nn.Linear(D, 4 * D)                          # gates z, i, f, o
        self.R = nn.Parameter(torch.empty(o.n_heads, self.dh, 4, self.dh))
        self.norm_weight = nn.Parameter(torch.ones(D))
        self.out_proj = nn.Linear(D, D, bias=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        self.R.normal_(0.0, self.dh ** -0.5 * 0.5)
        bias = self.in_proj.bias.view(4, self.n_heads, self.dh)
        bias.zero_()
        bias[2].copy_(torch.linspace(3.0, 6.0, self.n_heads)[:, None])  # forget gate open
        self.norm_weight.fill_(1.0)

    @classmethod
    def param_count(cls, cfg: ModelConfig, layer_idx: int) -> int:
        """4d^2 + 4d (input) + 4 d^2 / H (recurrent) + d (norm) + d^2 (out)."""
        D = cfg.d_model
        H = cfg.mixer_opts("s", n_heads=cfg.n_heads).n_heads
        return 4 * D * D + 4 * D + 4 * D * D // H + D + D * D

    def forward(self, x, state=None, return_state=False):  # x: (B, T, D)
        B, T, D = x.shape
        H, Dh = self.n_heads, self.dh
        acc = torch.promote_types(x.dtype, torch.float32)
        pre = self.in_proj(x).to(acc).view(B, T, 4, H, Dh)
        if state is None:
            zero = x.new_zeros(B, H, Dh, dtype=acc)
            state = (zero, zero, zero, zero)
        else:
            state = tuple(s.view(B, H, Dh).to(acc) for s in state)
        h, state = slstm_recurrent(pre, self.R.to(acc), state)
        y = self.out_proj(head_norm(h, self.norm_weight, self.eps).to(x.dtype))
        return y, (tuple(s.reshape(B, D) for s in state) if return_state else None)
