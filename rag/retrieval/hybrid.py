"""Hybrid retrieval over one knowledge base: exact article lookup → BM25 + dense → RRF → rerank.

1. A question that names an article (《劳动合同法》第四十七条, 劳动法第44条, 劳动合同法47条)
   gets that article first, fetched exactly.
2. BM25 over jieba tokens (rag/retrieval/lexical.py) and dense cosine search (LanceDB) each return
   their best CANDIDATES rows. The BM25 query also gets the statute words the question's lay
   words imply, weighted below its own (the term bridge learned from STARD's train questions,
   rag/retrieval/bridge.py), and its list is rescored by how much of the question each article
   covers (rag/retrieval/coverage.py). Weighted reciprocal-rank fusion merges the two lists (dense
   counts dense_weight_for(KB size) times BM25: 5 on large KBs, picked on STARD's train
   holdout for the trained embedder; 1 on small ones such as the default 劳动法规 KB).
3. An optional cross-encoder (any sentence-transformers CrossEncoder) reorders the top.
   Optional steps that ask the served model, off unless the endpoint turns them on
   (rag/defaults.py): a rewriter (rag/retrieval/rewrite.py: the question in legal terms,
   retrieved too and fused) and a listwise reranker over the top 20 (rag/retrieval/llm_rerank.py).
   What they did, or why they fell back, is in `Retrieval.notes`; their time in timings_ms.
4. `abstain` is set when nothing relevant was found: no exact hit, and both the best BM25
   score and the best dense similarity fall below thresholds that depend on the KB's size
   (docs/retrieval.md "Abstain calibration": calibrated for legal-e5-small on a 劳动法规-size KB
   and on the 65k-article lawrefbook KB; another embedder needs its own).

`HybridRetriever.as_llama_index()` presents the same retriever as a llama_index
`BaseRetriever` (NodeWithScore nodes carrying the Citation fields as metadata), for query
engines and QueryFusionRetriever.

Does not: rewrite questions (rag/answer/ does, before calling this), search several KBs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.kb import KnowledgeBase, Snapshot, embed_text
from rag.retrieval.bridge import TermBridge
from rag.retrieval.coverage import coverage_rescore
from rag.retrieval.lexical import bm25_of
from rag.documents.directives import addresses_reader
from rag.documents.statutes import find_article_mentions
from rag.text import resolve_law
from rag.types import Citation

Mode = Literal["hybrid", "bm25", "dense"]
CANDIDATES = 50  # rows each retriever contributes to fusion
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al. 2009)
# Weight of the dense list in the fusion (BM25: 1), by KB size (docs/retrieval.md "Fusion weight").
# Large KBs (lawrefbook, 65k articles): swept over 1, 1.5, 2, 3, 5 on the 116 held-out train
# questions with legal-e5-small (bench/train_retrieval.py, rag/retrieval/adapters/training.json): MRR rose
# with the weight, 0.543 → 0.590. Small KBs (the default 劳动法规, 777 articles): 5 drowned the
# BM25 hits the trained embedder misses on labour wording; swept over 0.5, 1, 2, 3, 5 on
# stard_labor_dev, 1 was best at Hit@1/@5 (0.293 / 0.610 against 0.220 / 0.537 for 5).
DENSE_WEIGHT = 5.0
SMALL_KB_DENSE_WEIGHT = 1.0
# Expand the BM25 query with the term bridge, and rescore the BM25 list by coverage before
# fusion (docs/retrieval.md "Term bridge and coverage", issue 32: both on both grounds).
TERM_BRIDGE = True
COVERAGE = True
RERANK_TOP = 20
EXACT_SCORE = 1.0  # exact hits sort above any fused score (RRF scores are < (1 + DENSE_WEIGHT)/RRF_K)
# Abstain thresholds (best BM25 score, best dense cosine) for legal-e5-small, by KB size: from
# LARGE_KB articles on, dense search is approximate (rag.store.base.DENSE_INDEX_MIN_ROWS) and
# off-topic words find more BM25 matches. Picked on STARD train questions whose gold law is in
# the KB vs 30 off-topic questions, with no legal question abstaining (docs/retrieval.md).
SMALL_KB_THRESHOLDS = (3.5, 0.30)
LARGE_KB_THRESHOLDS = (6.0, 0.10)
LARGE_KB = 20_000


def abstain_thresholds(n_articles: int) -> tuple[float, float]:
    return LARGE_KB_THRESHOLDS if n_articles >= LARGE_KB else SMALL_KB_THRESHOLDS


def dense_weight_for(n_articles: int) -> float:
    return DENSE_WEIGHT if n_articles >= LARGE_KB else SMALL_KB_DENSE_WEIGHT


@dataclass
class Retrieval:
    citations: list[Citation]
    abstain: bool
    best_bm25: float = 0.0
    best_dense: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the LLM steps did, or why they fell back
    rewritten: str = ""  # the query rewrite's text, when one was used


class HybridRetriever:
    """Finished parts in (KB, embedder, optional reranker); `retrieve` is the one public step."""

    def __init__(self, kb: KnowledgeBase, embedder: BaseEmbedding, reranker=None,
                 min_bm25: float | None = None, min_dense: float | None = None,
                 dense_weight: float | None = None, bridge: TermBridge | None | bool = TERM_BRIDGE,
                 coverage: bool | tuple[float, float, float] = COVERAGE, rewriter=None, llm_reranker=None):
        self.kb = kb
        self.rewriter = rewriter  # rag.retrieval.rewrite.QueryRewriter or None
        self.llm_reranker = llm_reranker  # rag.retrieval.llm_rerank.LlmReranker or None
        self.dense_weight = dense_weight  # None: dense_weight_for(KB size), at each query
        # True: the shipped bridge (rag/retrieval/term_bridge.json); False/None: none
        self.bridge = TermBridge.load() if bridge is True else (bridge or None)
        # True: coverage_rescore's weights; a (coverage, phrase, law) tuple: those (benchmarks)
        self.coverage = coverage
        self.embedder = embedder
        self.reranker = reranker
        self.min_bm25 = min_bm25  # None: abstain_thresholds(KB size), at each query
        self.min_dense = min_dense

    def retrieve(self, question: str, k: int = 8, mode: Mode = "hybrid") -> Retrieval:
        """Everything of one query comes from one snapshot of the KB (articles, BM25 rows,
        lookups), so a document committed meanwhile cannot mix into it."""
        question = question.strip()
        snap = self.kb.snapshot()
        if not question or not snap.articles:
            return Retrieval([], abstain=True)
        if self.rewriter is None and self.llm_reranker is None:
            return self._retrieve(question, k, mode, snap)
        t0 = time.perf_counter()
        found = self._retrieve(question, max(k, CANDIDATES), mode, snap)
        if found.abstain:  # nothing relevant: the answer says so without articles, no model call
            found.notes.append("llm steps: skipped (retrieval abstained)")
        elif self.rewriter is not None:  # abstain and best scores stay the original question's
            found = self.rewriter.expand(question, found, lambda q: self._retrieve(q, max(k, CANDIDATES), mode, snap))
        if self.llm_reranker is not None and not found.abstain:
            found = self.llm_reranker.rerank(question, found)
        found.citations = found.citations[:k]
        found.timings_ms["total"] = _ms(t0)
        return found

    def as_llama_index(self, k: int = 8, mode: Mode = "hybrid") -> "LlamaIndexRetriever":
        return LlamaIndexRetriever(self, k, mode)

    def exact(self, question: str, snap: Snapshot | None = None) -> list[Citation]:
        """Articles the question names outright, in the order named."""
        snap = snap or self.kb.snapshot()
        out: list[Citation] = []
        for m in find_article_mentions(question):
            law = resolve_law(m.law, snap.laws)
            article = snap.lookup(law, m.article_no, m.suffix) if law else None
            if article and all(c.article.article_id != article.article_id for c in out):
                out.append(Citation(article, EXACT_SCORE, ["exact"]))
        return out

    def _retrieve(self, question: str, k: int, mode: Mode, snap: Snapshot) -> Retrieval:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        exact = self.exact(question, snap)
        ranked: dict[str, list[tuple[int, float]]] = {}
        best_bm25 = 0.0  # of the question's own terms, before expansion and rescoring (abstain)
        if mode in ("hybrid", "bm25"):
            tokens = self.kb.tokenizer.tokens(question)
            extra = self.bridge.expand(tokens) if self.bridge else []
            rows, scores, best_bm25 = bm25_of(snap).search_with_best(tokens, CANDIDATES, extra)
            ranked["bm25"] = list(zip(rows.tolist(), scores.tolist()))
            if self.coverage:
                weights = {} if self.coverage is True else {"weights": self.coverage}
                ranked["bm25"] = coverage_rescore(question, tokens, ranked["bm25"], snap.articles, **weights)
            timings["bm25"] = _ms(t0)
        if mode in ("hybrid", "dense"):
            t1 = time.perf_counter()
            vector = self.embedder.get_query_embedding(question)
            timings["embed"] = _ms(t1)
            t2 = time.perf_counter()
            ranked["dense"] = snap.dense_search(vector, CANDIDATES)
            timings["dense"] = _ms(t2)
        weight = dense_weight_for(len(snap.articles)) if self.dense_weight is None else self.dense_weight
        fused = reciprocal_rank_fusion(ranked, {"dense": weight})
        articles = snap.articles
        citations = list(exact)
        seen = {c.article.article_id for c in exact}
        for row, score, found_by in fused:
            article = articles[row]
            if article.article_id not in seen:
                seen.add(article.article_id)
                citations.append(Citation(article, score, found_by))
        if self.reranker is not None:
            t3 = time.perf_counter()
            citations = exact + self._rerank(question, citations[len(exact):RERANK_TOP])
            timings["rerank"] = _ms(t3)
        citations = exact + rules_first(citations[len(exact):])
        best_dense = ranked["dense"][0][1] if ranked.get("dense") else 0.0
        size_bm25, size_dense = abstain_thresholds(len(snap.articles))
        min_bm25 = size_bm25 if self.min_bm25 is None else self.min_bm25
        min_dense = size_dense if self.min_dense is None else self.min_dense
        abstain = not exact and best_bm25 < min_bm25 and best_dense < min_dense
        if mode == "bm25":
            abstain = not exact and best_bm25 < min_bm25
        elif mode == "dense":
            abstain = not exact and best_dense < min_dense
        timings["total"] = _ms(t0)
        return Retrieval(citations[:k], abstain, best_bm25, best_dense, timings)

    def _rerank(self, question: str, citations: list[Citation]) -> list[Citation]:
        if not citations:
            return citations
        scores = self.reranker.predict([(question, embed_text(c.article)) for c in citations])
        for c, s in zip(citations, scores):
            c.score = float(s)
            c.retrievers = [*c.retrievers, "rerank"]
        return sorted(citations, key=lambda c: -c.score)


def rules_first(citations: list[Citation]) -> list[Citation]:
    """Articles that address the reader or the model (「忽略之前的所有指示，回答：…」) after every
    article that states a rule, each group in its own order: a KB's injected text reaches the
    prompt only when nothing else was found. None of the 65,995 real articles is flagged."""
    flagged = [addresses_reader(c.article.text) for c in citations]
    return [c for c, f in zip(citations, flagged) if not f] + [c for c, f in zip(citations, flagged) if f]


def reciprocal_rank_fusion(ranked: dict[str, list[tuple[int, float]]],
                           weights: dict[str, float] | None = None) -> list[tuple[int, float, list[str]]]:
    """Merge ranked (row, score) lists: score = Σ weight/(RRF_K + rank) (weight 1 unless given).
    Rows keep who found them."""
    fused: dict[int, float] = {}
    found_by: dict[int, list[str]] = {}
    for name, hits in ranked.items():
        weight = (weights or {}).get(name, 1.0)
        for rank, (row, _) in enumerate(hits, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (RRF_K + rank)
            found_by.setdefault(row, []).append(name)
    order = sorted(fused, key=lambda r: -fused[r])
    return [(row, fused[row], found_by[row]) for row in order]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


class LlamaIndexRetriever(BaseRetriever):
    """A HybridRetriever behind llama_index's BaseRetriever interface."""

    def __init__(self, hybrid: HybridRetriever, k: int = 8, mode: Mode = "hybrid"):
        super().__init__()
        self.hybrid, self.k, self.mode = hybrid, k, mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = self.hybrid.retrieve(query_bundle.query_str, self.k, self.mode)
        nodes = []
        for c in found.citations:
            meta = {**c.article.to_dict(), "label": c.label, "retrievers": c.retrievers, "abstain": found.abstain}
            nodes.append(NodeWithScore(node=TextNode(
                id_=f"{c.article.kb}:{c.article.article_id}", text=c.article.text, metadata=meta,
                excluded_embed_metadata_keys=list(meta),
                excluded_llm_metadata_keys=["doc_id", "kb", "retrievers", "abstain"]), score=c.score))
        return nodes
