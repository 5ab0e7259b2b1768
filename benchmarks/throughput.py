"""Training throughput (tokens/s) and peak memory per family, plus HF / fla peers.

One step = forward + backward + AdamW step, bf16 autocast on CUDA, timed after
warm-up with CUDA events (median of ``--steps``). ``host ms`` is the CPU's time to issue the
step (its Python, autograd and kernel launches, up to the synchronize). Close to ``step ms``,
the GPU waited on the CPU, or the CPU on a full launch queue (a profile shows which: gaps
between kernels mean the former; then fewer launches or CUDA graphs help). ``--compile-mode auto``
(the default) compiles each family in the mode training picks (``runtime.compile_mode: auto``: CUDA
graphs for xlstm), and the table's ``compiled`` column names it. Each model runs in a fresh
process (``--in-process`` times them all in this one).
Compiled models get the Inductor options training sets (``babybench.models.compile``);
``--inductor KEY=VALUE`` sets a ``torch._inductor.config`` option on top, in each process before it
compiles (to time one with committed code, e.g. ``--compile --inductor combo_kernels=True``).
Prints a markdown table and writes JSON to ``--out``. CPU smoke test::

    python benchmarks/throughput.py --size debug --batch 2 --seq 64 --steps 2 --warmup 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import yaml

from babybench.config import parse_overrides
from babybench.errors import BabybenchError
from babybench.models import build_model
from babybench.models.compile import family_compile_mode, set_inductor_defaults
from babybench.models.sizes import MAIN_FAMILIES, make_config
from babybench.registry import suggest


def _llama_peer(size: str, vocab: int, seq: int):
    """HF LlamaForCausalLM with the transformer family's shape."""
    from transformers import LlamaConfig, LlamaForCausalLM

    c = make_config("transformer", size, vocab)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=c.d_model, intermediate_size=c.ffn_hidden,
                      num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads,
                      max_position_embeddings=max(seq, 2048), tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    return LlamaForCausalLM(cfg)


def _fla_hgrn2_peer(size: str, vocab: int, seq: int):
    """fla's HGRN2ForCausalLM with the hgrn2 family's shape (needs fla)."""
    from fla.models import HGRN2Config, HGRN2ForCausalLM

    c = make_config("hgrn2", size, vocab)
    cfg = HGRN2Config(vocab_size=vocab, hidden_size=c.d_model, num_hidden_layers=c.n_layers,
                      num_heads=c.n_heads, intermediate_size=c.ffn_hidden, tie_word_embeddings=True)
    return HGRN2ForCausalLM(cfg)


PEERS = {"hf-llama": _llama_peer, "fla-hgrn2": _fla_hgrn2_peer}


def _lift_fla_hopper_guard() -> None:
    """Let fla 0.6 run its gated chunk backward on Hopper with Triton >= 3.4, < 3.7.1.

    fla refuses it there because that Triton miscompiles the kernel into wrong gradients
    (fla #640). The kernel's speed is still what fla would run, so ``--fla-unchecked``
    lifts the guard to time fla HGRN2 as a peer; its loss curve would not be valid."""
    import fla.ops.common.chunk_o as chunk_o  # ImportError: the row says fla is not installed

    chunk_o.TRITON_ABOVE_3_7_1 = True


def inductor_options(items: list[str]) -> dict:
    """``--inductor KEY=VALUE`` items as ``{key: value}`` (values parsed as YAML), checked against
    ``torch._inductor.config``: an unknown key, or a value of another type than the option's
    default, is a one-line error."""
    import torch._inductor.config as ic

    known, out = ic.get_config_copy(), {}
    for item in items:
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep:
            raise BabybenchError(f"--inductor '{item}' must look like KEY=VALUE, e.g. combo_kernels=True")
        if key not in known:
            raise BabybenchError(f"--inductor: torch._inductor.config has no option '{key}'{suggest(key, list(known))}")
        value, default = yaml.safe_load(raw), known[key]
        widened = isinstance(default, float) and type(value) is int   # 1 for 1.0, but not True for 1
        if default is not None and not (type(value) is type(default) or widened):
            raise BabybenchError(f"--inductor {key}={raw}: expected type {type(default).__name__} "
                                 f"(default {default!r})")
        out[key] = value
    return out


def apply_inductor_options(options: dict) -> dict:
    """Set ``options`` (from :func:`inductor_options`) in ``torch._inductor.config``; returns them
    as read back from it."""
    import torch._inductor.config as ic

    for key, value in options.items():
        *path, leaf = key.split(".")
        node = ic
        for part in path:
            node = getattr(node, part)
        setattr(node, leaf, value)
    return {key: ic.get_config_copy()[key] for key in options}


def _loss(model, idx, peer: bool):
    if peer:  # HF shifts labels itself
        return model(input_ids=idx, labels=idx).loss
    return model(idx[:, :-1], targets=idx[:, 1:]).loss


def row_compile_mode(mode: str, name: str, peer: bool, device) -> str:
    """The torch.compile mode of one row: ``mode`` as training resolves it (``auto``: the family's;
    peers ``default``), and ``default`` off CUDA, where torch.compile runs no CUDA graphs, so the
    row's ``compiled`` column names what ran."""
    mode = family_compile_mode(mode, "" if peer else name)
    return "default" if mode == "reduce-overhead" and device.type != "cuda" else mode


def bench_one(name, model, args, device, peer=False) -> dict:
    """Time ``args.steps`` training steps after ``args.warmup`` warm-up steps."""
    model = model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    if args.compile:  # a model compiled after others in one process ran slower: start clean
        torch._dynamo.reset()
    mode = row_compile_mode(args.compile_mode, name, peer, device) if args.compile else None
    step_model = torch.compile(model, mode=mode) if args.compile else model
    graphs = args.compile and device.type == "cuda" and mode == "reduce-overhead"
    idx = torch.randint(0, args.vocab, (args.batch, args.seq + 1), device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, host = [], []
    for i in range(args.warmup + args.steps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        t0 = time.perf_counter()
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with amp:
            loss = _loss(step_model, idx, peer)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        issued = time.perf_counter() - t0
        if cuda:
            end.record()
            torch.cuda.synchronize()
            dt = start.elapsed_time(end) / 1000
        else:
            dt = time.perf_counter() - t0
        if i >= args.warmup:
            times.append(dt)
            host.append(issued)
    med = statistics.median(times)
    return {
        "name": name, "params": n_params, "tokens_per_s": args.batch * args.seq / med,
        "step_ms": med * 1000, "host_ms": statistics.median(host) * 1000,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "loss": float(loss), "pid": os.getpid(), "compile_mode": mode,
    }


def _table(rows: list[dict]) -> str:
    ref = next((r["tokens_per_s"] for r in rows if r["name"] == "transformer" and "error" not in r), None)
    lines = ["| model | params | tokens/s | vs transformer | step ms | host ms | peak GB | compiled |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | - | failed: {r['error'][:60]} | | | | | |")
            continue
        rel = f"{r['tokens_per_s'] / ref:.2f}x" if ref else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] is not None else "-"
        lines.append(f"| {r['name']} | {r['params'] / 1e6:.1f}M | {r['tokens_per_s']:,.0f} | {rel} "
                     f"| {r['step_ms']:.1f} | {r['host_ms']:.1f} | {mem} | {r['compile_mode'] or 'no'} |")
    return "\n".join(lines)


def _run_here(name: str, peer: bool, args, device) -> dict:
    """Build and time one model in this process; a failure becomes a row with its error."""
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        if args.fla_unchecked and name.startswith("fla-"):
            _lift_fla_hopper_guard()
        if args.compile:
            set_inductor_defaults()             # as training compiles; --inductor may override them
        inductor = apply_inductor_options(inductor_options(args.inductor))
        model = (PEERS[name](args.size, args.vocab, args.seq) if peer
                 else build_model(name, args.size, args.vocab, **parse_overrides(args.set)))
        return {**bench_one(name, model, args, device, peer), **({"inductor": inductor} if inductor else {})}
    except ImportError as e:
        return {"name": name, "error": f"not installed ({e.name})"}
    except Exception as e:  # keep going: one broken family must not hide the rest
        return {"name": name, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _run_isolated(name: str, peer: bool, args) -> dict:
    """Time one model in a fresh Python process, as training runs one model per process: on an
    H200 the same model compiled after others in one process trained 12-17% slower."""
    opts = {"--families": "" if peer else name, "--peers": name if peer else "", "--size": args.size,
            "--batch": args.batch, "--seq": args.seq, "--vocab": args.vocab, "--steps": args.steps,
            "--warmup": args.warmup, "--compile-mode": args.compile_mode}
    flags = [f for f, on in (("--compile", args.compile), ("--fla-unchecked", args.fla_unchecked)) if on]
    sets = [x for kv in args.set for x in ("--set", kv)] + [x for kv in args.inductor for x in ("--inductor", kv)]
    cmd = [sys.executable, __file__, "--in-process", *flags, *sets, *(str(x) for kv in opts.items() for x in kv)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"name"')]
    if rows:
        return rows[-1]
    last = (out.stderr.strip().splitlines() or ["no output"])[-1]
    return {"name": name, "error": f"exit {out.returncode}: {last}"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(MAIN_FAMILIES), help="comma list of families")
    p.add_argument("--peers", default="hf-llama,fla-hgrn2",
                   help="comma list (hf-llama, fla-hgrn2) or ''; fla-hgrn2 autotunes for minutes on a "
                        "fresh machine unless benchmarks/fla_warm.py has filled TRITON_CACHE_DIR")
    p.add_argument("--size", default="30m")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--compile-mode", default="auto", choices=["auto", "default", "reduce-overhead"],
                   help="torch.compile mode with --compile, as runtime.compile_mode (auto = each family's "
                        "training mode, CUDA graphs for xlstm; reduce-overhead = CUDA graphs; peers: default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override for the babybench families, e.g. n_layers=4 (repeatable)")
    p.add_argument("--inductor", action="append", default=[], metavar="KEY=VALUE",
                   help="a torch._inductor.config option, set before compiling, e.g. combo_kernels=True (repeatable)")
    p.add_argument("--out", default=None, help="write JSON results here")
    p.add_argument("--fla-unchecked", action="store_true",
                   help="time fla peers past fla's Hopper/Triton guard (fla #640): speed only, wrong gradients")
    p.add_argument("--in-process", action="store_true",
                   help="time every model in this process (default: a fresh process per model)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        inductor_options(args.inductor)             # a typo fails here, before any model is built
    except BabybenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    jobs = [(f, False) for f in filter(None, args.families.split(","))]
    jobs += [(n, True) for n in filter(None, args.peers.split(","))]
    rows = []
    for name, peer in jobs:
        rows.append(_run_here(name, peer, args, device) if args.in_process else _run_isolated(name, peer, args))
        print(json.dumps(rows[-1]), flush=True)
    meta = {k: getattr(args, k) for k in ("size", "batch", "seq", "vocab", "steps", "warmup", "compile",
                                          "compile_mode", "set", "inductor", "fla_unchecked", "in_process")}
    meta["device"] = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    if args.out:
        from babybench.io import atomic_write_json

        atomic_write_json(args.out, {"config": meta, "results": rows})
    print(f"\n{meta}\n\n{_table(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
