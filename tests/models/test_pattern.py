"""Layer pattern parsing and its one-line errors."""

import pytest

from babybench.errors import BabybenchError
from babybench.models.pattern import PATTERN_PRESETS, parse_pattern


def test_parse_simple_and_groups():
    assert parse_pattern("qqaa") == [("q",), ("q",), ("a",), ("a",)]
    assert parse_pattern("a[a|q]f") == [("a",), ("a", "q"), ("f",)]


@pytest.mark.parametrize(
    "pattern,pos,why",
    [
        ("aaz", 2, "unknown mixer 'z'"),
        ("aA", 1, "unknown mixer 'A'"),
        ("a[a|q", 1, "unclosed"),
        ("a]", 1, "unexpected ']'"),
        ("[a]", 0, "at least two"),
        ("[aq]", 1, "one mixer character"),
        ("[a|f]", 3, "cannot sit in a parallel group"),
        ("", None, "empty"),
    ],
)
def test_bad_patterns_point_at_the_character(pattern, pos, why):
    with pytest.raises(BabybenchError, match=why) as e:
        parse_pattern(pattern)
    msg = str(e.value)
    assert "\n" not in msg
    if pos is not None:
        assert f"position {pos}" in msg and msg.endswith("'" + "." * pos + "^'")


def test_presets():
    assert PATTERN_PRESETS.get("hybrid")(6) == "qqaaaa"
    assert PATTERN_PRESETS.get("par")(6) == "afafaf"
    assert PATTERN_PRESETS.get("hybrid-parallel")(2) == "[a|m][a|m]"
