"""The demo: argument parsing, and the smoke version end to end (two families, a few steps)."""

import argparse

import pytest

from babybench import demo


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_arguments():
    a = _args("--quick", "--steps", "5", "--families", "lstm,mamba")
    assert a.quick and a.steps == 5 and a.families == "lstm,mamba"
    assert _args().steps is None and set(demo.FAMILIES) == {
        "transformer", "lstm", "xlstm", "mamba", "hgrn2", "hybrid"}


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "boards"
    summary = demo.run_demo(demo.QUICK_FAMILIES, steps=demo.QUICK_STEPS, out_dir=out, quick=True)
    assert set(summary["runs"]) == set(demo.QUICK_FAMILIES)
    text = (out / "demo.md").read_text()
    for family in demo.QUICK_FAMILIES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {family}-debug-s0 |"))
        assert "n/a" not in row.split(" | ")[8]              # demo-pairs score present
        acc, bpc = summary["scores"][family]
        assert 0.0 <= acc <= 1.0 and bpc > 0
    assert (out / "demo" / "demo-pairs.md").is_file()
    assert (out / "demo" / "score_vs_params.png").is_file()
    assert demo.run(_args("--quick", "--out", str(out), "--families", "lstm")) == 0  # the CLI entry
