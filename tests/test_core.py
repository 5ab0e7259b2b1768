"""The spine's shared pieces: registry, configs, atomic io, CLI dispatch."""

import gzip
import json
from dataclasses import dataclass, field

import pytest

from babybench import config
from babybench.cli import main
from babybench.errors import BabybenchError
from babybench.io import atomic_path, atomic_write_json, read_jsonl, read_text
from babybench.registry import Registry


def test_registry_did_you_mean():
    reg = Registry("model family")
    reg.register("hgrn2", 1)
    reg.register("transformer", 2)
    assert reg.get("hgrn2") == 1
    with pytest.raises(BabybenchError, match=r"did you mean 'hgrn2'"):
        reg.get("hgrn")


@dataclass
class _Train:
    lr: float = 3e-4
    steps: int = 10
    schedule: str = "cosine"


@dataclass
class _Run:
    name: str
    seed: int = 0
    train: _Train = field(default_factory=_Train)


def test_config_overrides_and_types(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("name: x\ntrain:\n  steps: 5\n")
    cfg = config.load(_Run, p, ["train.lr=1e-3", "seed=3"])
    assert cfg.train.lr == 1e-3 and cfg.train.steps == 5 and cfg.seed == 3
    config.save(cfg, tmp_path / "out.yaml")
    assert config.load(_Run, tmp_path / "out.yaml") == cfg


def test_config_unknown_key_names_closest(tmp_path):
    with pytest.raises(BabybenchError, match=r"unknown key 'lrr'.*did you mean 'lr'"):
        config.load(_Run, None, ["name=x", "train.lrr=1"])


def test_config_missing_required_and_bad_type():
    with pytest.raises(BabybenchError, match="missing required key 'name'"):
        config.from_dict(_Run, {})
    with pytest.raises(BabybenchError, match="expected an integer"):
        config.from_dict(_Run, {"name": "x", "train": {"steps": "many"}})


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_read_plain_and_gz(tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("world\n")
    assert read_text(tmp_path / "a.txt") == "hello\n"
    assert read_text(tmp_path / "b.txt") == "world\n"  # finds b.txt.gz


def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(BabybenchError, match=r"x.jsonl:2: malformed JSON"):
        read_jsonl(p)


def test_non_utf8_is_one_line_error(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"caf\xe9\n")
    with pytest.raises(BabybenchError, match="not valid UTF-8"):
        read_text(p)


def test_cli_unknown_subcommand(capsys):
    assert main(["trian"]) == 2
    assert "did you mean 'train'" in capsys.readouterr().err


def test_git_commit_env_fallback(monkeypatch):
    from babybench.io import git_commit

    monkeypatch.setenv("BABYBENCH_GIT_COMMIT", "abc123+dirty")
    assert git_commit() == "abc123+dirty"


def test_read_json_errors_name_file_and_fix(tmp_path):
    from babybench.io import read_json

    with pytest.raises(BabybenchError, match=r"missing.json not found; do X"):
        read_json(tmp_path / "missing.json", "do X")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BabybenchError, match=r"bad.json: corrupt JSON .*; do X"):
        read_json(tmp_path / "bad.json", "do X")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(BabybenchError, match=r"list.json: expected a JSON object"):
        read_json(tmp_path / "list.json", "do X")
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json", "do X") == {"a": 1}
