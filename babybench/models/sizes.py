"""Model families, size presets and :func:`build_model`.

A *family* maps a layer count to a layer pattern. A *size* fixes ``d_model``
and ``n_heads`` and, per family, the layer count and MLP width that make the
non-embedding parameter count match the transformer's within 2% (a tested
contract). The table in :data:`SIZE_TABLE` is frozen data produced by
:func:`solve` - rerun ``python -m babybench.models.sizes`` after changing a
mixer and paste its output here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from babybench.errors import BabybenchError
from babybench.models.config import ModelConfig
from babybench.models.pattern import PATTERN_PRESETS
from babybench.models.xlstm import GATE_SOFTCAP
from babybench.registry import Registry, suggest


@dataclass(frozen=True)
class Family:
    """A model family: its name, how it lays out ``n_layers`` layers, and the ``torch.compile``
    mode that ``runtime.compile_mode: auto`` trains it with on CUDA."""

    name: str
    pattern: Callable[[int], str]
    description: str
    compile_mode: str = "default"


def _xlstm_pattern(n: int) -> str:
    """xLSTM[7:1]-like: mLSTM blocks with one sLSTM block per 8 layers (at least one)."""
    n_s = max(1, round(n / 8))
    s_at = {1 + i * (n // n_s) for i in range(n_s)} if n > 1 else {0}
    return "".join("s" if i in s_at else "x" for i in range(n))


FAMILIES: Registry = Registry("model family")
for _fam in [
    Family("transformer", lambda n: "a" * n, "causal attention with RoPE in every layer"),
    Family("lstm", lambda n: "l" * n, "torch.nn.LSTM (cuDNN) in every layer"),
    # xLSTM[1:0] (mLSTM only, as in xLSTM-7B): the sLSTM's per-step loop costs ~20x in
    # training speed on a GPU (see benchmarks/README.md); xlstm-71 keeps the [7:1] layout.
    # Its ~1,100 kernel launches a step keep the GPU waiting on the host; CUDA graphs took the
    # 30m step from 32.2 to 29.0 ms (H200, B = 32, T = 512; the other families gained nothing).
    Family("xlstm", lambda n: "x" * n, "xLSTM[1:0]: mLSTM blocks in every layer", "reduce-overhead"),
    Family("xlstm-71", _xlstm_pattern, "xLSTM[7:1]: mLSTM blocks with an sLSTM block per 8 layers"),
    Family("mamba", lambda n: "m" * n, "Mamba-2 (SSD) in every layer"),
    Family("hgrn2", lambda n: "h" * n, "HGRN2 gated linear recurrence in every layer"),
    Family("hybrid", PATTERN_PRESETS.get("hybrid"), "QRNN early, attention late (qqaaaa)"),
    Family("par", PATTERN_PRESETS.get("par"), "attention alternating with MLP-only blocks"),
    Family("hybrid-parallel", PATTERN_PRESETS.get("hybrid-parallel"), "[a|m] in every layer"),
]:
    FAMILIES.register(_fam.name, _fam)

#: The six families compared on the leaderboards (par / hybrid-parallel are extra presets).
MAIN_FAMILIES = ("transformer", "lstm", "xlstm", "mamba", "hgrn2", "hybrid")


@dataclass(frozen=True)
class Size:
    """A size preset: shared width, and per-family layer count and MLP width.

    Attributes:
        name: preset name.
        d_model: residual width for every family.
        n_heads: attention / multi-head mixer heads.
        ref_layers: transformer depth that defines the target parameter count.
        families: family name -> ModelConfig overrides (``n_layers``, ``mlp_hidden``, ...).
    """

    name: str
    d_model: int
    n_heads: int
    ref_layers: int
    families: dict[str, dict[str, Any]]


# Frozen output of solve(); see the module docstring.
SIZE_TABLE: dict[str, dict[str, Any]] = {
    "debug": {
        "d_model": 64, "n_heads": 4, "ref_layers": 6,
        "families": {
            "hgrn2": {"n_layers": 6, "mlp_hidden": 176},  # 302,592 non-embedding
            "hybrid": {"n_layers": 8, "mlp_hidden": 96},  # 304,576 non-embedding
            "hybrid-parallel": {"n_layers": 3, "mlp_hidden": 224},  # 306,130 non-embedding
            "lstm": {"n_layers": 4, "mlp_hidden": 192},  # 297,536 non-embedding
            "mamba": {"n_layers": 4, "mlp_hidden": 208},  # 297,560 non-embedding
            "par": {"n_layers": 7, "mlp_hidden": 176},  # 302,848 non-embedding
            "transformer": {"n_layers": 6, "mlp_hidden": 176},  # 301,888 non-embedding
            "xlstm": {"n_layers": 10, "mlp_hidden": 16, "mixer_options": {"x": {"proj_factor": 2.0}}},  # 301,584 non-embedding
            "xlstm-71": {"n_layers": 9, "mlp_hidden": 192},  # 303,168 non-embedding
        },
    },
    "small": {
        "d_model": 256, "n_heads": 4, "ref_layers": 6,
        "families": {
            "hgrn2": {"n_layers": 6, "mlp_hidden": 688},  # 4,749,312 non-embedding
            "hybrid": {"n_layers": 6, "mlp_hidden": 608},  # 4,772,608 non-embedding
            "hybrid-parallel": {"n_layers": 4, "mlp_hidden": 464},  # 4,727,648 non-embedding
            "lstm": {"n_layers": 4, "mlp_hidden": 768},  # 4,729,088 non-embedding
            "mamba": {"n_layers": 5, "mlp_hidden": 672},  # 4,742,136 non-embedding
            "par": {"n_layers": 7, "mlp_hidden": 688},  # 4,750,336 non-embedding
            "transformer": {"n_layers": 6, "mlp_hidden": 688},  # 4,746,496 non-embedding
            "xlstm": {"n_layers": 11, "mlp_hidden": 16, "mixer_options": {"x": {"proj_factor": 2.0625}}},  # 4,713,448 non-embedding
            "xlstm-71": {"n_layers": 10, "mlp_hidden": 800},  # 4,749,128 non-embedding
        },
    },
    "30m": {
        "d_model": 512, "n_heads": 8, "ref_layers": 7,
        "families": {
            "hgrn2": {"n_layers": 7, "mlp_hidden": 1376},  # 22,149,120 non-embedding
            "hybrid": {"n_layers": 7, "mlp_hidden": 1232},  # 22,170,112 non-embedding
            "hybrid-parallel": {"n_layers": 4, "mlp_hidden": 1504},  # 22,150,336 non-embedding
            "lstm": {"n_layers": 5, "mlp_hidden": 1344},  # 22,144,512 non-embedding
            "mamba": {"n_layers": 6, "mlp_hidden": 1328},  # 22,166,048 non-embedding
            "par": {"n_layers": 8, "mlp_hidden": 1456},  # 22,092,288 non-embedding
            "transformer": {"n_layers": 7, "mlp_hidden": 1376},  # 22,142,464 non-embedding
            "xlstm": {"n_layers": 14, "mlp_hidden": 16, "mixer_options": {"x": {"proj_factor": 1.9375}}},  # 22,270,368 non-embedding
            "xlstm-71": {"n_layers": 12, "mlp_hidden": 928},  # 22,162,080 non-embedding
        },
    },
    "100m": {
        "d_model": 768, "n_heads": 12, "ref_layers": 12,
        "families": {
            "hgrn2": {"n_layers": 12, "mlp_hidden": 2048},  # 84,971,520 non-embedding
            "hybrid": {"n_layers": 11, "mlp_hidden": 2112},  # 84,811,776 non-embedding
            "hybrid-parallel": {"n_layers": 7, "mlp_hidden": 2144},  # 85,021,816 non-embedding
            "lstm": {"n_layers": 9, "mlp_hidden": 1792},  # 85,004,544 non-embedding
            "mamba": {"n_layers": 10, "mlp_hidden": 2096},  # 84,964,048 non-embedding
            "par": {"n_layers": 14, "mlp_hidden": 2128},  # 85,172,736 non-embedding
            "transformer": {"n_layers": 12, "mlp_hidden": 2048},  # 84,953,856 non-embedding
            "xlstm": {"n_layers": 23, "mlp_hidden": 16, "mixer_options": {"x": {"proj_factor": 2.0}}},  # 84,629,544 non-embedding
            "xlstm-71": {"n_layers": 20, "mlp_hidden": 2688},  # 84,920,496 non-embedding
        },
    },
}

SIZES: Registry = Registry("model size")
for _name, _row in SIZE_TABLE.items():
    SIZES.register(_name, Size(name=_name, **_row))

_FIELDS = [f.name for f in dataclasses.fields(ModelConfig)]


def make_config(family: str, size: str = "debug", vocab_size: int = 16384, **overrides) -> ModelConfig:
    """The :class:`ModelConfig` for ``family`` at ``size``, with ``overrides`` applied.

    Overriding ``n_layers`` without ``pattern`` re-derives the family's pattern. A
    ``mixer_options`` override is merged into the size preset's, per mixer and key (so
    ``{"x": {"gate_softcap": 0}}`` keeps the preset's ``proj_factor``, and the parameter count).
    """
    fam, sz = FAMILIES.get(family), SIZES.get(size)
    for key in overrides:
        if key not in _FIELDS:
            raise BabybenchError(
                f"unknown model override '{key}'{suggest(key, _FIELDS)}; known: {', '.join(_FIELDS)}"
            )
    if family not in sz.families:
        raise BabybenchError(
            f"size '{size}' has no entry for family '{family}'; "
            "run `python -m babybench.models.sizes` and update SIZE_TABLE"
        )
    kw: dict[str, Any] = dict(d_model=sz.d_model, n_heads=sz.n_heads, **sz.families[family])
    preset_opts = kw.get("mixer_options") or {}
    kw.update(overrides)
    if overrides.get("mixer_options") is not None:
        kw["mixer_options"] = _merge_mixer_options(preset_opts, overrides["mixer_options"])
    if "pattern" not in overrides:
        kw["pattern"] = fam.pattern(kw["n_layers"])
    if "n_layers" not in overrides and "pattern" in overrides:
        from babybench.models.pattern import parse_pattern

        kw["n_layers"] = len(parse_pattern(kw["pattern"]))
    kw.update(family=family, size=size, vocab_size=vocab_size)
    if "x" in kw["pattern"]:  # state the cap in the config, so a saved model keeps the one it trained with
        opts = dict(kw.get("mixer_options") or {})
        opts["x"] = {"gate_softcap": GATE_SOFTCAP, **(opts.get("x") or {})}
        kw["mixer_options"] = opts
    return ModelConfig(**kw)


def _merge_mixer_options(preset: dict, override: dict) -> dict:
    """``preset`` with ``override`` laid over it, one level down (per mixer character)."""
    if not isinstance(override, dict) or not all(isinstance(o, dict) for o in override.values()):
        raise BabybenchError(f"mixer_options override {override!r}: map each mixer character to a dict "
                             "of its options, e.g. model.overrides.mixer_options.x.gate_softcap=15")
    merged = {c: dict(o) for c, o in preset.items()}
    for c, o in override.items():
        merged[c] = {**merged.get(c, {}), **o}
    return merged


def build_model(family: str, size: str = "debug", vocab_size: int = 16384, **overrides):
    """Build a :class:`~babybench.models.model.BabyLM` of ``family`` at ``size``.

    Unknown family, size or override key -> one-line "did you mean" error.
    """
    from babybench.models.model import BabyLM

    return BabyLM(make_config(family, size, vocab_size, **overrides))


# ----------------------------------------------------------------------------- solver
def _count(family: str, sz: Size, n_layers: int, mlp_hidden: int, extra: dict) -> int:
    cfg = ModelConfig(
        d_model=sz.d_model, n_heads=sz.n_heads, n_layers=n_layers, mlp_hidden=mlp_hidden,
        pattern=FAMILIES.get(family).pattern(n_layers), **extra,
    )
    return cfg.predicted_params()["non_embedding"]


def target_params(sz: Size) -> int:
    """The transformer's non-embedding count at ``sz`` (SwiGLU width 8/3 d, rounded to 16)."""
    h = ModelConfig(d_model=sz.d_model, n_heads=sz.n_heads, mlp_ratio=8 / 3).ffn_hidden
    return _count("transformer", sz, sz.ref_layers, h, {})


def solve(family: str, sz: Size, extra: dict | None = None) -> dict[str, Any]:
    """Pick ``n_layers`` and ``mlp_hidden`` so ``family`` matches the target count.

    For every depth, the MLP width (a multiple of 16) is solved from the linear
    count(h); among depths within 1.5%, the MLP width closest to 8/3 d wins.
    """
    extra = extra or {}
    target, D = target_params(sz), sz.d_model
    if set(FAMILIES.get(family).pattern(4)) == {"x"} and not extra:
        return _solve_mlstm_only(family, sz, target)
    best = None
    for n in range(1, 4 * sz.ref_layers + 1):
        c16, c32 = _count(family, sz, n, 16, extra), _count(family, sz, n, 32, extra)
        slope = (c32 - c16) / 16
        h = 16 * max(1, round((16 + (target - c16) / slope) / 16)) if slope else 16
        err = abs(_count(family, sz, n, h, extra) - target) / target
        score = (err > 0.015, abs(h / D - 8 / 3) if slope else err)
        if best is None or score < best[0]:
            best = (score, {"n_layers": n, "mlp_hidden": h, **extra}, err)
    return best[1]


def _solve_mlstm_only(family: str, sz: Size, target: int) -> dict[str, Any]:
    """mLSTM blocks carry their own up-projection and no MLP, so the width knob is
    the block's ``proj_factor`` (2 in the paper): search depth and inner width
    (a multiple of 4 * n_heads) for the closest count, preferring factors near 2."""
    D, step = sz.d_model, 4 * sz.n_heads
    best = None
    for n in range(1, 4 * sz.ref_layers + 1):
        for di in range(step, 4 * D + 1, step):
            extra = {"mixer_options": {"x": {"proj_factor": di / D}}}
            err = abs(_count(family, sz, n, 16, extra) - target) / target
            score = (err > 0.01, abs(di / D - 2), err)
            if best is None or score < best[0]:
                best = (score, {"n_layers": n, "mlp_hidden": 16, **extra})
    return best[1]


def main() -> None:  # pragma: no cover - a maintenance script
    """Print a fresh SIZE_TABLE ``families`` block for every size and family."""
    for name in SIZES.names():
        sz = SIZES.get(name)
        print(f"{name} (target {target_params(sz):,}):")
        for fam in FAMILIES.names():
            try:
                row = solve(fam, sz)
            except BabybenchError as e:
                print(f"    # {fam}: {e}")
                continue
            extra = {k: v for k, v in row.items() if k not in ("n_layers", "mlp_hidden")}
            n = _count(fam, sz, row["n_layers"], row["mlp_hidden"], extra)
            print(f'    "{fam}": {row},  # {n:,}')


if __name__ == "__main__":  # pragma: no cover
    main()
