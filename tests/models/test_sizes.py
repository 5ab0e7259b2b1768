"""Sizes are a contract: predicted == built, and families match within 2%."""

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.models import FAMILIES, SIZES, build_model, make_config
from babybench.models.model import BabyLM
from babybench.models.sizes import solve, target_params


def _entries():
    out = []
    for size in SIZES.names():
        for fam in FAMILIES.names():
            try:
                make_config(fam, size)
            except BabybenchError:
                continue  # mixer not registered yet
            out.append((fam, size))
    return out


@pytest.mark.parametrize("family,size", _entries(), ids=lambda v: str(v))
def test_predicted_equals_built(family, size):
    cfg = make_config(family, size, vocab_size=16384)
    with torch.device("meta"):
        model = BabyLM(cfg)
    pred = cfg.predicted_params()
    assert pred["non_embedding"] == model.num_params(non_embedding=True)
    assert pred["total"] == model.num_params(non_embedding=False)


@pytest.mark.parametrize("size", SIZES.names())
def test_families_match_within_2_percent(size):
    target = target_params(SIZES.get(size))
    for fam, sz in _entries():
        if sz != size:
            continue
        n = make_config(fam, size).predicted_params()["non_embedding"]
        assert abs(n - target) / target < 0.02, f"{fam}@{size}: {n:,} vs {target:,}"


def test_size_targets_roughly_as_named():
    assert 0.25e6 < target_params(SIZES.get("debug")) < 0.35e6
    assert 18e6 < target_params(SIZES.get("30m")) < 24e6
    total = make_config("transformer", "30m").predicted_params()["total"]
    assert 28e6 < total < 32e6


def test_solver_reproduces_table_for_transformer():
    sz = SIZES.get("30m")
    assert solve("transformer", sz) == sz.families["transformer"]


def test_meta_build_100m_is_cheap():
    with torch.device("meta"):
        m = build_model("transformer", "100m")
    assert m.num_params() > 80e6


def test_mixer_options_override_merges_into_the_preset():
    """Overriding one option of a mixer keeps the size preset's others (and the parameter count)."""
    base = make_config("xlstm", "30m")
    cfg = make_config("xlstm", "30m", mixer_options={"x": {"gate_softcap": 0.0}, "q": {"width": 3}})
    assert cfg.mixer_options["x"] == {"proj_factor": base.mixer_options["x"]["proj_factor"], "gate_softcap": 0.0}
    assert cfg.mixer_options["q"] == {"width": 3}
    assert cfg.predicted_params() == base.predicted_params()
    assert make_config("xlstm", "30m").mixer_options == base.mixer_options  # the preset is not mutated
    with pytest.raises(BabybenchError, match="mixer_options"):
        make_config("xlstm", "30m", mixer_options={"x": 2.0})
