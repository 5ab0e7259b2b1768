"""Zero-shot suite speed: babybench's scorer vs lm-eval (through the babybench adapter).

    python benchmarks/eval_speed.py                       # 30m transformer, random init, GPU
    python benchmarks/eval_speed.py --size debug --limit 20 --device cpu   # quick CPU check

Runs BLiMP, the BLiMP supplement, EWoK and BEAR with babybench's batched
scorer, then BLiMP through ``lm_eval.simple_evaluate`` with the ``babybench``
model type (same model, same tokenizer, lm-eval's request handling and
batch size ``--lm-eval-batch``). Prints a markdown table: per-task seconds,
the suite total and the BLiMP speed-up. Targets (H100, 30m): suite < 60 s,
speed-up >= 10x.

The tokenizer is a sentencepiece unigram model trained on the BLiMP,
supplement and BEAR sentences (EWoK text is never written to disk), unless
``--tokenizer`` names one; weights are random (speed only). Needs
``$BABYBENCH_DATA``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from babybench.eval import evaluate_model  # noqa: E402
from babybench.eval.bear import fill, load_bear  # noqa: E402
from babybench.eval.minimal_pair import load_pairs  # noqa: E402
from babybench.eval.scorer import Scorer  # noqa: E402
from babybench.eval.tasks import EVAL_DIR, get_task  # noqa: E402

SUITE = ["blimp", "blimp_supplement", "ewok", "bear"]


def build_tokenizer(vocab: int, out: Path):
    """Unigram sentencepiece on BLiMP + supplement + BEAR text (written to a temp file)."""
    import sentencepiece as spm

    from babybench.data.tokenizer import Tokenizer

    lines = [s for t in ("blimp", "blimp_supplement") for p in load_pairs(get_task(t)) for s in (p.good, p.bad)]
    for r in load_bear(get_task("bear").data_path()):
        lines += [fill(t, s, a) for t in r.templates[:1] for s, _ in r.instances[:5] for a in r.answers]
    text = out / "train.txt"
    text.write_text("\n".join(x.replace("\n", " ") for x in lines) + "\n")
    spm.SentencePieceTrainer.Train(input=str(text), model_prefix=str(out / "tokenizer"), vocab_size=vocab,
                                   model_type="unigram", pad_id=0, unk_id=1, bos_id=2, eos_id=3,
                                   hard_vocab_limit=False, byte_fallback=True, minloglevel=2,
                                   num_threads=os.cpu_count() or 1)
    return Tokenizer.load(out / "tokenizer.model")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_suite(model, tok, device, limit, tasks):
    rows = []
    scorer = Scorer(model, tok, device=device, max_tokens=65536 if device.type == "cuda" else 8192)
    evaluate_model(model, tok, "blimp_supplement", device, limit=2, scorer=scorer)  # warm-up
    for name in tasks:
        sync(device)
        t0 = time.perf_counter()
        res = evaluate_model(model, tok, name, device, limit=limit, scorer=scorer)
        sync(device)
        rows.append((name, res.n_items, time.perf_counter() - t0, res.metrics[res.headline]["value"]))
    return rows


def time_lm_eval(model, tok, limit, batch):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from babybench.eval.lm_eval_adapter import BabybenchLM

    tm = TaskManager(include_path=str(EVAL_DIR / "lm_eval"))
    lm = BabybenchLM.from_model(model, tok, batch_size=batch)
    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=["babybench_blimp"], task_manager=tm, limit=limit,
                                  bootstrap_iters=0, log_samples=False)
    sync(next(model.parameters()).device)
    return time.perf_counter() - t0, out["results"]["babybench_blimp"].get("acc,none")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="transformer")
    ap.add_argument("--size", default="30m")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--limit", type=int, default=None, help="items per paradigm/domain/relation")
    ap.add_argument("--tokenizer", help="a sentencepiece tokenizer.model (default: train one)")
    ap.add_argument("--lm-eval-batch", type=int, default=64)
    ap.add_argument("--skip-lm-eval", action="store_true")
    args = ap.parse_args()
    from babybench.data.tokenizer import Tokenizer
    from babybench.models import build_model

    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tok = Tokenizer.load(args.tokenizer) if args.tokenizer else build_tokenizer(args.vocab, Path(tmp))
        print(f"tokenizer: vocab {tok.vocab_size} ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    torch.manual_seed(0)
    model = build_model(args.family, args.size, vocab_size=max(args.vocab, tok.vocab_size)).to(device).eval()
    n_params = sum(p.numel() for p in model.parameters())
    rows = time_suite(model, tok, device, args.limit, SUITE)
    lm_eval_row = None if args.skip_lm_eval else time_lm_eval(model, tok, args.limit, args.lm_eval_batch)
    report(args, device, n_params, rows, lm_eval_row)


def report(args, device, n_params, rows, lm_eval_row) -> None:
    """Print the markdown tables (after lm-eval is done, so its logging cannot interleave)."""
    total = sum(r[2] for r in rows)
    out = [f"\n## Zero-shot suite speed: {args.family} {args.size} ({n_params / 1e6:.1f}M params), "
           f"{device}{'' if args.limit is None else f', limit {args.limit}'}\n",
           "| task | items | seconds | items/s | headline (random init) |", "|---|---:|---:|---:|---:|"]
    out += [f"| {name} | {n:,} | {s:.2f} | {n / s:,.0f} | {v:.4f} |" for name, n, s, v in rows]
    out.append(f"| **suite** | {sum(r[1] for r in rows):,} | **{total:.2f}** | | |")
    if lm_eval_row is not None:
        le_s, le_acc = lm_eval_row
        bb = next(r for r in rows if r[0] == "blimp")
        out += ["", "| BLiMP | seconds | macro acc |", "|---|---:|---:|",
                f"| babybench scorer | {bb[2]:.2f} | {bb[3]:.4f} |",
                f"| lm-eval + babybench adapter (batch {args.lm_eval_batch}) | {le_s:.2f} | {le_acc:.4f} |",
                f"| **speed-up** | **{le_s / bb[2]:.1f}x** | |", "",
                "(lm-eval counts ties as correct, babybench as half: accuracies may differ by the tie share.)"]
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    main()
