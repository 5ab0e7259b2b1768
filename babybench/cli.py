"""The one command-line entry point: ``babybench <subcommand> ...``.

Subcommands are a dict from name to the module that implements them. Each
module defines ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their subcommand runs, so ``babybench info`` stays fast.
A :class:`~babybench.errors.BabybenchError` is printed as one line
(``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from babybench.errors import BabybenchError
from babybench.registry import suggest

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("babybench.data.prepare", "clean a corpus, cut it to its word budget, hold out dev"),
    "tokenizer": ("babybench.data.tokenizer", "train sentencepiece on a prepared corpus and write token shards"),
    "train": ("babybench.train.cli", "train one model (or resume a run)"),
    "evaluate": ("babybench.eval.cli", "score runs on their track's tasks, writing result records"),
    "leaderboard": ("babybench.leaderboard.cli", "result records -> leaderboards/<track>.md"),
    "demo": ("babybench.demo", "the offline CPU demo: grammar corpus -> six models -> leaderboard"),
    "bench": ("babybench.bench", "speed benchmarks (see benchmarks/)"),
    "info": ("babybench.info", "versions, data folder, registered families and tasks"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babybench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown subcommand '{name}'{suggest(name, list(SUBCOMMANDS))}; "
              f"known: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"babybench {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except BabybenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; completed outputs were written atomically and can be resumed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
