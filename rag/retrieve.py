"""Hybrid retrieval over one knowledge base: exact article lookup → BM25 + dense → RRF → rerank.

1. A question that names an article (《劳动合同法》第四十七条, 劳动法第44条, 劳动合同法47条)
   gets that article first, fetched exactly.
2. BM25 over jieba tokens (rag/lexical.py) and dense cosine search (LanceDB) each return
   their best CANDIDATES rows; reciprocal-rank fusion merges the two lists.
3. An optional cross-encoder (any sentence-transformers CrossEncoder) reorders the top.
4. `abstain` is set when nothing relevant was found: no exact hit, and both the best BM25
   score and the best dense similarity fall below thresholds (docs/retrieval.md). These
   separate off-topic questions on a topical KB such as 劳动法规; on the 65k-article
   lawrefbook KB they do not (1 of 12 off-topic questions abstained): calibrating per KB
   size is open work.

Does not: rewrite questions (rag/answer.py does, before calling this), search several KBs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.knowledge import KnowledgeBase, embed_text
from rag.statutes import find_article_mentions, normalize_law_name
from rag.types import Citation

Mode = Literal["hybrid", "bm25", "dense"]
CANDIDATES = 50  # rows each retriever contributes to fusion
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al. 2009)
RERANK_TOP = 20
EXACT_SCORE = 1.0  # exact hits sort above any fused score (RRF scores are < 2/RRF_K)
# Abstain thresholds: calibrated on the dev questions vs off-topic questions (docs/retrieval.md).
MIN_BM25_SCORE = 3.5
MIN_DENSE_SIMILARITY = 0.86


@dataclass
class Retrieval:
    citations: list[Citation]
    abstain: bool
    best_bm25: float = 0.0
    best_dense: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    """Finished parts in (KB, embedder, optional reranker); `retrieve` is the one public step."""

    def __init__(self, kb: KnowledgeBase, embedder: BaseEmbedding, reranker=None,
                 min_bm25: float = MIN_BM25_SCORE, min_dense: float = MIN_DENSE_SIMILARITY):
        self.kb = kb
        self.embedder = embedder
        self.reranker = reranker
        self.min_bm25 = min_bm25
        self.min_dense = min_dense

    def retrieve(self, question: str, k: int = 8, mode: Mode = "hybrid") -> Retrieval:
        question = question.strip()
        if not question or not self.kb.articles:
            return Retrieval([], abstain=True)
        return self._retrieve(question, k, mode)

    def exact(self, question: str) -> list[Citation]:
        """Articles the question names outright, in the order named."""
        laws = self.kb.law_names()
        out: list[Citation] = []
        for m in find_article_mentions(question):
            law = resolve_law(m.law, laws)
            article = self.kb.lookup(law, m.article_no, m.suffix) if law else None
            if article and all(c.article.article_id != article.article_id for c in out):
                out.append(Citation(article, EXACT_SCORE, ["exact"]))
        return out

    def _retrieve(self, question: str, k: int, mode: Mode) -> Retrieval:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        exact = self.exact(question)
        ranked: dict[str, list[tuple[int, float]]] = {}
        if mode in ("hybrid", "bm25"):
            rows, scores = self.kb.bm25.search(self.kb.tokenizer.tokens(question), CANDIDATES)
            ranked["bm25"] = list(zip(rows.tolist(), scores.tolist()))
            timings["bm25"] = _ms(t0)
        if mode in ("hybrid", "dense"):
            t1 = time.perf_counter()
            vector = self.embedder.get_query_embedding(question)
            timings["embed"] = _ms(t1)
            t2 = time.perf_counter()
            ranked["dense"] = self.kb.dense_search(vector, CANDIDATES)
            timings["dense"] = _ms(t2)
        fused = reciprocal_rank_fusion(ranked)
        articles = self.kb.articles
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
        best_bm25 = ranked["bm25"][0][1] if ranked.get("bm25") else 0.0
        best_dense = ranked["dense"][0][1] if ranked.get("dense") else 0.0
        abstain = not exact and best_bm25 < self.min_bm25 and best_dense < self.min_dense
        if mode == "bm25":
            abstain = not exact and best_bm25 < self.min_bm25
        elif mode == "dense":
            abstain = not exact and best_dense < self.min_dense
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


def reciprocal_rank_fusion(ranked: dict[str, list[tuple[int, float]]]) -> list[tuple[int, float, list[str]]]:
    """Merge ranked (row, score) lists: score = Σ 1/(RRF_K + rank). Rows keep who found them."""
    fused: dict[int, float] = {}
    found_by: dict[int, list[str]] = {}
    for name, hits in ranked.items():
        for rank, (row, _) in enumerate(hits, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank)
            found_by.setdefault(row, []).append(name)
    order = sorted(fused, key=lambda r: -fused[r])
    return [(row, fused[row], found_by[row]) for row in order]


def resolve_law(written: str | None, laws: set[str]) -> str | None:
    """Map a law name as written (劳动合同法, 中华人民共和国劳动法) to a KB law short name."""
    if not written:
        return None
    name = normalize_law_name(written)
    if name in laws:
        return name
    # 民法典 vs 中华人民共和国民法典 is handled above; here: a KB name that ends with it.
    candidates = [law for law in laws if law.endswith(name) or name.endswith(law)]
    return min(candidates, key=len) if len(candidates) >= 1 else None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
