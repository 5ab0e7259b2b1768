"""A thin Hugging Face adapter, so any babybench checkpoint loads with ``from_pretrained``.

``save_model`` writes ``config.json`` with ``model_type: "babybench"`` and an
``auto_map`` pointing at two tiny shim files it writes beside the weights, so::

    AutoModelForCausalLM.from_pretrained(run_dir, trust_remote_code=True)

returns a :class:`BabybenchForCausalLM` wrapping the same :class:`BabyLM`. The
weights are stored under the ``model.`` prefix, which is this wrapper's layout.
"""

from __future__ import annotations

import dataclasses

import torch
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from babybench.models.config import ModelConfig
from babybench.models.model import BabyLM

_FIELDS = [f.name for f in dataclasses.fields(ModelConfig)]


class BabybenchConfig(PretrainedConfig):
    """HF config holding every :class:`ModelConfig` field as a plain attribute."""

    model_type = "babybench"
    attribute_map = {
        "hidden_size": "d_model",
        "num_hidden_layers": "n_layers",
        "num_attention_heads": "n_heads",
        "max_position_embeddings": "max_seq_len",
    }

    def __init__(self, **kwargs):
        defaults = ModelConfig().to_dict()
        for name in _FIELDS:
            setattr(self, name, kwargs.pop(name, defaults[name]))
        kwargs.setdefault("tie_word_embeddings", self.tie_embeddings)
        kwargs.setdefault("bos_token_id", 2)
        kwargs.setdefault("eos_token_id", 3)
        kwargs.setdefault("pad_token_id", 0)
        super().__init__(**kwargs)

    def to_model_config(self) -> ModelConfig:
        """The babybench :class:`ModelConfig` described by this HF config."""
        return ModelConfig(**{name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> "BabybenchConfig":
        """Wrap a :class:`ModelConfig`."""
        return cls(**cfg.to_dict())


class BabybenchForCausalLM(PreTrainedModel, GenerationMixin):
    """``PreTrainedModel`` around :class:`BabyLM`; no KV cache through HF (full recompute)."""

    config_class = BabybenchConfig
    base_model_prefix = "model"
    _tied_weights_keys = {"model.lm_head.weight": "model.embed.weight"}
    _no_split_modules = ["Block"]

    def __init__(self, config: BabybenchConfig, model: BabyLM | None = None):
        super().__init__(config)
        self.model = model if model is not None else BabyLM(config.to_model_config())
        self.post_init()

    def _init_weights(self, module):
        pass  # BabyLM initialises itself; checkpoints overwrite everything

    def get_input_embeddings(self):
        return self.model.embed

    def set_input_embeddings(self, value):
        self.model.embed = value

    def get_output_embeddings(self):
        return self.model.lm_head

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        """Logits for ``input_ids`` (B, T); right padding needs no mask in a causal LM."""
        logits = self.model(input_ids).logits  # (B, T, V)
        loss = None
        if labels is not None:  # HF convention: labels are inputs, shifted here
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        return {"input_ids": input_ids, "attention_mask": attention_mask}
