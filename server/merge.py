"""Merge a LoRA adapter into its base model: a plain model folder LightLLM can serve.

LightLLM serves Hugging Face style folders (config.json + safetensors + tokenizer), not
base + adapter, so a fine-tune (peft, or LLaMA-Factory's peft-format output) is merged
once with peft's `merge_and_unload` and written as safetensors with the tokenizer and
chat template next to it. Tokenizer files come from the adapter folder when it has them
(LLaMA-Factory saves the tokenizer and template it trained with), else from the base.

Does not quantize, does not merge several adapters, and does not check answer quality:
merging is exact up to float rounding (tests/test_merge.py compares logits).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from server.errors import ServerError

# Everything a tokenizer and its chat template may live in (sentencepiece, BPE, tiktoken).
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "tokenizer.model", "vocab.txt", "qwen.tiktoken",
    "chat_template.jinja", "chat_template.json",
)  # fmt: skip
# Read by LightLLM: get_dtype() falls back to float16 without torch_dtype in config.json.
DTYPE_NAMES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}
MAX_SHARD_SIZE = "5GB"


class MergeFailed(ServerError):
    """The base or adapter folder is missing, incomplete or does not match."""


@dataclass(frozen=True)
class MergeResult:
    out_dir: Path
    tokenizer_from: Path
    has_chat_template: bool


def _check_dirs(base_dir: Path, adapter_dir: Path) -> None:
    if not (base_dir / "config.json").is_file():
        raise MergeFailed(f"Base model folder {base_dir} has no config.json. Pass the folder of the "
                          "model the adapter was trained on (e.g. Qwen3-8B).")  # fmt: skip
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MergeFailed(f"Adapter folder {adapter_dir} has no adapter_config.json. Pass a peft / "
                          "LLaMA-Factory LoRA output folder (adapter_config.json + adapter_model.*).")  # fmt: skip


def _tokenizer_source(base_dir: Path, adapter_dir: Path) -> Path:
    has = lambda d: (d / "tokenizer_config.json").is_file() or (d / "tokenizer.json").is_file()  # noqa: E731
    return adapter_dir if has(adapter_dir) else base_dir


def _copy_tokenizer(src: Path, out_dir: Path) -> bool:
    """Copy the tokenizer files; True when a chat template came along."""
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out_dir / name)
    if (out_dir / "chat_template.jinja").is_file() or (out_dir / "chat_template.json").is_file():
        return True
    config = out_dir / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("chat_template"))


def _stamp_dtype(out_dir: Path, dtype_name: str) -> None:
    """Newer transformers write "dtype"; LightLLM reads "torch_dtype". Write both."""
    path = out_dir / "config.json"
    config = json.loads(path.read_text())
    config["torch_dtype"] = dtype_name
    config.setdefault("dtype", dtype_name)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path, dtype: str | None = None) -> MergeResult:
    """Merge `adapter_dir` into `base_dir` and write the result to `out_dir`.

    dtype: "bfloat16" | "float16" | "float32"; None keeps the base's. Merging happens in
    that dtype (float32 is exact but needs 4 bytes per parameter of memory).
    """
    import torch
    import transformers
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM

    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    _check_dirs(base_dir, adapter_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise MergeFailed(f"Output folder {out_dir} is not empty. Choose a new folder.")
    if dtype is not None and dtype not in DTYPE_NAMES:
        raise MergeFailed(f"Unknown dtype '{dtype}'. Use one of {', '.join(DTYPE_NAMES)}.")

    base_config = AutoConfig.from_pretrained(base_dir)
    base_dtype = getattr(base_config, "torch_dtype", None) or getattr(base_config, "dtype", None)
    dtype_name = dtype or str(base_dtype or "bfloat16").replace("torch.", "")
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"  # renamed in 5.0
    model = AutoModelForCausalLM.from_pretrained(base_dir, **{dtype_kw: getattr(torch, dtype_name)})

    tokenizer_from = _tokenizer_source(base_dir, adapter_dir)
    _resize_for_added_tokens(model, adapter_dir)
    try:
        merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as e:
        raise MergeFailed(f"Adapter {adapter_dir} does not fit base {base_dir}: {e}. Check that the "
                          "adapter was trained on this base model.") from e  # fmt: skip

    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True, max_shard_size=MAX_SHARD_SIZE)
    _stamp_dtype(out_dir, dtype_name)
    has_template = _copy_tokenizer(tokenizer_from, out_dir)
    return MergeResult(out_dir, tokenizer_from, has_template)


def _resize_for_added_tokens(model, adapter_dir: Path) -> None:
    """LLaMA-Factory may add tokens while training and then saves the grown embeddings with
    the adapter (modules_to_save): grow the base's embeddings to that size before loading."""
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        return
    from safetensors import safe_open

    rows = 0
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            if "embed_tokens" in key or "lm_head" in key:
                rows = max(rows, f.get_slice(key).get_shape()[0])
    if rows > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(rows)
