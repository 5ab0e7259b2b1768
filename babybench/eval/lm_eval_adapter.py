"""lm-evaluation-harness (0.4.x) adapter: any lm-eval task on a babybench run.

Importing this module registers the model type ``babybench``::

    from babybench.eval import lm_eval_adapter  # registers "babybench"
    lm_eval.simple_evaluate(model="babybench", model_args="run=runs/demo/x", tasks=["babybench_blimp"],
                            task_manager=lm_eval.tasks.TaskManager(include_path="evaluations/lm_eval"))

lm-eval has no plugin discovery for model types, so from the shell use the ``babybench-lm-eval``
script (or ``python -m babybench.eval.lm_eval_adapter``) with the same arguments as ``lm_eval``::

    babybench-lm-eval --model babybench --model_args run=<dir> \\
        --tasks babybench_blimp --include_path evaluations/lm_eval

Requests go through babybench's :class:`~babybench.eval.scorer.Scorer`, so
the BOS convention is the same as babybench's own tasks: ``[BOS] +
ids(context + continuation)``, continuation tokens scored. ``batch_size``
caps sequences per forward. ``generate_until`` is not supported.

:func:`write_blimp_yamls` (re)writes ``evaluations/lm_eval/babybench_blimp/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from babybench.eval.scorer import Scorer
from babybench.errors import BabybenchError


@register_model("babybench")
class BabybenchLM(LM):
    """lm-eval model type ``babybench``: loads a run folder (``run=<dir>``).

    Args:
        run: run folder or ``<track>/<run_name>`` id.
        device: torch device (default: cuda when available).
        batch_size: sequences per forward (``auto`` -> 1024).
        max_tokens: token budget per forward.
    """

    def __init__(self, run: str, device: str | None = None, batch_size: Any = 64,
                 max_batch_size: Any = None, max_tokens: int = 65536, **kwargs: Any):
        super().__init__()
        import torch

        from babybench.train.run import load_run

        model, tok, info = load_run(run)
        if not device or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        bs = 1024 if str(batch_size).startswith("auto") else int(batch_size)
        self.run_info = info
        self.scorer = Scorer(model.to(dev), tok, device=dev, max_tokens=int(max_tokens), max_batch=bs)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> "BabybenchLM":
        """``--model_args`` win over lm-eval's own settings (device, batch size) when both are given."""
        merged = {k: v for k, v in (additional_config or {}).items() if v is not None}
        merged.update(arg_dict)
        return cls(**merged)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "BabybenchLM":
        from lm_eval.utils import simple_parse_args_string

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, batch_size: int = 64, max_tokens: int = 65536) -> "BabybenchLM":
        """Wrap an in-memory model + tokenizer (tests, notebooks)."""
        obj = cls.__new__(cls)
        LM.__init__(obj)
        obj.run_info = {}
        obj.scorer = Scorer(model, tokenizer, max_tokens=max_tokens, max_batch=batch_size)
        return obj

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        """(summed log-prob of continuation, is_greedy=False) per request."""
        scores = self.scorer.score([tuple(r.args[:2]) for r in requests])
        return [(s.logprob, False) for s in scores]

    def loglikelihood_rolling(self, requests) -> list[float]:
        """Whole-text log-prob, ``[BOS] + ids(text)`` (windows of max_len when longer)."""
        out = []
        for r in requests:
            ids = [self.scorer.tok.bos_id] + self.scorer.tok.encode(r.args[0])
            step = (self.scorer.max_len or 2048) - 1
            wins = [(ids[s:s + step + 1], 1) for s in range(0, len(ids) - 1, step)]
            out.append(sum(x.logprob for x in self.scorer.score_ids(wins)))
        return out

    def generate_until(self, requests):
        raise NotImplementedError("babybench's lm-eval adapter scores log-likelihoods only; "
                                  "generate_until tasks are not supported")


# ------------------------------------------------------------------ task YAMLs
TEMPLATE = """# babybench BLiMP for lm-eval: local data from $BABYBENCH_DATA/evaluation/blimp (no download).
# Same scoring as babybench's blimp task: choices are whole sentences, empty context, no delimiter,
# so each is scored as [BOS] + ids(sentence). NOTE: lm-eval counts a tie as correct (argmax picks
# the first); babybench counts it as half.
dataset_path: json
custom_dataset: !function utils.load_paradigm
output_type: multiple_choice
test_split: train
doc_to_text: ""
target_delimiter: ""
doc_to_target: 0
doc_to_choice: "{{[sentence_good, sentence_bad]}}"
num_fewshot: 0
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def write_blimp_yamls(data_folder: str | Path, out_dir: str | Path) -> list[str]:
    """Write one YAML per paradigm found in ``data_folder`` plus the group file; return task names."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name.split(".")[0] for p in Path(data_folder).glob("*.jsonl*"))
    if not names:
        raise BabybenchError(f"{data_folder}: no BLiMP jsonl files")
    (out / "_template_yaml").write_text(TEMPLATE)
    for n in names:
        (out / f"{n}.yaml").write_text(f"include: _template_yaml\ntask: babybench_blimp_{n}\n"
                                       f"dataset_kwargs:\n  paradigm: {n}\n")
    tasks = "".join(f"  - babybench_blimp_{n}\n" for n in names)
    (out / "_babybench_blimp.yaml").write_text(
        "group: babybench_blimp\ntask:\n" + tasks +
        "aggregate_metric_list:\n  - metric: acc\n    aggregation: mean\n    weight_by_size: false\n"
        "metadata:\n  version: 1.0\n")
    return [f"babybench_blimp_{n}" for n in names]


def main(argv: list[str] | None = None) -> int:
    """``lm_eval``'s own CLI with the ``babybench`` model type registered."""
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval"] + list(sys.argv[1:] if argv is None else argv)
    cli_evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())  # the class above is registered (as __main__.BabybenchLM) before lm-eval starts
