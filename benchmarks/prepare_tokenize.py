"""Benchmark: prepare + tokenizer (16k unigram) + shards on babylm-sample, cold cache.

    BABYBENCH_DATA=../shared/data python benchmarks/prepare_tokenize.py [--corpus NAME] [--vocab-size N]

Prints wall time per stage and peak RSS (``resource.getrusage``) as a markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="babylm-sample")
    ap.add_argument("--vocab-size", type=int, default=16384)
    ap.add_argument("--model-type", default="unigram")
    args = ap.parse_args()
    os.environ["BABYBENCH_CACHE"] = tempfile.mkdtemp(prefix="bb-bench-cache-")  # cold cache

    from babybench.data.prepare import prepare
    from babybench.data.tokenizer import encode_shards, train_tokenizer

    rows = []
    t = time.perf_counter()
    p = prepare(args.corpus)
    rows.append(("prepare", time.perf_counter() - t, peak_rss_mb(), f"{p.train_words:,} + {p.dev_words:,} words"))
    t = time.perf_counter()
    tok = train_tokenizer(p, args.vocab_size, args.model_type)
    rows.append((f"tokenizer ({args.model_type} {tok.vocab_size})", time.perf_counter() - t, peak_rss_mb(), ""))
    t = time.perf_counter()
    s = encode_shards(p, tok)
    n = s.manifest["n_tokens"]
    rows.append(("encode shards", time.perf_counter() - t, peak_rss_mb(), f"{n['train']:,} + {n['dev']:,} tokens"))
    t = time.perf_counter()
    prepare(args.corpus), train_tokenizer(p, args.vocab_size, args.model_type)
    rows.append(("warm cache (prepare + tokenizer)", time.perf_counter() - t, peak_rss_mb(), "cached"))

    print(f"\n{args.corpus}, {os.cpu_count()} CPU cores, cold cache\n")
    print("| stage | wall s | peak RSS MiB | output |\n|---|---:|---:|---|")
    for name, wall, rss, what in rows:
        print(f"| {name} | {wall:.2f} | {rss:.0f} | {what} |")
    shutil.rmtree(os.environ["BABYBENCH_CACHE"], ignore_errors=True)


if __name__ == "__main__":
    main()
