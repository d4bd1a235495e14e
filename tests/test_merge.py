"""LoRA merge: the merged folder computes what base + adapter compute, and carries its tokenizer.

Everything is made here, offline: a tiny random Qwen3, a tiny random LoRA (peft,
init_lora_weights=False so B is not zero and the merge changes the weights) saved the way
peft / LLaMA-Factory save it, and a word-level tokenizer built with `tokenizers`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from server.__main__ import main as server_cli  # noqa: E402
from server.merge import MergeFailed, merge_adapter  # noqa: E402

VOCAB = 64
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _save_tokenizer(folder: Path, chat_template_file: bool = False) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    words = specials + ["user", "assistant", "\n"] + [f"w{i}" for i in range(VOCAB - len(specials) - 3)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(specials)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "unk_token": "<unk>"}  # fmt: skip
    if chat_template_file:  # newer transformers / LLaMA-Factory write the template beside
        (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    else:
        config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def base_and_adapter(tmp_path_factory) -> tuple[Path, Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3Config, Qwen3ForCausalLM

    root = tmp_path_factory.mktemp("merge")
    base, adapter = root / "base", root / "adapter"
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                         max_position_embeddings=128, tie_word_embeddings=False)  # fmt: skip
    model = Qwen3ForCausalLM(config).to(torch.float32).eval()
    model.save_pretrained(base, safe_serialization=True)
    _save_tokenizer(base)

    lora = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])  # fmt: skip
    get_peft_model(model, lora).save_pretrained(adapter)
    _save_tokenizer(adapter, chat_template_file=True)
    return base, adapter


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_merged_model_computes_base_plus_adapter(base_and_adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, adapter = base_and_adapter
    merge_adapter(base, adapter, tmp_path / "merged", dtype="float32")

    ids = torch.randint(4, VOCAB, (2, 12), generator=torch.Generator().manual_seed(1))
    plain = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32).eval()
    base_logits = _logits(plain, ids)
    with_adapter = _logits(PeftModel.from_pretrained(plain, adapter).eval(), ids)
    merged = _logits(AutoModelForCausalLM.from_pretrained(tmp_path / "merged", torch_dtype=torch.float32).eval(), ids)

    assert not torch.allclose(with_adapter, base_logits, atol=1e-3)  # the adapter does something
    torch.testing.assert_close(merged, with_adapter, atol=1e-5, rtol=1e-5)


def test_output_is_a_folder_lightllm_can_serve(base_and_adapter, tmp_path):
    from transformers import AutoTokenizer

    base, adapter = base_and_adapter
    out = tmp_path / "merged"
    result = merge_adapter(base, adapter, out)

    assert result.tokenizer_from == adapter and result.has_chat_template
    assert list(out.glob("*.safetensors")) and not list(out.glob("adapter_*"))
    config = json.loads((out / "config.json").read_text())
    assert config["torch_dtype"] == "float32"  # LightLLM reads this key for the dtype
    assert config["architectures"] == ["Qwen3ForCausalLM"]
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (out / name).is_file(), name
    prompt = AutoTokenizer.from_pretrained(out).apply_chat_template(
        [{"role": "user", "content": "w1 w2"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_tokenizer_comes_from_the_base_when_the_adapter_has_none(base_and_adapter, tmp_path):
    import shutil

    base, adapter = base_and_adapter
    bare = tmp_path / "bare_adapter"
    bare.mkdir()
    for f in adapter.glob("adapter_*"):
        shutil.copy2(f, bare / f.name)
    result = merge_adapter(base, bare, tmp_path / "merged")
    assert result.tokenizer_from == base and result.has_chat_template
    assert "chat_template" in json.loads((tmp_path / "merged" / "tokenizer_config.json").read_text())


def test_refuses_a_folder_that_is_not_an_adapter_or_a_used_output(base_and_adapter, tmp_path):
    base, adapter = base_and_adapter
    with pytest.raises(MergeFailed, match="adapter_config.json"):
        merge_adapter(base, base, tmp_path / "out")
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    with pytest.raises(MergeFailed, match="not empty"):
        merge_adapter(base, adapter, used)


def test_cli_merge(base_and_adapter, tmp_path, capsys):
    base, adapter = base_and_adapter
    out = tmp_path / "cli_merged"
    assert server_cli(["merge", "--base", str(base), "--adapter", str(adapter), "--out", str(out)]) == 0
    assert f"python -m server launch --model-dir {out}" in capsys.readouterr().out
    assert server_cli(["merge", "--base", str(base), "--adapter", str(base), "--out", str(out)]) == 1


def test_adapter_trained_with_added_tokens_grows_the_embeddings(base_and_adapter, tmp_path):
    """LLaMA-Factory's resize_vocab: new tokens, embeddings saved with the adapter."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base, _ = base_and_adapter
    grown = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32)
    grown.resize_token_embeddings(VOCAB + 4)
    lora = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "v_proj"], modules_to_save=["embed_tokens", "lm_head"])  # fmt: skip
    adapter = tmp_path / "adapter_new_tokens"
    peft_model = get_peft_model(grown, lora).eval()
    peft_model.save_pretrained(adapter)

    merge_adapter(base, adapter, tmp_path / "merged", dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", torch_dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, VOCAB + 2, 7]])  # uses a new token
    assert merged.config.vocab_size == VOCAB + 4
    torch.testing.assert_close(_logits(merged, ids), _logits(peft_model, ids), atol=1e-5, rtol=1e-5)
