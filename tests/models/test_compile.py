"""``babybench.models.compile``: the Inductor options training compiles with."""
import pytest
import torch
import torch._inductor.config as ic

import babybench.models.compile as C


@pytest.fixture
def restore_inductor():
    saved = ic.get_config_copy()
    yield
    for key in C.INDUCTOR_DEFAULTS:
        if key in saved:
            setattr(ic, key, saved[key])


def test_defaults_are_set_and_missing_options_skipped(restore_inductor, monkeypatch):
    monkeypatch.setattr(C, "INDUCTOR_DEFAULTS", {**C.INDUCTOR_DEFAULTS, "no_such_inductor_option": 1})
    ic.static_launch_user_defined_triton_kernels = False
    applied = C.set_inductor_defaults()
    assert applied == {"static_launch_user_defined_triton_kernels": True}   # this torch has it
    assert ic.static_launch_user_defined_triton_kernels is True
    assert not hasattr(ic, "no_such_inductor_option")


def test_compile_model_sets_the_defaults_first(restore_inductor, monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda model, mode: seen.append(
        (mode, ic.static_launch_user_defined_triton_kernels)) or model)
    ic.static_launch_user_defined_triton_kernels = False
    model = torch.nn.Linear(2, 2)
    assert C.compile_model(model, "reduce-overhead") is model
    assert seen == [("reduce-overhead", True)]


def test_auto_mode_is_the_familys():
    assert C.family_compile_mode("auto", "xlstm") == "reduce-overhead"       # host-bound: CUDA graphs
    assert C.family_compile_mode("auto", "transformer") == "default"
    assert C.family_compile_mode("auto", "hf-llama") == "default"            # not a babybench family
    assert C.family_compile_mode("default", "xlstm") == "default"            # an explicit mode stays
    assert C.family_compile_mode("reduce-overhead", "mamba") == "reduce-overhead"


def _mlstm_grads(mixer, u):
    params = [u, *mixer.parameters()]
    out = mixer(u)[0]
    return [out, *torch.autograd.grad(out.square().sum(), params)]


@pytest.fixture
def no_tf32_matmuls():
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.gpu
def test_compiled_mlstm_block_matches_eager_on_gpu(restore_inductor, no_tf32_matmuls):
    """With the defaults, Inductor launches babybench's Triton kernels (conv, block-diagonal maps,
    scan) with its static launcher. Outputs and gradients equal those of the same compiled code
    with Triton's own launcher, and those of the eager block, in fp32. Against eager the
    tolerance is tf32's: the scan's fp32 dots run in tf32, so Inductor's fused fp32 arithmetic,
    one ulp off eager's, moves a product by up to ~1e-3, so each tensor is compared in norm:
    elementwise, a weight gradient summed over rows with cancellation was 3% off in one element
    of 512 (H200)."""
    from babybench.models import MIXERS, ModelConfig
    from babybench.models.kernels import triton_available

    if not triton_available():
        pytest.skip("needs triton")
    cfg = ModelConfig(vocab_size=97, d_model=64, n_heads=4, n_layers=1, pattern="x",
                      mixer_options={"x": {"gate_softcap": 15.0}})
    mixer = MIXERS.get("x")(cfg, 0).cuda()
    u = torch.randn(2, 100, 64, device="cuda", requires_grad=True)   # T not a multiple of the chunk
    ref = _mlstm_grads(mixer, u)
    runs = {}
    for static in (False, True):
        torch._dynamo.reset()
        C.set_inductor_defaults()
        ic.static_launch_user_defined_triton_kernels = static
        runs[static] = _mlstm_grads(torch.compile(mixer), u)
    for i, (a, b, r) in enumerate(zip(runs[True], runs[False], ref)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)         # only the launcher differs
        rel = ((a - r).norm() / r.norm()).item()
        assert rel < 1e-3, (i, a.shape, rel)
