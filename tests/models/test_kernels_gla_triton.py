"""babybench's Triton scalar-decay GLA kernel against the step-by-step reference.

Without a GPU the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``, set before
triton is imported, hence the child process); that needs the ``triton`` package, which the CPU
torch wheel does not bring, so the test is skipped where it is missing. The interpreter has no
bf16, so fp32 and fp16 are checked there and bf16 on the GPU.
"""
import importlib.util

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.models.kernels import resolve_backend, simple_gla, simple_gla_chunked, triton_available
from tests.models.helpers import run_in_triton_interpreter

CHECK = """
import torch
from babybench.models.kernels.gla import simple_gla_recurrent
from babybench.models.kernels.gla_triton import simple_gla_triton

torch.manual_seed(0)
# (B, T, H, K, V, chunk, dtype, g scale, tolerance): T not a multiple of the chunk, widths not
# powers of 2, two value blocks (V = 100), strong decays (g down to -30)
cases = [(2, 70, 2, 16, 24, 16, torch.float32, 2, 1e-5), (2, 33, 3, 20, 17, 16, torch.float32, 2, 1e-5),
         (1, 40, 2, 16, 100, 16, torch.float32, 30, 1e-5), (1, 64, 1, 32, 32, 64, torch.float32, 2, 1e-5),
         (2, 50, 2, 32, 48, 16, torch.float16, 1, 2e-3)]
for B, T, H, K, V, C, dt, gs, tol in cases:
    q, k, v = (torch.randn(B, T, H, d).to(dt) for d in (K, K, V))
    g = -torch.rand(B, T, H) * gs
    ins = [t.clone().requires_grad_() for t in (q, k, v, g)]
    ref = [t.clone().double().requires_grad_() for t in (q, k, v, g)]
    o = simple_gla_triton(*ins, chunk_size=C)
    o_ref, _ = simple_gla_recurrent(*ref)
    w = torch.randn_like(o_ref)
    (o.double() * w).sum().backward()
    (o_ref * w).sum().backward()
    for name, a, b in [("o", o, o_ref)] + [(n, x.grad, y.grad) for n, x, y in zip("qkvg", ins, ref)]:
        assert a.dtype == (dt if name != "g" else torch.float32), (name, a.dtype)
        rel = ((a.double() - b).norm() / b.norm()).item()
        assert rel < tol, (B, T, H, K, V, C, dt, name, rel)
from tests.models.test_kernels_gla_triton import same_bits_with_fp32_states
assert same_bits_with_fp32_states(torch.float16)
print("ok")
"""


def same_bits_with_fp32_states(dt, device="cpu") -> bool:
    """The chunk states stored in v's dtype (``STATE_DTYPE = None``) give the same output and
    gradient bits as states stored in fp32: every kernel reading them casts them to v's dtype.
    Run by the interpreter check (fp16) and the GPU test (bf16)."""
    import babybench.models.kernels.gla_triton as GT

    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 100, 3, d, device=device).to(dt) for d in (32, 32, 80))  # 2 value blocks
    g = -torch.rand(2, 100, 3, device=device)
    runs, default = [], GT.STATE_DTYPE
    try:
        for state_dtype in (None, torch.float32):
            GT.STATE_DTYPE = state_dtype
            ins = [t.clone().requires_grad_() for t in (q, k, v, g)]
            o = GT.simple_gla_triton(*ins, chunk_size=32)
            o.float().square().sum().backward()
            runs.append([o] + [t.grad for t in ins])
    finally:
        GT.STATE_DTYPE = default
    return all(torch.equal(a, b) for a, b in zip(*runs))


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_triton_kernels_match_recurrent_in_interpreter():
    run_in_triton_interpreter(CHECK)


def test_triton_backend_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(BabybenchError, match="backend 'triton' needs CUDA"):
        resolve_backend("triton", torch.zeros(1, 4, 1))


@pytest.mark.gpu
def test_triton_backend_matches_chunked_on_gpu():
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    torch.manual_seed(0)
    B, T, H, K, V = 2, 300, 4, 128, 128
    q, k, v = (torch.randn(B, T, H, d, device="cuda", dtype=torch.bfloat16) for d in (K, K, V))
    g = -torch.rand(B, T, H, device="cuda")
    grads = []
    for run in (lambda *a: simple_gla(*a, backend="triton")[0], lambda *a: simple_gla_chunked(*a)[0]):
        ins = [t.clone().requires_grad_() for t in (q, k, v, g)]
        o = run(*ins)
        o.float().square().sum().backward()
        grads.append([o.float()] + [t.grad.float() for t in ins])
    for a, b in zip(*grads):
        assert ((a - b).norm() / b.norm()).item() < 2e-2


@pytest.mark.gpu
def test_states_in_bf16_give_the_same_bits_on_gpu():
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    assert same_bits_with_fp32_states(torch.bfloat16, "cuda")


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs the triton package")
def test_triton_backend_dispatch(monkeypatch):
    """``backend: triton`` sends the stateless scalar-decay scan (Mamba-2, mLSTM in GLA form) to
    the kernel, and keeps the chunked form where a state goes in or out (the kernel keeps none)."""
    G = importlib.import_module("babybench.models.kernels.gla")
    GT = importlib.import_module("babybench.models.kernels.gla_triton")
    M = importlib.import_module("babybench.models.kernels.mlstm")
    calls = []
    monkeypatch.setattr(G, "resolve_backend", lambda backend, x: "recurrent" if x.shape[1] == 1 else backend)
    monkeypatch.setattr(M, "resolve_backend", G.resolve_backend)
    monkeypatch.setattr(GT, "simple_gla_triton", lambda q, k, v, g, scale, C: calls.append(C) or v * 0)
    q, k, v = (torch.randn(2, 9, 2, 4) for _ in range(3))
    g = -torch.rand(2, 9, 2)
    o, S = G.simple_gla(q, k, v, g, backend="triton", chunk_size=32)
    assert calls == [32] and S is None and not o.any()
    o, S = G.simple_gla(q, k, v, g, backend="triton", output_final_state=True)
    ref, S_ref = G.simple_gla_chunked(q, k, v, g, output_final_state=True)
    assert calls == [32] and torch.equal(o, ref) and torch.equal(S, S_ref)
    i, f = torch.randn(2, 9, 2), torch.randn(2, 9, 2) + 3
    M.mlstm(q, k, v, i, f, backend="triton", chunk_size=16)
    assert calls == [32, 16]


def test_auto_picks_triton_only_where_it_applies(monkeypatch):
    """``auto`` resolves to the kernel on CUDA only, and the ops then still fall back to the
    chunked form where the kernel does not apply: a chunk that is no power of 2, and (mLSTM)
    uncapped gates, where only the chunked form is safe."""
    G = importlib.import_module("babybench.models.kernels.gla")
    GT = importlib.import_module("babybench.models.kernels.gla_triton")
    M = importlib.import_module("babybench.models.kernels.mlstm")
    monkeypatch.setattr(G, "triton_available", lambda: True)
    monkeypatch.delenv("BABYBENCH_KERNEL_BACKEND", raising=False)
    assert G.resolve_backend("auto", torch.zeros(1, 4, 1)) == "chunked"      # CPU tensor
    calls = []
    monkeypatch.setattr(G, "resolve_backend", lambda backend, x: "triton")
    monkeypatch.setattr(M, "resolve_backend", G.resolve_backend)
    monkeypatch.setattr(GT, "simple_gla_triton", lambda q, k, v, g, scale, C: calls.append(C) or v * 0)
    q, k, v = (torch.randn(2, 9, 2, 4) for _ in range(3))
    g = -torch.rand(2, 9, 2)
    G.simple_gla(q, k, v, g, chunk_size=64)
    o, _ = G.simple_gla(q, k, v, g, chunk_size=48)
    assert calls == [64] and torch.equal(o, G.simple_gla_chunked(q, k, v, g, chunk_size=48)[0])
    i, f = torch.randn(2, 9, 2), torch.randn(2, 9, 2) + 3
    M.mlstm(q, k, v, i, f, chunk_size=16, gate_softcap=15.0)
    o, _ = M.mlstm(q, k, v, i, f, chunk_size=16)                           # uncapped gates
    assert calls == [64, 16] and torch.equal(o, M.mlstm_chunked(q, k, v, i, f, chunk_size=16)[0])


@pytest.mark.gpu
def test_auto_models_on_gpu_as_accurate_as_the_torch_backend():
    """On CUDA, ``auto`` runs Mamba-2 and xLSTM on the kernel. In bf16 autocast their logits
    and gradients are about as close to an fp32 ``backend: torch`` run as bf16
    ``backend: torch`` is (a wrong kernel is off by order 1)."""
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    from babybench.models import build_model
    assert resolve_backend("auto", torch.zeros(1, 4, 1, device="cuda")) == "triton"
    x = torch.randint(0, 256, (2, 200), device="cuda")
    for family in ("mamba", "xlstm"):
        outs = []
        for backend, dtype in (("torch", torch.float32), ("auto", torch.bfloat16), ("torch", torch.bfloat16)):
            torch.manual_seed(0)
            model = build_model(family, size="debug", vocab_size=256, backend=backend).cuda()
            with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                logits = model(x).logits.float()
            logits.square().mean().backward()
            outs.append([logits] + [p.grad.float() for p in model.parameters() if p.grad is not None])
        ref, fast, torch_bf16 = outs
        err = lambda a, b: ((a - b).norm() / b.norm().clamp_min(1e-6)).item()  # noqa: E731
        e_fast, e_torch = ([err(a, r) for a, r in zip(run, ref)] for run in (fast, torch_bf16))
        # bf16 alone puts single tensors 1e-2 to 1e-1 off (mean over tensors ~1e-2 on both
        # backends on an H200), so the means are compared, and the logits
        assert e_fast[0] <= 2 * e_torch[0], (family, e_fast[0], e_torch[0])
        assert sum(e_fast) <= 1.25 * sum(e_torch), (family, sum(e_fast) / len(e_fast), sum(e_torch) / len(e_torch))


def test_auto_needs_hopper_class_shared_memory(monkeypatch):
    """``auto`` picks the kernel only on GPUs with H100-class shared memory; the lookup is
    taken as a constant under ``torch.compile`` (a plain call into triton's driver would
    break the graph of every mixer), and an unreadable device reads as 0 (no kernel)."""
    G = importlib.import_module("babybench.models.kernels.gla")
    monkeypatch.setattr(G, "triton_available", lambda: True)
    fake = type("FakeCuda", (), {"is_cuda": True, "device": torch.device("cpu"), "shape": (1, 4, 1)})()
    for shared, want in ((G.TRITON_AUTO_MIN_SHARED, "triton"), (163 * 1024, "chunked")):
        monkeypatch.setattr(G, "_shared_mem_per_block", lambda index, s=shared: s)
        assert G.resolve_backend("auto", fake) == want
    monkeypatch.undo()
    if importlib.util.find_spec("triton") is not None and not torch.cuda.is_available():
        f = torch.compile(lambda x: x * 2 if G._shared_mem_per_block(0) > 0 else x + 1, fullgraph=True,
                          backend="eager")
        assert torch.equal(f(torch.ones(2)), torch.full((2,), 2.0))     # no CUDA driver: 0


@pytest.mark.gpu
def test_auto_mixers_compile_to_one_graph_on_gpu():
    """Under ``torch.compile`` on CUDA, the Mamba-2 and mLSTM mixers on ``auto`` (the kernel
    and its shared-memory check included) trace without a graph break."""
    if not (torch.cuda.is_available() and triton_available()):
        pytest.skip("needs CUDA and triton")
    from babybench.models import MIXERS, ModelConfig
    for char in ("m", "x"):
        cfg = ModelConfig(vocab_size=97, d_model=64, n_heads=4, n_layers=1, pattern=char,
                          mixer_options={"x": {"gate_softcap": 15.0}})
        mixer = MIXERS.get(char)(cfg, 0).cuda()
        x = torch.randn(2, 128, 64, device="cuda", requires_grad=True)
        torch._dynamo.reset()
        explained = torch._dynamo.explain(mixer)(x)
        assert explained.graph_break_count == 0, (char, explained.break_reasons)


def test_launch_settings_per_kernel():
    """Each kernel's value block is capped at V's power of 2, and small key blocks take their override."""
    pytest.importorskip("triton")
    from babybench.models.kernels.gla_triton import LAUNCH, LAUNCH_SMALL_K, _launch

    assert _launch("_states_fwd", 124, 128) == (1, {"BV": 128})     # mLSTM heads padded to 128
    assert _launch("_states_fwd", 64, 64) == (1, {"BV": 64})         # Mamba-2 heads of 64
    assert _launch("_out_fwd", 100, 128) == (2, {"BV": 64})
    assert _launch("_grads", 124, 128) == (2, LAUNCH["_grads"])
    assert _launch("_grads", 64, 64) == (1, {**LAUNCH["_grads"], **LAUNCH_SMALL_K["_grads"]})
    assert LAUNCH_SMALL_K["_grads"] != {k: LAUNCH["_grads"][k] for k in LAUNCH_SMALL_K["_grads"]}
    assert _launch("_grads", 20, 32)[1]["BV"] == 32
