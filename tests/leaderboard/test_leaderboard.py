"""Leaderboard rendering, significance markers, n/a cells, task pages, plots, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from babybench.cli import main
from babybench.leaderboard import collect, paired_bootstrap, render_track, write_track
from babybench.leaderboard.render import layout_for, LAYOUTS
from babybench.leaderboard.significance import item_groups

GOLDEN = Path(__file__).parent / "golden"


def _check_golden(name: str, text: str) -> None:
    """Compare with the golden file; UPDATE_GOLDEN=1 rewrites it (do that only deliberately)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def _row(text: str, run: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {run} |"))


def test_strict_track_matches_golden(strict_runs):
    _check_golden("strict-small.md", render_track("strict-small", collect("strict-small", strict_runs)))


def test_demo_track_matches_golden(tmp_path, lb):
    root = tmp_path / "runs"
    from babybench.data.grammar import PHENOMENA

    groups = {uid: {"n": 10, "accuracy": 0.5 + i / 40} for i, uid in enumerate(PHENOMENA)}
    for name, fam, acc in [("transformer", "transformer", 0.9), ("lstm", "lstm", 0.8)]:
        d = lb.make_run(root, "demo", name, fam, size="debug")
        lb.add_record(d, "demo-pairs", lb.items(200, acc, seed=5), groups)
    entries = collect("demo", root)
    _check_golden("demo.md", render_track("demo", entries))
    from babybench.leaderboard.render import render_task_page

    _check_golden("demo-demo-pairs.md", render_task_page("demo", "demo-pairs", entries))


def test_significance_flags_planted_difference_not_null(lb):
    items_with_accuracy = lb.items
    base = items_with_accuracy(2000, 0.7, seed=1) / 2
    better = base.copy()
    better[:400] = 1.0
    assert paired_bootstrap(better, base).marker == "↑"
    assert paired_bootstrap(base, better).marker == "↓"
    assert paired_bootstrap(base, base.copy()).marker == ""
    # two independent draws of the same accuracy: no difference claimed
    assert paired_bootstrap(items_with_accuracy(500, 0.7, 8) / 2, items_with_accuracy(500, 0.7, 9) / 2).p_value > 0.05
    assert paired_bootstrap(better, base) == paired_bootstrap(better, base)  # seeded


def _groups_of(items: np.ndarray) -> dict:
    """The record groups of 1,000 items of paradigm "a" followed by 50 of "b"."""
    return {"a": {"n": 1000, "accuracy": float(items[:1000].mean() / 2)},
            "b": {"n": 50, "accuracy": float(items[1000:].mean() / 2)}}


def test_macro_headline_gets_a_macro_test(tmp_path, lb):
    # Better on the big paradigm, much worse on the small one: micro says better, macro worse.
    base = np.concatenate([lb.items(1000, 0.7, seed=1), np.full(50, 2, np.uint8)])
    run = base.copy()
    run[:300] = 2
    run[1000:] = 0
    gb, gr = _groups_of(base), _groups_of(run)
    labels = item_groups({"groups": gr}, run)
    assert labels is not None and labels[999] == 0 and labels[1000] == 1
    macro = paired_bootstrap(run / 2, base / 2, groups=labels)
    assert macro.marker == "↓" and macro.diff == pytest.approx(
        (gr["a"]["accuracy"] + gr["b"]["accuracy"] - gb["a"]["accuracy"] - gb["b"]["accuracy"]) / 2)
    assert paired_bootstrap(run / 2, base / 2).marker == "↑"       # the micro test disagrees
    root = tmp_path / "runs"
    for name, fam, items, groups in [("transformer", "transformer", base, gb), ("hgrn2", "hgrn2", run, gr)]:
        acc = float(np.mean([g["accuracy"] for g in groups.values()]))
        lb.add_record(lb.make_run(root, "tiny-de", name, fam), "clams-de", items, groups,
                      metrics={"macro_accuracy": {"value": acc, "ci95": None}})
    text = render_track("tiny-de", collect("tiny-de", root))
    assert "↓" in _row(text, "hgrn2")
    assert "| CLAMS |" in text and "MultiBLiMP |" not in text      # no run has MultiBLiMP: no column


def test_no_marker_when_the_headline_is_not_a_mean_over_items(tmp_path, lb):
    # GLUE-like: the headline averages F1/MCC/accuracy, so an item test would not test it.
    root = tmp_path / "runs"
    base = lb.items(2000, 0.6, seed=1)
    better = base.copy()
    better[:600] = 2
    for name, fam, items, avg in [("transformer", "transformer", base, 0.60), ("hgrn2", "hgrn2", better, 0.59)]:
        lb.add_record(lb.make_run(root, "strict-small", name, fam), "glue", items,
                      metrics={"average": {"value": avg, "ci95": None}}, headline="average")
    assert paired_bootstrap(better / 2, base / 2).marker == "↑"
    row = _row(render_track("strict-small", collect("strict-small", root)), "hgrn2")
    assert "59.0" in row and "↑" not in row


def test_item_groups_refuses_a_layout_it_cannot_show(lb):
    items = np.concatenate([lb.items(1000, 0.7, seed=3), lb.items(50, 0.2, seed=4)])
    groups = _groups_of(items)
    assert item_groups({"groups": groups}, items[::-1].copy()) is None     # not paradigm after paradigm
    assert item_groups({"groups": groups}, items[:100]) is None            # sizes do not add up
    assert item_groups({}, items) is None


def test_markers_in_the_table(strict_runs):
    text = render_track("strict-small", collect("strict-small", strict_runs))
    assert "↑" in _row(text, "hgrn2-s0").split(" | ")[8]     # BLiMP column
    assert "↑" not in _row(text, "mamba-s0") and "↓" not in _row(text, "mamba-s0")
    assert "↑" not in _row(text, "transformer-s0")           # the baseline has no marker


def test_missing_metric_shows_na(strict_runs):
    text = render_track("strict-small", collect("strict-small", strict_runs))
    cells = _row(text, "lstm-s0").split(" | ")
    assert cells[8] == "n/a"                                 # no BLiMP record
    assert "n/a" in cells[-4] or "n/a" in text                # no dev BPC either
    assert " 0.0 " not in _row(text, "lstm-s0")
    assert "n/a: not measured" in text


def test_seed_groups_get_a_mean_row(strict_runs):
    text = render_track("strict-small", collect("strict-small", strict_runs))
    assert "**mean of 2 seeds**" in text and "n=2" in text


def test_completed_run_without_records_is_listed_failed_one_is_not(tmp_path, lb):
    root = tmp_path / "runs"
    d = lb.make_run(root, "strict-small", "transformer-s0", "transformer")
    lb.add_record(d, "blimp", lb.items(200, 0.7, seed=1), {"p1": {"n": 200, "accuracy": 0.7}})
    lb.make_run(root, "strict-small", "xlstm-s0", "xlstm", bpc=1.839)          # trained, not scored
    failed = lb.make_run(root, "strict-small", "mamba-s0", "mamba")
    info = json.loads((failed / "run.json").read_text())
    (failed / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    text = render_track("strict-small", collect("strict-small", root))
    row = _row(text, "xlstm-s0")
    assert "1.839" in row and row.count("n/a") >= 5
    assert "| mamba-s0 |" not in text


def test_mean_row_formats_throughput_like_its_rows(tmp_path, lb):
    root = tmp_path / "runs"
    for seed, tps in [(0, 150_000.0), (1, 152_000.0)]:
        d = lb.make_run(root, "strict-small", f"transformer-s{seed}", "transformer", seed=seed)
        info = json.loads((d / "run.json").read_text())
        info["train"]["tokens_per_s"] = tps
        (d / "run.json").write_text(json.dumps(info))
    mean = _row(render_track("strict-small", collect("strict-small", root)), "**mean of 2 seeds**")
    assert "151k" in mean and "151000" not in mean


def test_layouts_are_data():
    assert layout_for("tiny-de") is LAYOUTS["tiny-*"]
    assert layout_for("demo") is LAYOUTS["demo"]
    assert layout_for("strict") is LAYOUTS["*"]
    assert any(c.header == "CLAMS" for c in LAYOUTS["tiny-*"].columns)


def test_write_track_pages_and_plots(strict_runs, tmp_path):
    out = tmp_path / "boards"
    paths = write_track("strict-small", root=strict_runs, out_dir=out)
    names = {p.relative_to(out).as_posix() for p in paths}
    assert {"strict-small.md", "strict-small/blimp.md", "strict-small/ewok.md",
            "strict-small/score_vs_params.png", "strict-small/dev_bpc_vs_tokens.png"} <= names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "strict-small" / "blimp.md").read_text()
    assert "anaphor_agreement" in page and "babybench evaluate" in page
    ppl = (out / "strict-small" / "perplexity.md").read_text()
    assert "| 1.234 |" in ppl and "| 30.000 |" in ppl      # not shown in percent


def test_cli(strict_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BABYBENCH_RUNS", str(strict_runs))
    assert main(["leaderboard", "--all", "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    assert (tmp_path / "b" / "strict-small.md").is_file()
    assert main(["leaderboard", "nope", "--out", str(tmp_path / "b")]) == 2
    assert "no runs for track 'nope'" in capsys.readouterr().err
