"""Track configs load, bad configs fail with one clear line."""

import pytest

from babybench import config as cfgmod
from babybench.errors import BabybenchError
from babybench.train.config import TrainRunConfig, list_tracks, load_track_config

EXPECTED_TASKS = {
    "demo": ["demo-pairs", "perplexity"],
    "strict-small": ["blimp", "blimp_supplement", "ewok", "bear", "glue", "perplexity"],
    "strict": ["blimp", "blimp_supplement", "ewok", "bear", "glue", "perplexity"],
    "tiny-de": ["clams-de", "perplexity"],
    "tiny-fr": ["clams-fr", "perplexity"],
    "tiny-tr": ["perplexity"], "tiny-eu": ["perplexity"], "tiny-sw": ["perplexity"],
    "tiny-fi": ["perplexity"],
}


@pytest.mark.parametrize("track", sorted(EXPECTED_TASKS))
def test_every_track_config_loads(track, tmp_path):
    assert track in list_tracks()
    cfg = load_track_config(track, ["seed=3"], base={"model": {"family": "hgrn2"}})
    assert cfg.track == track and cfg.seed == 3 and cfg.model.family == "hgrn2"
    assert cfg.tasks == EXPECTED_TASKS[track]
    cfgmod.save(cfg, tmp_path / "config.yaml")  # round trip through YAML
    assert cfgmod.load(TrainRunConfig, tmp_path / "config.yaml") == cfg


def test_cli_size_beats_track_default():
    cfg = load_track_config("strict-small", [], base={"model": {"family": "lstm", "size": "debug"}})
    assert cfg.model.size == "debug"


def test_unknown_key_suggests_closest():
    with pytest.raises(BabybenchError, match=r"unknown key 'lrr'.*did you mean 'lr'"):
        load_track_config("demo", ["optim.lrr=1"], base={"model": {"family": "lstm"}})


def test_bad_value_is_rejected():
    with pytest.raises(BabybenchError, match=r"optim.lr.*expected a number"):
        load_track_config("demo", ["optim.lr=fast"], base={"model": {"family": "lstm"}})
    with pytest.raises(BabybenchError, match=r"schedule.*not one of"):
        load_track_config("demo", ["optim.schedule=linear"], base={"model": {"family": "lstm"}})
    with pytest.raises(BabybenchError, match=r"compile_mode.*not one of"):
        load_track_config("demo", ["runtime.compile_mode=max-autotune"], base={"model": {"family": "lstm"}})
    cfg = load_track_config("demo", ["runtime.compile_mode=reduce-overhead"], base={"model": {"family": "lstm"}})
    assert cfg.runtime.compile_mode == "reduce-overhead"


def test_more_than_ten_epochs_is_rejected():
    with pytest.raises(BabybenchError, match=r"budget.epochs=12.*limit of 10"):
        load_track_config("demo", ["budget.epochs=12"], base={"model": {"family": "lstm"}})


def test_family_is_required_and_track_must_exist():
    with pytest.raises(BabybenchError, match=r"missing required key 'family'"):
        load_track_config("demo")
    with pytest.raises(BabybenchError, match=r"unknown track 'strict-smal'.*did you mean 'strict-small'"):
        load_track_config("strict-smal", base={"model": {"family": "lstm"}})
