"""PNG plots of a track: score vs non-embedding parameters, dev BPC vs tokens seen."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or the GPU box
import matplotlib.pyplot as plt  # noqa: E402

from babybench.io import atomic_path  # noqa: E402
from babybench.leaderboard.collect import RunEntry  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _task_match(e: RunEntry, pattern: str) -> str | None:
    import fnmatch

    return next((t for t in sorted(e.records) if fnmatch.fnmatch(t, pattern)), None)


def plot_score_vs_params(track: str, entries: list[RunEntry], task: str, path: Path) -> Path | None:
    """Headline score of ``task`` (pattern allowed) against non-embedding parameters, one point per run."""
    pts = []
    for e in entries:
        t = _task_match(e, task)
        m = e.metric(t) if t else None
        n = e.get("params.non_embedding")
        if m and n:
            pts.append((n, 100 * m[0], e.family))
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for fam in sorted({p[2] for p in pts}):
        xs, ys = zip(*[(p[0], p[1]) for p in pts if p[2] == fam])
        ax.scatter(xs, ys, label=fam)
    sizes = [p[0] for p in pts]
    if max(sizes) > 3 * min(sizes):  # log axis only across sizes; matched sizes read better linear
        ax.set_xscale("log")
    else:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.set_xlabel("non-embedding parameters")
    ax.set_ylabel(f"{task} headline (%)")
    ax.set_title(f"{track}: score vs size")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _dev_curve(e: RunEntry) -> list[tuple[float, float]]:
    """(tokens seen, dev BPC) from the run's train_log.jsonl; tokens from steps when not logged."""
    log = e.dir / "train_log.jsonl"
    if not log.is_file():
        return []
    steps, tokens = e.get("train.steps"), e.get("train.tokens_seen")
    per_step = tokens / steps if steps and tokens else None
    pts = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by an interrupted run
        if row.get("kind") != "dev" or row.get("bpc") is None:
            continue
        seen = row.get("tokens_seen") or (per_step * row["step"] if per_step and "step" in row else None)
        if seen is not None:
            pts.append((float(seen), float(row["bpc"])))
    return sorted(pts)


def plot_bpc_curves(track: str, entries: list[RunEntry], path: Path) -> Path | None:
    """Dev BPC against training tokens seen, one line per run."""
    curves = [(e.run_name, c) for e in entries if (c := _dev_curve(e))]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in curves:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker=".", label=name)
    ax.set_xlabel("training tokens seen")
    ax.set_ylabel("dev bits per character")
    ax.set_title(f"{track}: learning curves")
    ax.legend(fontsize=7)
    return _save(fig, path)


def write_plots(track: str, entries: list[RunEntry], out_dir: Path, task: str) -> list[Path]:
    """Write the plots that have data; return their paths."""
    made = [plot_score_vs_params(track, entries, task, out_dir / "score_vs_params.png"),
            plot_bpc_curves(track, entries, out_dir / "dev_bpc_vs_tokens.png")]
    return [p for p in made if p is not None]
