"""save_model / load_model, the HF adapter, and lm-eval's HFLM on a tiny model."""

import json

import pytest
import torch

from babybench.errors import BabybenchError
from babybench.models import build_model, load_model, save_model


@pytest.fixture
def saved(tmp_path):
    model = build_model("hybrid", vocab_size=64).eval()
    save_model(model, tmp_path / "ckpt")
    return model, tmp_path / "ckpt"


def test_round_trip_same_logits(saved):
    model, d = saved
    idx = torch.randint(0, 64, (2, 9))
    torch.testing.assert_close(load_model(d)(idx).logits, model(idx).logits)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["model_type"] == "babybench" and "auto_map" in cfg


def test_corrupt_and_mismatched_checkpoints(saved):
    model, d = saved
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BabybenchError, match="model.safetensors"):
        load_model(d)
    save_model(model, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["d_model"] = 32
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BabybenchError, match="does not match config.json"):
        load_model(d)
    (d / "config.json").write_text("{broken")
    with pytest.raises(BabybenchError, match="config.json: corrupt JSON"):
        load_model(d)
    with pytest.raises(BabybenchError, match="no model config"):
        load_model(d / "nowhere")


def test_auto_model_from_pretrained(saved):
    from transformers import AutoModelForCausalLM

    model, d = saved
    hf = AutoModelForCausalLM.from_pretrained(str(d), trust_remote_code=True).eval()
    assert type(hf).__name__ == "BabybenchForCausalLM"
    idx = torch.randint(0, 64, (2, 9))
    torch.testing.assert_close(hf(input_ids=idx).logits, model(idx).logits)
    loss = hf(input_ids=idx, labels=idx).loss
    assert torch.isfinite(loss)


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "<s>", "</s>"] + "the cat dog sat ran on a mat".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.mark.slow
def test_lm_eval_hflm_loglikelihood(saved):
    pytest.importorskip("accelerate", reason="lm-eval's HFLM needs accelerate")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM

    _, d = saved
    hf = AutoModelForCausalLM.from_pretrained(str(d), trust_remote_code=True)
    lm = HFLM(pretrained=hf, tokenizer=_tiny_tokenizer(), batch_size=2, device="cpu")
    reqs = [Instance("loglikelihood", {}, ("the cat", " sat on a mat"), 0),
            Instance("loglikelihood", {}, ("the dog", " ran"), 1)]
    out = lm.loglikelihood(reqs)
    assert len(out) == 2 and all(ll < 0 and torch.isfinite(torch.tensor(ll)) for ll, _ in out)


def test_xlstm_config_states_its_gate_cap_and_old_configs_load_uncapped(tmp_path):
    """New xLSTM configs write the cap; a config saved before the cap existed loads without it,
    as it was trained."""
    torch.manual_seed(0)
    model = build_model("xlstm", "debug", vocab_size=97)
    save_model(model, tmp_path / "new")
    saved = json.loads((tmp_path / "new" / "config.json").read_text())
    assert saved["mixer_options"]["x"]["gate_softcap"] == 15.0
    assert load_model(tmp_path / "new").blocks[0].mixer.gate_softcap == 15.0
    del saved["mixer_options"]["x"]["gate_softcap"]                # as written before the cap
    (tmp_path / "new" / "config.json").write_text(json.dumps(saved))
    assert load_model(tmp_path / "new").blocks[0].mixer.gate_softcap == 0.0
