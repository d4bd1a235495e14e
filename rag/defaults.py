"""Build the default parts from settings, in one place (the app, the CLIs, the pages and the
benches use it): embedder, KB library, retriever (with the reranker when configured, and the
served model's query rewrite and listwise rerank when the endpoint turns them on), chat
client, and the sampling and context budget of an answer for an endpoint.

Everything else in rag/ takes finished parts as arguments; this module is the only one that
knows which embedder, store, reranker and model the settings ask for.

Does not: know where the default KB's statutes come from. settings.default_kb_source names a
KbSource ("knowledge.builder:SOURCE" by default), loaded by name when first needed, so the
statute sources in knowledge/ import rag/ and never the other way round.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Callable

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.answer.budget import context_chars
from rag.answer.reading import ReadingClock
from rag.assistant import Assistant, Sampling
from rag.prompts import ANSWER_SAMPLING, LLM_RERANK_SAMPLING
from rag.retrieval.embeddings import make_embedder, make_reranker
from rag.errors import KnowledgeBaseError
from rag.ingest import reembed
from rag.kb import KnowledgeBase, KnowledgeBases, LawInfo, Progress
from rag.retrieval.hybrid import HybridRetriever
from rag.retrieval.llm_rerank import LlmReranker
from rag.retrieval.rewrite import QueryRewriter
from rag.store.lance import LanceLibrary
from settings import Endpoint, Settings, get_settings

THINKING_MAX_TOKENS = 4096  # reasoning comes out of the same token budget as the answer


@dataclass(frozen=True)
class KbSource:
    """Where the default KB's statutes come from: `build` fills an empty (or half-built) KB,
    `law_info` gives a law title's status and dates (to mark uploaded statutes)."""
    build: Callable[[KnowledgeBase, "Progress | None"], object]
    law_info: LawInfo
    description: str


@cache
def kb_source(spec: str) -> KbSource:
    """The KbSource named "module:object" (settings.default_kb_source)."""
    module, _, name = spec.partition(":")
    try:
        source = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise KnowledgeBaseError(f"默认知识库来源 {spec!r} 无法加载 / default_kb_source {spec!r} "
                                 f"cannot be loaded: {e}") from e
    if not isinstance(source, KbSource):
        raise KnowledgeBaseError(f"default_kb_source {spec!r} is a {type(source).__name__}, not a KbSource")
    return source


def embedder_from(settings: Settings) -> BaseEmbedding:
    return make_embedder(settings.embed_model, settings.models_dir)


def store_from(settings: Settings):
    """The KB store the settings ask for: PostgreSQL + pgvector when database_url is set,
    LanceDB folders in data_dir otherwise."""
    if settings.database_url:
        from rag.store.pg import PgLibrary

        return PgLibrary(settings.database_url, settings.database_schema, settings.data_dir / "cache")
    return LanceLibrary(settings.kb_dir, settings.vector_uri, logs_dir=settings.data_dir)


def library_from(settings: Settings, embedder: BaseEmbedding | None = None) -> KnowledgeBases:
    """The KB library; the embedder is loaded on first use (listing needs none). KBs embedded
    by another model are re-embedded on open; uploads get law status from the default source."""
    return KnowledgeBases(store_from(settings), embedder or (lambda: embedder_from(settings)),
                          law_info=lambda title: kb_source(settings.default_kb_source).law_info(title),
                          reembed=reembed)


def open_kb(library: KnowledgeBases, name: str, default_name: str,
            progress: Progress | None = None, source: str | None = None) -> KnowledgeBase:
    """Open a KB; the default one is built on first use from `source` (default:
    settings.default_kb_source)."""
    source = source or get_settings().default_kb_source
    if name == default_name and not library.exists(name):
        found = kb_source(source)
        try:
            kb = library.create(name, found.description)
        except KnowledgeBaseError:  # another process created it a moment ago: build what is missing
            kb = library.open(name, progress)
        found.build(kb, progress)
        return kb
    if name == default_name:
        kb = library.open(name, progress)
        if not kb.articles:  # a first build that was interrupted
            kb_source(source).build(kb, progress)
        return kb
    return library.open(name, progress)


def reranker_from(settings: Settings):
    """The configured cross-encoder (the shipped legal-reranker by default), or None when
    settings.rerank_model is empty."""
    if not settings.rerank_model:
        return None
    return make_reranker(settings.rerank_model, settings.models_dir)


def retriever_from(settings: Settings, kb: KnowledgeBase, reranker=None, llm=None) -> HybridRetriever:
    """The retriever for a KB; the configured reranker is loaded unless one is passed in. With
    `llm` (a ChatClient), its endpoint's `query_rewrite` and `llm_rerank` switches add those
    steps (both off by default)."""
    rewriter, llm_reranker = llm_steps_for(llm)
    return HybridRetriever(kb, kb.embedder, reranker if reranker is not None else reranker_from(settings),
                           rewriter=rewriter, llm_reranker=llm_reranker)


def llm_steps_for(llm, rewrite: bool | None = None, rerank: bool | None = None):
    """(QueryRewriter | None, LlmReranker | None) for a chat client, as its endpoint's switches
    say (or as `rewrite` / `rerank` say, for benchmarks). The candidates' text is sized to the
    endpoint's window; a <think> model is asked not to think."""
    if llm is None:
        return None, None
    endpoint: Endpoint = llm.endpoint
    rewrite = endpoint.query_rewrite if rewrite is None else rewrite
    rerank = endpoint.llm_rerank if rerank is None else rerank
    no_think = {"chat_template_kwargs": {"enable_thinking": False}} if endpoint.thinking else {}
    budget = context_chars(endpoint.request_tokens, LLM_RERANK_SAMPLING["max_tokens"])
    return (QueryRewriter(llm, no_think) if rewrite else None,
            LlmReranker(llm, budget, no_think) if rerank else None)


def assistant_from(settings: Settings, kb: KnowledgeBase, client=None, *, endpoint_name: str = "",
                   llm_error: str = "", reranker=None, max_tokens: int | None = None, budget: int | None = None,
                   describe_error=str, reading: ReadingClock | None = None) -> Assistant:
    """The one road for a question on `kb` through `client` (a ChatClient, or None when no server
    answered: `llm_error` says why, and retrieval still runs). The retriever takes the client's
    endpoint switches (query_rewrite, llm_rerank); sampling and the article budget follow the
    endpoint (`max_tokens` / `budget` override them: the review set's shorter answers, the
    latency bench's budget lever). `reading`: the endpoint's prefill speed learned so far (a
    fresh clock, with the default rate, when None)."""

    def sampling(thinking: bool) -> Sampling:
        rag = answer_options(client.endpoint, thinking)
        if max_tokens is not None:
            rag["max_tokens"] = max_tokens
        if budget is not None:
            rag["budget"] = budget
        return Sampling(rag=rag, raw={k: v for k, v in rag.items() if k != "budget"})

    name = endpoint_name or getattr(client, "name", "")
    return Assistant(kb, retriever_from(settings, kb, reranker, llm=client), client, sampling, settings.top_k,
                     endpoint_name=name, llm_error=llm_error, describe_error=describe_error, reading=reading)


def chat_client_from(settings: Settings, name: str | None = None):
    """A ChatClient for an endpoint name (default: the default endpoint); the embedded
    server is started on demand (and restarted if it dies)."""
    from server import embedded
    from server.endpoints import client_for

    start = embedded.starter(settings.embedded_model, settings.models_dir, embedded.state_dir(settings.data_dir),
                             settings.embedded_threads, settings.embedded_ctx)
    return client_for(name or settings.default_endpoint, settings.endpoints, start, settings.request_timeout_s)


def sampling_for(endpoint: Endpoint, thinking: bool = False) -> dict:
    """Answer sampling for an endpoint; Qwen3-style models get their <think> switch."""
    sampling = dict(ANSWER_SAMPLING)
    if endpoint.thinking:
        sampling["chat_template_kwargs"] = {"enable_thinking": thinking}
        if thinking:
            sampling["max_tokens"] = THINKING_MAX_TOKENS
    return sampling


def answer_options(endpoint: Endpoint, thinking: bool = False) -> dict:
    """Keyword arguments for rag.answer.generate.answer: sampling plus the article budget that fits
    the endpoint's window (tight for the 4k embedded model, 10 articles for 32k); the window
    is the smaller of context_tokens and the server's max_req_total_len."""
    sampling = sampling_for(endpoint, thinking)
    return {**sampling, "budget": context_chars(endpoint.request_tokens, sampling["max_tokens"])}
