"""Integration: the shipped task files load the real data (counts only; no model)."""

import pytest

from babybench.errors import BabybenchError
from babybench.eval.bear import load_bear
from babybench.eval.ewok import load_ewok, read_ewok_zip
from babybench.eval.glue import _rows
from babybench.eval.minimal_pair import load_pairs
from babybench.eval.tasks import data_checksum, get_task

pytestmark = pytest.mark.data


def test_blimp_counts():
    pairs = load_pairs(get_task("blimp"))
    assert len({p.group for p in pairs}) == 67 and len(pairs) == 59875
    assert {p.field for p in pairs} >= {"syntax", "semantics", "morphology"}


def test_blimp_supplement_counts_and_newlines():
    pairs = load_pairs(get_task("blimp_supplement"))
    assert len({p.group for p in pairs}) == 5 and len(pairs) == 5218
    assert any("\n" in p.good for p in pairs)


@pytest.mark.parametrize("lang", ["de", "fr", "ru", "he", "en"])
def test_clams_loads(lang):
    pairs = load_pairs(get_task(f"clams-{lang}"))
    assert len(pairs) > 1000 and all(p.good != p.bad for p in pairs[:100])


def test_ewok_counts_in_memory():
    rows = load_ewok(get_task("ewok"))
    assert len(rows) == 7618 and len({r["Domain"] for r in rows}) == 11


def test_ewok_wrong_password():
    with pytest.raises(BabybenchError, match="wrong EWoK zip password"):
        read_ewok_zip(get_task("ewok").data_path(), "nope")


def test_bear_counts_and_gold_labels():
    rels = load_bear(get_task("bear").data_path())
    assert len(rels) == 60 and sum(len(r.instances) for r in rels) == 7731
    assert {len(r.templates) for r in rels} == {3}


def test_glue_splits():
    spec = get_task("glue")
    for name in ("mnli", "mrpc", "qqp", "rte", "wsc"):
        assert _rows(spec, name, "train") and _rows(spec, name, "valid")
    for name in ("boolq", "multirc"):
        assert _rows(spec, name, "train") is None and _rows(spec, name, "valid")


def test_checksums_are_stable():
    spec = get_task("blimp_supplement")
    assert data_checksum(spec) == data_checksum(spec) and len(data_checksum(spec)) == 64
