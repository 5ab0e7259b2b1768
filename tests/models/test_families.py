"""Every family at the debug size: decode == forward, causality, loss, params."""

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.models import FAMILIES, MIXERS, SIZES, build_model, make_config
from babybench.models.sizes import MAIN_FAMILIES
from tests.models.helpers import check_causal, check_decode_matches_forward


def _available(family: str) -> bool:
    """Families whose mixers are registered (the kernels helper adds m, h, x, s)."""
    try:
        make_config(family, "debug")
        return True
    except BabybenchError:
        return False


FAMS = [f for f in FAMILIES.names() if _available(f)]


@pytest.mark.parametrize("family", FAMS)
def test_decode_and_causal(family):
    model = build_model(family, "debug", vocab_size=97)
    model.double()
    check_decode_matches_forward(model)
    check_causal(model)


@pytest.mark.parametrize("family", FAMS)
def test_loss_and_backward(family):
    model = build_model(family, "debug", vocab_size=97)
    idx = torch.randint(0, 97, (2, 16))
    out = model(idx, targets=idx)
    assert out.logits.shape == (2, 16, 97) and out.loss.dtype == torch.float32
    out.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:3]}"
    assert model.hidden_states(idx).shape == (2, 16, model.config.d_model)


def test_ignore_index_and_tied_head():
    model = build_model("transformer", vocab_size=50)
    idx = torch.randint(0, 50, (1, 8))
    targets = idx.clone()
    targets[:, :4] = -100
    full = model(idx, targets=targets).loss
    logits = model(idx).logits
    ref = torch.nn.functional.cross_entropy(logits[0, 4:], idx[0, 4:])
    torch.testing.assert_close(full, ref)
    assert model.lm_head.weight is model.embed.weight
    untied = build_model("transformer", vocab_size=50, tie_embeddings=False)
    assert untied.num_params(False) - untied.num_params() == 2 * 50 * 64


def test_build_model_errors():
    with pytest.raises(BabybenchError, match="did you mean 'transformer'"):
        build_model("transfomer")
    with pytest.raises(BabybenchError, match="did you mean '30m'"):
        build_model("transformer", "30M")
    with pytest.raises(BabybenchError, match="did you mean 'd_model'"):
        build_model("transformer", d_modle=32)
    with pytest.raises(BabybenchError, match="n_layers"):
        build_model("transformer", pattern="aaa", n_layers=2)


def test_overrides_rederive_pattern():
    cfg = make_config("hybrid", "debug", n_layers=6)
    assert cfg.pattern == "qqaaaa"
    cfg = make_config("transformer", "debug", pattern="qaqa")
    assert cfg.n_layers == 4


def test_par_and_parallel_group_shapes():
    par = build_model("par", vocab_size=31)
    assert par.blocks[1].mixer is None and par.blocks[1].mlp is not None
    grp = build_model("transformer", vocab_size=31, pattern="[a|q]a")
    assert len(grp.blocks[0].mixer.mixers) == 2
    grp.double()
    check_decode_matches_forward(grp)
    check_causal(grp)
    assert grp.num_params() == grp.config.predicted_params()["non_embedding"]


def test_mixer_registry_has_core_chars():
    assert {"a", "l", "q", "f"} <= set(MIXERS.names())
    assert set(MAIN_FAMILIES) <= set(FAMILIES.names())
    assert set(SIZES.names()) == {"debug", "small", "30m", "100m"}
