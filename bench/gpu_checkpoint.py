"""Write a random-weight, Qwen3-8B-shaped checkpoint with a working tokenizer and chat template.

Real weights cannot be downloaded on the GPU machines here, and speed depends only on the
shapes, so bench/gpu_verify.sh serves this instead. The tokenizer is built from scratch with
`tokenizers`: byte-level BPE whose merges are all byte pairs, then byte triples, padded with
special tokens to exactly the config's vocab size, so every id the random model samples
decodes to text. The answers are noise; speed and plumbing are real.

Does not produce a useful model, and does not touch the network.

    python bench/gpu_checkpoint.py --out /dev/shm/qwen3-8b-random [--shape tiny]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHAPES = {
    # Qwen3-8B's config.json (hidden 4096, 36 layers, GQA 32/8, head_dim 128)
    "qwen3-8b": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=66000),
}  # fmt: skip
BASE_VOCAB = 151643  # Qwen's ordinary tokens; specials follow (<|endoftext|> = 151643)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
INIT_STD = 0.02
SHARD_BYTES = 4 << 30


def build_tokenizer(vocab_size: int, out_dir: Path) -> None:
    """Byte-level BPE with exactly `vocab_size` ids, ChatML specials and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = SPECIAL + THINK
    base = min(BASE_VOCAB, vocab_size - len(specials))
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []
    pairs = [a + b for a in alphabet for b in alphabet]
    for a in alphabet:  # every byte pair, then pair + byte, until the base vocab is full
        for b in alphabet:
            if len(vocab) >= base:
                break
            merges.append((a, b))
            vocab[a + b] = len(vocab)
    for ab in pairs:
        for c in alphabet:
            if len(vocab) >= base:
                break
            merges.append((ab, c))
            vocab[ab + c] = len(vocab)
        if len(vocab) >= base:
            break
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    reserved = [f"<|reserved_{i}|>" for i in range(vocab_size - len(vocab) - len(specials))]
    tok.add_special_tokens(SPECIAL + reserved)
    tok.add_tokens(THINK)
    assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)
    tok.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "model_max_length": 40960,
        "model_input_names": ["input_ids", "attention_mask"], "chat_template": CHAT_TEMPLATE,
    }, indent=2))  # fmt: skip


def model_config(shape: str, vocab_size: int, eos_id: int, bos_id: int) -> dict:
    s = SHAPES[shape]
    return {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": bos_id, "eos_token_id": eos_id, "hidden_act": "silu",
        "initializer_range": INIT_STD, "max_position_embeddings": 40960, "max_window_layers": s["num_hidden_layers"],
        "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
        "use_sliding_window": False, **{**s, "vocab_size": vocab_size},
    }  # fmt: skip


def _tensors(cfg: dict):
    """(name, shape) of every Qwen3 weight, in file order."""
    h, i, d = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    yield "model.embed_tokens.weight", (cfg["vocab_size"], h)
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (q, h)
        yield p + "self_attn.k_proj.weight", (kv, h)
        yield p + "self_attn.v_proj.weight", (kv, h)
        yield p + "self_attn.o_proj.weight", (h, q)
        yield p + "self_attn.q_norm.weight", (d,)
        yield p + "self_attn.k_norm.weight", (d,)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (cfg["vocab_size"], h)


def write_weights(cfg: dict, out_dir: Path, device: str, seed: int = 0) -> int:
    """Random bf16 weights (norms = 1) in ~4 GB safetensors shards; returns total bytes."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator(device=device).manual_seed(seed)
    shards: list[dict] = [{}]
    size = total = 0
    for name, shape in _tensors(cfg):
        if len(shape) == 1:
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * INIT_STD)
            t = t.to(torch.bfloat16).cpu()
        nbytes = t.numel() * t.element_size()
        if size and size + nbytes > SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
        total += nbytes
    index = {"metadata": {"total_size": total}, "weight_map": {}}
    for k, shard in enumerate(shards, 1):
        fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out_dir / fname), metadata={"format": "pt"})
        index["weight_map"].update({name: fname for name in shard})
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return total


def make_checkpoint(out_dir: Path, shape: str = "qwen3-8b", device: str = "cuda") -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = SHAPES[shape]["vocab_size"]
    build_tokenizer(vocab_size, out_dir)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    eos, bos = tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")
    cfg = model_config(shape, vocab_size, eos, bos)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    (out_dir / "generation_config.json").write_text(
        json.dumps({"bos_token_id": bos, "eos_token_id": [eos, bos], "do_sample": False}, indent=2))
    return write_weights(cfg, out_dir, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-8b")
    ap.add_argument("--device", default="cuda", help="where the random numbers are drawn (cuda is fast)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    total = make_checkpoint(args.out, args.shape, args.device)
    print(f"wrote {args.out}: {total / 1e9:.2f} GB of bf16 weights in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
