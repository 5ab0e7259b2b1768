"""``babybench info``: versions, data folder and what is registered."""

from __future__ import annotations

import argparse
import importlib
import platform


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    import torch

    import babybench
    from babybench.io import cache_dir, data_dir, git_commit, hardware, runs_dir

    print(f"babybench {babybench.__version__} (commit {git_commit()})")
    print(f"python {platform.python_version()}, torch {torch.__version__}, hardware: {hardware()}")
    print(f"data:  {data_dir(required=False) or 'BABYBENCH_DATA not set (downloads from official sources)'}")
    print(f"cache: {cache_dir()}")
    print(f"runs:  {runs_dir()}")
    for label, module, attr in [("families", "babybench.models", "FAMILIES"),
                                ("tasks", "babybench.eval.tasks", "TASKS"),
                                ("corpora", "babybench.data.corpus", "list_corpora")]:
        try:
            obj = getattr(importlib.import_module(module), attr)
            names = obj() if callable(obj) else obj.names()
            print(f"{label}: {', '.join(names)}")
        except Exception as e:  # info must never crash on a half-built tree
            print(f"{label}: unavailable ({type(e).__name__}: {e})")
    try:
        import fla  # noqa: F401
        print("fla: installed (Triton kernels used on CUDA)")
    except ImportError:
        print("fla: not installed (chunked PyTorch kernels)")
    return 0
