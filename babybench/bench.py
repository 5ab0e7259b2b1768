"""``babybench bench <name> [args]``: run one of the scripts in ``benchmarks/``.

Benchmarks measure speed and memory; they are never timed tests. Each script
prints a markdown table last and can write JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import runpy
import sys

from babybench.errors import BabybenchError
from babybench.io import PROJECT_ROOT
from babybench.registry import Registry

BENCHMARKS: Registry[str] = Registry("benchmark")
BENCHMARKS.register("throughput", "throughput.py")          # training tokens/s per family (GPU)
BENCHMARKS.register("kernels", "kernels.py")                # recurrent kernels: fla vs chunked vs reference
BENCHMARKS.register("eval", "eval_speed.py")                # zero-shot suite vs lm-eval
BENCHMARKS.register("prepare", "prepare_tokenize.py")       # prepare + tokenizer on babylm-sample


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=BENCHMARKS.names(), help="which benchmark")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")


def run(args: argparse.Namespace) -> int:
    script = PROJECT_ROOT / "benchmarks" / BENCHMARKS.get(args.name)
    if not script.is_file():
        raise BabybenchError(f"benchmark script missing: {script}; benchmarks ship with the source checkout")
    sys.argv = [str(script), *args.args]
    runpy.run_path(str(script), run_name="__main__")
    return 0
