"""Recurrent mixers h (HGRN2), m (Mamba-2), x (mLSTM block), s (sLSTM): parameter
counts, decoding with state, causality, a short fp32 training run without NaN, the mLSTM
block against an op-by-op reference, and the compile-only forms against eager mode."""
import pytest
import torch
import torch.nn.functional as F

from babybench.models import MIXERS, ModelConfig, build_model
from babybench.models.model import BabyLM
from tests.models.helpers import check_causal, check_decode_matches_forward, saved_for_backward

CHARS = ["h", "m", "x", "s"]


def _cfg(pattern, **kw):
    base = dict(vocab_size=97, d_model=32, n_heads=4, n_layers=len(pattern), pattern=pattern,
                backend="torch", chunk_size=16)
    return ModelConfig(**{**base, **kw})


@pytest.mark.parametrize("char", CHARS)
@pytest.mark.parametrize("d_model", [32, 64, 256])
def test_param_count_formula(char, d_model):
    cfg = _cfg(char * 3, d_model=d_model)
    for layer in range(3):
        mixer = MIXERS.get(char)(cfg, layer)
        assert sum(p.numel() for p in mixer.parameters()) == mixer.param_count(cfg, layer)


@pytest.mark.parametrize("char", CHARS)
@pytest.mark.parametrize("T", [1, 23], ids=lambda t: f"T{t}")
def test_mixer_state_continuation(char, T):
    """forward(x) == forward(x[:s]) then forward(x[s:], state), and token by token."""
    torch.manual_seed(0)
    mixer = MIXERS.get(char)(_cfg(char * 2), 1).double()
    x = torch.randn(2, T, 32, dtype=torch.float64)
    y, _ = mixer(x)
    s = T // 2
    y1, st = mixer(x[:, :s], return_state=True) if s else (x[:, :0], None)
    y2, _ = mixer(x[:, s:], st, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-8, atol=1e-9)
    st, ys = None, []
    for t in range(T):
        yt, st = mixer(x[:, t:t + 1], st, return_state=True)
        ys.append(yt)
    torch.testing.assert_close(torch.cat(ys, 1), y, rtol=1e-8, atol=1e-9)


def test_capped_mlstm_block_state_continuation():
    """With the gate soft-cap (every new xLSTM config) the block runs the GLA form of the
    cell: chunk-by-chunk and token-by-token decoding still reproduce the full forward."""
    torch.manual_seed(0)
    mixer = MIXERS.get("x")(_cfg("xx", mixer_options={"x": {"gate_softcap": 15.0}}), 1).double()
    x = torch.randn(2, 37, 32, dtype=torch.float64)
    y, _ = mixer(x)
    y1, st = mixer(x[:, :20], return_state=True)
    y2, _ = mixer(x[:, 20:], st, return_state=True)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-8, atol=1e-9)
    st, ys = None, []
    for t in range(37):
        yt, st = mixer(x[:, t:t + 1], st, return_state=True)
        ys.append(yt)
    torch.testing.assert_close(torch.cat(ys, 1), y, rtol=1e-8, atol=1e-9)


def test_mlstm_gate_preacts_match_linear_of_concatenation():
    """The gates' split products equal ``igate`` / ``fgate`` applied to ``cat([q, k, v])``."""
    torch.manual_seed(0)
    mixer = MIXERS.get("x")(_cfg("x"), 0).double()
    for gate in (mixer.igate, mixer.fgate):
        torch.nn.init.normal_(gate.weight)                  # zero at init: that would hide an error
    q, k, v = (torch.randn(2, 5, mixer.di, dtype=torch.float64) for _ in range(3))
    ig, fg = mixer.gate_preacts(q, k, v)
    qkv = torch.cat([q, k, v], dim=-1)
    torch.testing.assert_close(ig, mixer.igate(qkv))
    torch.testing.assert_close(fg, mixer.fgate(qkv))


def test_mlstm_block_keeps_no_fp32_copy_of_z():
    """Under bf16 autocast the output gate's backward keeps z (half of ``up_proj``'s output) in
    bf16: none of the tensors saved for the backward pass is an fp32 copy of it."""
    torch.manual_seed(0)
    mixer = MIXERS.get("x")(_cfg("x"), 0)
    outs = []
    mixer.up_proj.register_forward_hook(lambda m, i, o: outs.append(o))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, saved = saved_for_backward(mixer, torch.randn(2, 7, mixer.up_proj.in_features))
    z = outs[0].chunk(2, dim=-1)[1]
    assert z.dtype == torch.bfloat16 and saved
    copies = [t for t in saved if t.dtype == torch.float32 and t.shape == z.shape and torch.equal(t, z.float())]
    assert not copies


def _saved_by_compile(fn, *args):
    """(fn's output, the forward-graph values torch.compile's partitioner keeps for the backward
    pass). The partition is the min-cut one Inductor uses; the two graphs then run as traced,
    without Inductor, so this works on the CPU in seconds."""
    from functorch.compile import make_boxed_func
    from torch._functorch.aot_autograd import aot_module_simplified
    from torch._functorch.partitioners import min_cut_rematerialization_partition
    from torch._inductor.decomposition import select_decomp_table

    saved = []

    def partition(joint, inputs, **kw):
        fwd, bwd = min_cut_rematerialization_partition(joint, inputs, **kw)
        saved.extend(next(n for n in fwd.graph.nodes if n.op == "output").args[0])
        return fwd, bwd

    def backend(gm, example):
        keep = lambda g, _: make_boxed_func(g)                  # noqa: E731  (run the graph as traced)
        return aot_module_simplified(gm, example, fw_compiler=keep, bw_compiler=keep,
                                     partition_fn=partition, decompositions=select_decomp_table())

    torch._dynamo.reset()
    out = torch.compile(fn, backend=backend)(*args)
    return out, [n for n in saved if isinstance(n, torch.fx.Node)]


def test_compiled_mlstm_block_keeps_no_fp32_copy_of_z():
    """Compiled under bf16 autocast, the partitioner keeps the up-projection's bf16 output for the
    output gate's backward, not an fp32 copy of z cast from it (one was kept while z was split off
    up front; 65 MB a layer at the 30m size)."""
    torch.manual_seed(0)
    mixer = MIXERS.get("x")(_cfg("x", mixer_options={"x": {"gate_softcap": 15.0}}), 0)
    views = {"view", "_unsafe_view", "slice", "split", "split_with_sizes", "getitem", "reshape"}

    def cast_from_matmul(node):
        """True for an fp32 cast of a view of a matmul's output (z is half of up_proj's)."""
        if node.target != torch.ops.prims.convert_element_type.default or node.args[1] != torch.float32:
            return False
        src = node.args[0]
        while getattr(src.target, "__name__", "").split(".")[0] in views:
            src = src.args[0]
        return src.target in (torch.ops.aten.mm.default, torch.ops.aten.addmm.default)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        (y, _), saved = _saved_by_compile(mixer, torch.randn(2, 7, mixer.up_proj.in_features, requires_grad=True))
    y.float().sum().backward()
    assert saved and not [n.name for n in saved if cast_from_matmul(n)]


def test_mlstm_block_matches_reference_forward():
    """The block equals the paper's layout run op by op, outputs and every gradient: q / k / v
    maps, ``Linear(3 di, H)`` gates on their concatenation (soft-capped), the step-by-step
    cell, head-wise group norm, skip and output gate."""
    from babybench.models.kernels import causal_conv1d_ref, mlstm_recurrent
    from babybench.models.xlstm import head_norm
    torch.manual_seed(0)
    mixer = MIXERS.get("x")(_cfg("x", mixer_options={"x": {"gate_softcap": 15.0}}), 0).double()
    for p in (mixer.igate.weight, mixer.fgate.weight):
        torch.nn.init.normal_(p, std=0.1)                   # zero at init: that would hide an error
    u = torch.randn(2, 21, 32, dtype=torch.float64, requires_grad=True)
    params = [u, *mixer.parameters()]
    xm, z = mixer.up_proj(u).chunk(2, dim=-1)
    xc = F.silu(causal_conv1d_ref(xm, mixer.conv_weight, mixer.conv_bias)[0])
    q, k, v = mixer.q_proj(xc), mixer.k_proj(xc), mixer.v_proj(xm)
    qkv, cap = torch.cat([q, k, v], dim=-1), mixer.gate_softcap
    ig, fg = (cap * torch.tanh(g(qkv) / cap) for g in (mixer.igate, mixer.fgate))
    h, _ = mlstm_recurrent(*(t.view(2, 21, mixer.n_heads, -1) for t in (q, k, v)), ig, fg)
    y = (head_norm(h, mixer.norm_weight, mixer.eps) + mixer.skip * xc) * F.silu(z)
    ref = mixer.down_proj(y)
    got = mixer(u)[0]
    torch.testing.assert_close(got, ref, rtol=1e-8, atol=1e-10)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    g_got = torch.autograd.grad(got.square().sum(), params)
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.bfloat16, 1e-2)], ids=["fp64", "bf16"])
@pytest.mark.parametrize("form", ["block_diag_products", "block_diag_einsum", "block_diag_dense"])
def test_block_diag_forms_match_dense_reference(form, dtype, tol):
    from babybench.models import xlstm
    torch.manual_seed(0)
    x = torch.randn(2, 5, 24, dtype=torch.float64).to(dtype).requires_grad_()
    w = torch.randn(6, 4, 4, dtype=torch.float64).requires_grad_()
    outs = []
    for fn in (getattr(xlstm, form), xlstm.block_diag_linear_ref):
        y = fn(x, w)
        gx, gw = torch.autograd.grad((y.double() * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), (x, w))
        outs.append((y, gx, gw))
    for a, b in zip(*outs):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cuda,compiling,form", [(True, True, "block_diag_dense"), (True, False, "block_diag_einsum"),
                                                 (False, True, "block_diag_products"),
                                                 (False, False, "block_diag_einsum")])
def test_block_diag_dispatch(monkeypatch, cuda, compiling, form):
    from babybench.models import xlstm
    calls = []
    for name in ("block_diag_products", "block_diag_einsum", "block_diag_dense"):
        monkeypatch.setattr(xlstm, name, lambda *a, _n=name: calls.append(_n))
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: compiling)
    monkeypatch.setattr(xlstm, "_dense_pays", lambda x: cuda)
    xlstm.block_diag_linear(torch.zeros(1, 8), torch.zeros(2, 4, 4))
    assert calls == [form]


@pytest.mark.parametrize("family", ["hgrn2", "mamba", "xlstm"])
def test_family_decode_and_causal(family):
    torch.manual_seed(0)
    model = build_model(family, "debug", vocab_size=97, backend="torch")
    check_decode_matches_forward(model, T=20, split=7)
    check_causal(model)


def test_xlstm_with_slstm_decode_and_causal():
    torch.manual_seed(0)
    model = BabyLM(_cfg("xsx"))
    assert model.blocks[0].mlp is None and model.blocks[1].mlp is not None  # x has_mlp, s does not
    check_decode_matches_forward(model, T=20, split=7)
    check_causal(model)


def test_hgrn2_chunk_options_reach_the_scan(monkeypatch):
    """mixer_options.h.chunk_size / sub_chunk are what the chunked GLA runs with, and any
    valid pair gives the same layer output (fp64)."""
    import importlib
    hgrn2 = importlib.import_module("babybench.models.hgrn2")
    torch.manual_seed(0)
    x = torch.randn(2, 37, 32, dtype=torch.float64)
    default = MIXERS.get("h")(_cfg("hh"), 1).double()
    y, _ = default(x)
    seen, real = [], hgrn2.gla

    def spy(*args, **kw):
        seen.append((kw["chunk_size"], kw["sub_chunk"]))
        return real(*args, **kw)
    monkeypatch.setattr(hgrn2, "gla", spy)
    for C, sub in [(32, 8), (16, 4), (8, 8), (64, 16)]:
        mixer = MIXERS.get("h")(_cfg("hh", mixer_options={"h": {"chunk_size": C, "sub_chunk": sub}}), 1)
        mixer.load_state_dict(default.state_dict())
        torch.testing.assert_close(mixer.double()(x)[0], y, rtol=1e-9, atol=1e-10)
        assert seen[-1] == (C, sub)


def test_mixer_errors_name_the_option():
    from babybench.errors import BabybenchError
    with pytest.raises(BabybenchError, match="mixer_options.h"):
        MIXERS.get("h")(_cfg("h", mixer_options={"h": {"expand_ratio": 5}}), 0)
    with pytest.raises(BabybenchError, match="chunk_size=12 must be a positive multiple of sub_chunk=8"):
        MIXERS.get("h")(_cfg("h", mixer_options={"h": {"chunk_size": 12}}), 0)
    with pytest.raises(BabybenchError, match="d_sate"):
        MIXERS.get("m")(_cfg("m", mixer_options={"m": {"d_sate": 8}}), 0)


@pytest.mark.slow
def test_training_stays_finite():
    """A small h/m/x/s stack, fp32, 200 AdamW steps on sequences that follow a fixed
    successor rule (next = 5 * tok + 1 mod V) with a random token every 4th step:
    the loss stays finite and goes down (the rule is learnable)."""
    torch.manual_seed(0)
    model = BabyLM(_cfg("hmxs", d_model=32, chunk_size=16))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(200):
        idx = torch.randint(0, 97, (8, 40), generator=g)
        for t in range(1, 40):
            if t % 4:
                idx[:, t] = (5 * idx[:, t - 1] + 1) % 97
        out = model(idx[:, :-1], targets=idx[:, 1:])
        assert torch.isfinite(out.loss), f"step {step}: loss {out.loss.item()}"
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(out.loss.item())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 1.0, (losses[:3], losses[-3:])


@pytest.mark.parametrize("cap,finite", [(15.0, True), (0.0, False)])
def test_mlstm_gate_softcap_keeps_gradients_finite(cap, finite):
    """Very negative input gates with fast-decaying forget gates push m_t below -88, where
    exp(-m_t) overflows fp32: the loss stays finite but the gradient is NaN without the cap."""
    torch.manual_seed(0)
    model = BabyLM(_cfg("xx", mixer_options={"x": {"gate_softcap": cap}}))
    with torch.no_grad():
        for block in model.blocks:
            block.mixer.igate.bias.fill_(-200.0)
            block.mixer.fgate.bias.fill_(-5.0)
    ids = torch.randint(0, 97, (2, 60))
    loss = model(ids, targets=ids).loss
    loss.backward()
    assert torch.isfinite(loss)
    grads_finite = all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert grads_finite == finite


@pytest.mark.parametrize("char", ["x", "m"])
def test_compiled_branches_match_eager(char):
    """Under ``torch.compile`` the mixers take their compile-only forms (the short conv as an fp32
    tap sum, the block-diagonal maps as broadcast products on the CPU); outputs and gradients
    equal eager mode (``aot_eager``: Dynamo and AOTAutograd without Inductor's code generation)."""
    torch.manual_seed(0)
    mixer = MIXERS.get(char)(_cfg(char, mixer_options={"x": {"gate_softcap": 15.0}}), 0).double()
    u = torch.randn(2, 19, 32, dtype=torch.float64, requires_grad=True)
    params = [u, *mixer.parameters()]
    ref = mixer(u)[0]
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    torch._dynamo.reset()
    got = torch.compile(mixer, backend="aot_eager", fullgraph=True)(u)[0]
    g_got = torch.autograd.grad(got.square().sum(), params)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
