"""Local BLiMP data for lm-eval (babybench): read $BABYBENCH_DATA/evaluation/blimp/<paradigm>.jsonl(.gz)."""

import os
from pathlib import Path


def load_paradigm(paradigm: str, **_ignored):
    """A DatasetDict with one split ``train`` holding the paradigm's pairs (offline, json builder)."""
    import datasets

    root = os.environ.get("BABYBENCH_DATA")
    if not root:
        raise RuntimeError("BABYBENCH_DATA is not set; point it at the babybench data folder")
    folder = Path(root) / "evaluation" / "blimp"
    path = next((p for p in (folder / f"{paradigm}.jsonl", folder / f"{paradigm}.jsonl.gz") if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"{folder}/{paradigm}.jsonl(.gz) not found")
    return datasets.load_dataset("json", data_files={"train": str(path)})
