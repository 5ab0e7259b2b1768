"""Layer patterns: one string names the mixer of every layer.

Grammar (one token per layer)::

    pattern := layer+
    layer   := CHAR | "[" CHAR ("|" CHAR)+ "]"

``CHAR`` is a registered mixer character (``a`` attention, ``l`` LSTM, ``q``
QRNN, ``m`` Mamba-2, ``h`` HGRN2, ``x`` mLSTM, ``s`` sLSTM, ``f`` MLP-only).
A bracket group is an intra-layer parallel group: its mixers run side by side
on the same input and a learned projection merges their outputs. Groups may not
contain ``f`` or a mixer that carries its own MLP.

Examples: ``"qqaaaa"`` (recurrent early, attention late), ``"afafaf"`` (PAR),
``"[a|m][a|m]"`` (parallel hybrid). :func:`parse_pattern` returns one tuple of
characters per layer; any error names the offending character with a caret.
"""

from __future__ import annotations

from babybench.errors import BabybenchError
from babybench.models.mixers import MIXERS
from babybench.registry import Registry, suggest

# Preset patterns by name; each maps a layer count to a pattern string.
PATTERN_PRESETS: Registry = Registry("pattern preset")


@PATTERN_PRESETS.register("hybrid")
def hybrid_preset(n_layers: int) -> str:
    """QRNN for the first third of the layers, attention for the rest (``qqaaaa``)."""
    n_q = max(1, n_layers // 3)
    return "q" * n_q + "a" * (n_layers - n_q)


@PATTERN_PRESETS.register("par")
def par_preset(n_layers: int) -> str:
    """PAR: attention blocks alternating with MLP-only blocks (``afafaf``)."""
    return "".join("a" if i % 2 == 0 else "f" for i in range(n_layers))


@PATTERN_PRESETS.register("hybrid-parallel")
def hybrid_parallel_preset(n_layers: int) -> str:
    """Attention and Mamba-2 side by side in every layer (``[a|m][a|m]``)."""
    return "[a|m]" * n_layers


def _fail(pattern: str, pos: int, why: str) -> BabybenchError:
    # Dots, not spaces: BabybenchError collapses whitespace to keep one line.
    caret = "." * pos + "^"
    return BabybenchError(f"bad layer pattern: {why} at position {pos}: '{pattern}' / '{caret}'")


def _check_char(pattern: str, pos: int, in_group: bool) -> str:
    ch = pattern[pos]
    if ch not in MIXERS:
        known = MIXERS.names()
        hint = suggest(ch, known)
        raise _fail(pattern, pos, f"unknown mixer '{ch}'{hint} (known: {''.join(known)}, groups [a|m])")
    if in_group and (ch == "f" or getattr(MIXERS.get(ch), "has_mlp", False)):
        raise _fail(pattern, pos, f"mixer '{ch}' cannot sit in a parallel group")
    return ch


def parse_pattern(pattern: str) -> list[tuple[str, ...]]:
    """Parse ``pattern`` into one tuple of mixer characters per layer.

    Raises:
        BabybenchError: one line showing the pattern and a caret under the
            offending character.
    """
    if not pattern:
        raise BabybenchError("bad layer pattern: empty (expected e.g. 'aaaa' or 'qqaaaa')")
    layers: list[tuple[str, ...]] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = pattern.find("]", i)
            if j < 0:
                raise _fail(pattern, i, "unclosed '['")
            group, pos = [], i + 1
            for part in pattern[i + 1 : j].split("|"):
                if len(part) != 1:
                    raise _fail(pattern, pos, "each group member must be one mixer character")
                group.append(_check_char(pattern, pos, in_group=True))
                pos += 2
            if len(group) < 2:
                raise _fail(pattern, i, "a parallel group needs at least two mixers")
            layers.append(tuple(group))
            i = j + 1
        elif pattern[i] in "]|":
            raise _fail(pattern, i, f"unexpected '{pattern[i]}'")
        else:
            layers.append((_check_char(pattern, i, in_group=False),))
            i += 1
    return layers
