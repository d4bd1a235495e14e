"""Write a random-weight checkpoint of a real model's shape with a working tokenizer and chat template.

Real weights cannot be downloaded on the GPU machines here, and speed depends only on the
shapes, so bench/gpu_verify.sh serves this instead. Shapes: Qwen3-8B (the legal assistant),
Llama-3.1-70B (the medical fine-tune, served with --tp 2), Qwen2-VL-7B (the finance chart
model: its vision tower's weights are drawn by LightLLM's own Qwen2-VL ViT class, so the names
match what LightLLM loads, plus preprocessor_config.json), and a tiny one.

Tokenizer: with --tokenizer DIR (a tokenizer.json written by `--export-qwen-tokenizer GGUF`
from the Qwen2.5 GGUF the embedded server ships: Qwen's real 151,643-token byte-level BPE, its
merges, its pre-tokenizer regex and specials), Qwen shapes get Qwen's real tokenizer, so token
counts of Chinese prompts are the production ones; Qwen3 adds <tool_response>, </tool_response>,
<think>, </think> at 151665-151668 as Qwen3 does. Without it (and for Llama, whose tokenizer is
not available offline) the tokenizer is built from scratch: byte-level BPE whose merges are all
byte pairs, then byte triples. Either way it is padded with reserved special tokens to exactly
the config's vocab size, so every id the random model samples decodes. The answers are noise;
speed and plumbing are real.

Does not produce a useful model, and does not touch the network.

    python bench/gpu_checkpoint.py --export-qwen-tokenizer data/models/qwen2.5-0.5b.gguf --out .gpuassets/qwen-tokenizer
    python bench/gpu_checkpoint.py --out /dev/shm/qwen3-8b-random [--shape tiny] [--tokenizer .gpuassets/qwen-tokenizer]
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
    # Llama-3.1-70B(-Instruct)'s config.json (hidden 8192, 80 layers, GQA 64/8, 128256 vocab)
    "llama3-70b": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                       num_attention_heads=64, num_key_value_heads=8, head_dim=128, vocab_size=128256),
    # Qwen2-VL-7B-Instruct's config.json (language model; the ViT is VISION_CONFIG)
    "qwen2-vl-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                        num_attention_heads=28, num_key_value_heads=4, head_dim=128, vocab_size=152064),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=66000),
}  # fmt: skip
BASE_VOCAB = 151643  # Qwen's ordinary tokens; specials follow (<|endoftext|> = 151643)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]
QWEN3_ADDED = ["<tool_response>", "</tool_response>", "<think>", "</think>"]  # 151665-151668
# Qwen's pre-tokenizer (tokenizer.json of Qwen2/2.5/3): split, then byte-level
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Qwen2-VL-7B-Instruct's vision_config and preprocessor_config.json
VISION_CONFIG = dict(depth=32, embed_dim=1280, hidden_size=3584, hidden_act="quick_gelu", mlp_ratio=4,
                     num_heads=16, in_chans=3, patch_size=14, spatial_merge_size=2, spatial_patch_size=14,
                     temporal_patch_size=2)  # fmt: skip
PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
}  # fmt: skip
INIT_STD = 0.02
SHARD_BYTES = 4 << 30


def export_qwen_tokenizer(gguf_path: Path, out_dir: Path) -> None:
    """Qwen's real tokenizer.json from a Qwen2.5 GGUF's metadata (tokens, merges, specials)."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, Regex

    r = GGUFReader(str(gguf_path))
    field = lambda name: r.fields[name]  # noqa: E731
    text = lambda f, i: bytes(f.parts[f.data[i]]).decode("utf-8")  # noqa: E731
    toks, merges, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges"), field("tokenizer.ggml.token_type")
    assert text(toks, BASE_VOCAB) == "<|endoftext|>", text(toks, BASE_VOCAB)
    vocab = {text(toks, i): i for i in range(BASE_VOCAB)}
    merge_list = [tuple(text(merges, i).split(" ", 1)) for i in range(len(merges.data))]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merge_list, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = []
    for i in range(BASE_VOCAB, len(toks.data)):
        t = text(toks, i)
        if t.startswith("[PAD"):
            break
        specials.append(t)
    # Qwen marks <|...|> control tokens special; <tool_call>, </tool_call> are plain added tokens
    tok.add_tokens([AddedToken(t, special=t.startswith("<|"), normalized=False) for t in specials])
    assert tok.token_to_id("<|im_end|>") == 151645 and tok.token_to_id("<|image_pad|>") == 151655
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    print(f"{out_dir}/tokenizer.json: {tok.get_vocab_size()} ids ({len(specials)} after the BPE's {BASE_VOCAB})")


def _write_tokenizer_config(out_dir: Path) -> None:
    (out_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "model_max_length": 40960,
        "model_input_names": ["input_ids", "attention_mask"], "chat_template": CHAT_TEMPLATE,
    }, indent=2))  # fmt: skip


def _pad_to(tok, vocab_size: int) -> None:
    n = vocab_size - tok.get_vocab_size()
    assert n >= 0, (tok.get_vocab_size(), vocab_size)
    tok.add_special_tokens([f"<|reserved_{i}|>" for i in range(n)])
    assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)


def qwen_tokenizer(src_dir: Path, vocab_size: int, out_dir: Path, qwen3: bool) -> None:
    """Qwen's real tokenizer (from export_qwen_tokenizer), Qwen3's added tokens, padded."""
    from tokenizers import AddedToken, Tokenizer

    tok = Tokenizer.from_file(str(src_dir / "tokenizer.json"))
    if qwen3:
        assert tok.get_vocab_size() == 151665, tok.get_vocab_size()
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN3_ADDED])
    _pad_to(tok, vocab_size)
    tok.save(str(out_dir / "tokenizer.json"))
    _write_tokenizer_config(out_dir)


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
    _write_tokenizer_config(out_dir)


def model_config(shape: str, vocab_size: int, eos_id: int, bos_id: int) -> dict:
    s = SHAPES[shape]
    common = {"bos_token_id": bos_id, "eos_token_id": eos_id, "hidden_act": "silu", "initializer_range": INIT_STD,
              "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
              "attention_dropout": 0.0, **{**s, "vocab_size": vocab_size}}  # fmt: skip
    if shape.startswith("llama"):
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
                "mlp_bias": False, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                "pretraining_tp": 1, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192, "rope_type": "llama3"}, **common}  # fmt: skip
    if shape.startswith("qwen2-vl"):
        return {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
                "max_position_embeddings": 32768, "max_window_layers": 28, "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0, "sliding_window": 32768, "use_sliding_window": False,
                "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
                "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
                "image_token_id": 151655, "video_token_id": 151656, "vision_config": VISION_CONFIG, **common}  # fmt: skip
    return {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": False,
        "max_position_embeddings": 40960, "max_window_layers": s["num_hidden_layers"],
        "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
        "use_sliding_window": False, **common,
    }  # fmt: skip


def _tensors(cfg: dict):
    """(name, shape) of every language-model weight (Qwen3, Qwen2/Qwen2-VL, Llama), in file order."""
    h, i, d = cfg["hidden_size"], cfg["intermediate_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * d, cfg["num_key_value_heads"] * d
    qwen3, qwen2 = cfg["model_type"] == "qwen3", cfg["model_type"] == "qwen2_vl"
    yield "model.embed_tokens.weight", (cfg["vocab_size"], h)
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (q, h)
        yield p + "self_attn.k_proj.weight", (kv, h)
        yield p + "self_attn.v_proj.weight", (kv, h)
        if qwen2:  # Qwen2 has q/k/v biases
            yield p + "self_attn.q_proj.bias", (q,)
            yield p + "self_attn.k_proj.bias", (kv,)
            yield p + "self_attn.v_proj.bias", (kv,)
        yield p + "self_attn.o_proj.weight", (h, q)
        if qwen3:
            yield p + "self_attn.q_norm.weight", (d,)
            yield p + "self_attn.k_norm.weight", (d,)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (cfg["vocab_size"], h)


def _shard_plan(cfg: dict) -> list[list[tuple[str, tuple]]]:
    shards: list[list] = [[]]
    size = 0
    for name, shape in _tensors(cfg):
        nbytes = 2 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        if size and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    return shards


def _write_shards(args: tuple) -> int:
    """Write some shards (one worker: its own CUDA device and seed); returns bytes written."""
    import torch
    from safetensors.torch import save_file

    out_dir, shards, numbers, n_total, device, seed = args
    gen = torch.Generator(device=device).manual_seed(seed)
    total = 0
    for k, shard in zip(numbers, shards):
        tensors = {}
        for name, shape in shard:
            if len(shape) == 1 and not name.endswith(".bias"):
                t = torch.ones(shape, dtype=torch.bfloat16)
            else:
                t = (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * INIT_STD)
                t = t.to(torch.bfloat16).cpu()
            tensors[name] = t
            total += t.numel() * 2
        save_file(tensors, str(out_dir / f"model-{k:05d}-of-{n_total:05d}.safetensors"), metadata={"format": "pt"})
        del tensors
    return total


def write_weights(cfg: dict, out_dir: Path, device: str, seed: int = 0, workers: int = 1) -> int:
    """Random bf16 weights (norms = 1) in ~4 GB safetensors shards; returns total bytes.

    workers > 1 writes shards from that many processes (one GPU each, round robin over the
    visible GPUs): a 70B checkpoint is 141 GB and one process writes ~1-2 GB/s."""
    shards = _shard_plan(cfg)
    n = len(shards)
    index = {"metadata": {"total_size": 0}, "weight_map": {}}
    for k, shard in enumerate(shards, 1):
        index["weight_map"].update({name: f"model-{k:05d}-of-{n:05d}.safetensors" for name, _ in shard})
    if workers <= 1:
        total = _write_shards((out_dir, shards, range(1, n + 1), n, device, seed))
    else:
        import multiprocessing as mp

        import torch

        gpus = max(1, torch.cuda.device_count()) if device == "cuda" else 0
        jobs = []
        for w in range(workers):
            numbers = list(range(1 + w, n + 1, workers))
            dev = f"cuda:{w % gpus}" if gpus else device
            jobs.append((out_dir, [shards[k - 1] for k in numbers], numbers, n, dev, seed + w))
        with mp.get_context("spawn").Pool(workers) as pool:
            total = sum(pool.map(_write_shards, jobs))
    index["metadata"]["total_size"] = total
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return total


def write_vision_weights(out_dir: Path, device: str) -> int:
    """Qwen2-VL's ViT with LightLLM's own module (its default init), saved as visual.* tensors."""
    import torch
    from safetensors.torch import save_file
    from lightllm.models.qwen2_vl.qwen2_visual import Qwen2VisionTransformerPretrainedModel

    with torch.device(device):
        vit = Qwen2VisionTransformerPretrainedModel(**VISION_CONFIG)
    tensors = {"visual." + k: v.detach().to(torch.bfloat16).cpu().contiguous() for k, v in vit.state_dict().items()}
    save_file(tensors, str(out_dir / "visual.safetensors"), metadata={"format": "pt"})
    (out_dir / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2))
    return sum(t.numel() * 2 for t in tensors.values())


def make_checkpoint(out_dir: Path, shape: str = "qwen3-8b", device: str = "cuda",
                    tokenizer: Path | None = None, workers: int = 1) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = SHAPES[shape]["vocab_size"]
    if tokenizer is not None and shape.startswith("qwen"):
        qwen_tokenizer(tokenizer, vocab_size, out_dir, qwen3=shape.startswith("qwen3"))
    else:
        build_tokenizer(vocab_size, out_dir)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    eos, bos = tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")
    cfg = model_config(shape, vocab_size, eos, bos)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    (out_dir / "generation_config.json").write_text(
        json.dumps({"bos_token_id": bos, "eos_token_id": [eos, bos], "do_sample": False}, indent=2))
    total = write_weights(cfg, out_dir, device, workers=workers)
    if shape.startswith("qwen2-vl"):
        total += write_vision_weights(out_dir, device)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-8b")
    ap.add_argument("--device", default="cuda", help="where the random numbers are drawn (cuda is fast)")
    ap.add_argument("--tokenizer", type=Path, help="folder with Qwen's tokenizer.json (--export-qwen-tokenizer)")
    ap.add_argument("--workers", type=int, default=1, help="processes writing shards (one GPU each, round robin)")
    ap.add_argument("--export-qwen-tokenizer", type=Path, metavar="GGUF",
                    help="write Qwen's tokenizer.json from a Qwen2.5 GGUF into --out, then exit")
    args = ap.parse_args()
    if args.export_qwen_tokenizer:
        export_qwen_tokenizer(args.export_qwen_tokenizer, args.out)
        return
    t0 = time.perf_counter()
    total = make_checkpoint(args.out, args.shape, args.device, args.tokenizer, args.workers)
    print(f"wrote {args.out}: {total / 1e9:.2f} GB of bf16 weights in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
