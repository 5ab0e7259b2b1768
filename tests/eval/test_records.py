"""Result records: round trip, item encoding, bootstrap CIs."""

import numpy as np
import pytest

from babybench.errors import BabybenchError
from babybench.eval.records import (bootstrap_ci, build_record, decode_items, encode_items, metric,
                                    read_record, write_record)


def test_items_round_trip():
    items = np.array([2, 1, 0, 2, 2] * 1000, dtype=np.uint8)
    blob = encode_items(items)
    assert blob["encoding"] == "zlib-b64-u8" and blob["n"] == 5000
    np.testing.assert_array_equal(decode_items(blob), items)
    assert decode_items(None) is None


@pytest.mark.parametrize("macro", [False, True], ids=["micro", "macro"])
def test_bootstrap_ci_contains_estimate_and_is_seeded(macro):
    rng = np.random.default_rng(0)
    vals = rng.integers(0, 3, 2000) / 2
    groups = rng.choice(["a", "b", "c"], 2000, p=[0.7, 0.2, 0.1])
    est = np.mean([vals[groups == g].mean() for g in "abc"]) if macro else vals.mean()
    lo, hi = bootstrap_ci(vals, groups, macro=macro)
    assert lo < est < hi and hi - lo < 0.1
    assert bootstrap_ci(vals, groups, macro=macro) == (lo, hi)


def test_bootstrap_matches_index_resampling_width():
    # multinomial-over-values == resampling items: compare with a brute-force bootstrap
    rng = np.random.default_rng(3)
    vals = (rng.random(400) < 0.6).astype(float)
    lo, hi = bootstrap_ci(vals, n_resamples=4000)
    brute = [vals[rng.integers(0, 400, 400)].mean() for _ in range(4000)]
    blo, bhi = np.quantile(brute, [0.025, 0.975])
    assert abs(lo - blo) < 0.015 and abs(hi - bhi) < 0.015


def test_record_round_trip(tmp_path):
    info = {"run_id": "demo/x", "track": "demo", "command": "babybench train ...", "family": "lstm"}
    rec = build_record(run_info=info, task={"name": "blimp", "kind": "minimal_pair", "version": 1,
                                            "data_sha256": "ab", "n_items": 3},
                       metrics={"macro_accuracy": metric(0.5, (0.4, 0.6))}, headline="macro_accuracy",
                       higher_is_better=True, groups={"p": {"n": 3, "accuracy": 0.5}},
                       items=np.array([2, 1, 0]), ties=1, command="babybench evaluate x",
                       git_commit="abc", hardware="CPU", wall_s=1.23456, model_sha256="m")
    p = write_record(tmp_path / "run", rec)
    assert p == tmp_path / "run" / "results" / "blimp.json"
    back = read_record(p)
    assert back == rec and "command" not in back["run"] and back["run_id"] == "demo/x"
    assert list(decode_items(back["items"])) == [2, 1, 0]
    lo, hi = back["metrics"]["macro_accuracy"]["ci95"]
    assert lo <= back["metrics"]["macro_accuracy"]["value"] <= hi
    p.write_text("{bad")
    with pytest.raises(BabybenchError, match="corrupt"):
        read_record(p)
