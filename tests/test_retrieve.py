"""Hybrid retrieval on a real KB (two statutes) with the real embedder."""
from __future__ import annotations

import pytest

from rag.retrieval.lexical import bm25_of
from rag.retrieval.hybrid import LARGE_KB, RRF_K, HybridRetriever, dense_weight_for, reciprocal_rank_fusion


@pytest.fixture(scope="module")
def retriever(labor_kb):
    return HybridRetriever(labor_kb, labor_kb.embedder)


@pytest.mark.parametrize("question, law, no", [
    ("《劳动合同法》第四十七条是怎么规定的？", "劳动合同法", 47),
    ("劳动法第44条说了什么", "劳动法", 44),
    ("劳动合同法47条", "劳动合同法", 47),
    ("中华人民共和国劳动合同法第三十九条", "劳动合同法", 39),
])
def test_named_article_is_fetched_exactly(retriever, question, law, no):
    first = retriever.retrieve(question).citations[0]
    assert (first.article.law_short, first.article.article_no) == (law, no)
    assert first.retrievers == ["exact"]


def test_bm25_scores_chinese(labor_kb):
    rows, scores = bm25_of(labor_kb.snapshot()).search(labor_kb.tokenizer.tokens("试用期工资"), 5)
    assert len(rows) == 5 and scores[0] > 0


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_layperson_question_finds_the_article(retriever, mode):
    found = retriever.retrieve("劳动合同到期不续签有没有补偿", k=5, mode=mode)
    ids = [c.article.article_id for c in found.citations]
    if mode == "hybrid":
        assert "劳动合同法第四十六条" in ids and not found.abstain
    assert len(ids) == 5 and all(mode in c.retrievers or mode == "hybrid" for c in found.citations)


def test_citation_carries_where_it_came_from(retriever):
    c = retriever.retrieve("用人单位未及时足额支付劳动报酬，劳动者可以解除劳动合同吗", k=3).citations[0]
    a = c.article
    assert a.law_title and a.article_cn.startswith("第") and a.file_name.endswith(".txt")
    assert a.chapter and a.status == "现行有效" and c.score > 0 and c.retrievers


def test_off_topic_question_abstains(retriever):
    assert retriever.retrieve("红烧肉怎么做才好吃？").abstain
    assert not retriever.retrieve("公司拖欠工资怎么办").abstain


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion({"bm25": [(1, 9.0), (2, 5.0)], "dense": [(2, 0.9), (3, 0.8)]})
    assert [row for row, _, _ in fused] == [2, 1, 3]
    assert fused[0][2] == ["bm25", "dense"]


def test_weighted_fusion_lets_the_stronger_list_lead():
    ranked = {"bm25": [(1, 9.0), (2, 5.0)], "dense": [(2, 0.9), (3, 0.8)]}
    assert [row for row, _, _ in reciprocal_rank_fusion(ranked, {"dense": 5.0})] == [2, 3, 1]


def test_fusion_weight_follows_the_kb_size(retriever, labor_kb):
    """A small KB fuses BM25 and dense as equals (weight 1: a labour question's BM25 hits are
    not drowned by the trained embedder); from LARGE_KB articles on, dense counts 5 times."""
    assert len(labor_kb.articles) < LARGE_KB
    assert dense_weight_for(len(labor_kb.articles)) == 1.0 and dense_weight_for(LARGE_KB) == 5.0
    found = retriever.retrieve("劳动合同到期不续签有没有补偿", k=3)
    assert found.citations[0].score <= 2 / (RRF_K + 1) + 1e-9  # both lists at weight 1
    heavy = HybridRetriever(labor_kb, labor_kb.embedder, dense_weight=5.0).retrieve("劳动合同到期不续签有没有补偿", k=3)
    assert heavy.citations[0].score > 2 / (RRF_K + 1)  # an explicit weight still wins


def test_reranker_reorders_the_fused_candidates(labor_kb, retriever):
    from rag.retrieval.embeddings import LEGAL_RERANKER, make_reranker
    from settings import get_settings

    reranker = make_reranker(LEGAL_RERANKER, get_settings().models_dir)
    question = "公司拖欠工资怎么办"
    fused = retriever.retrieve(question, k=20).citations
    reranked = HybridRetriever(labor_kb, labor_kb.embedder, reranker).retrieve(question, k=20).citations
    assert {c.article.article_id for c in reranked} == {c.article.article_id for c in fused}
    assert [c.article.article_id for c in reranked] != [c.article.article_id for c in fused]
    assert all("rerank" in c.retrievers for c in reranked)
    scores = [c.score for c in reranked]
    assert scores == sorted(scores, reverse=True)  # ordered by the cross-encoder's own scores
    from rag.kb import embed_text

    expected = reranker.predict([(question, embed_text(c.article)) for c in reranked[:3]])
    assert list(expected) == pytest.approx(scores[:3], abs=1e-5)


def test_llama_index_query_fusion_uses_the_hybrid_retriever(retriever):
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever

    # num_queries=1: no query generation, so the LLM it insists on having is never called
    fusion = QueryFusionRetriever([retriever.as_llama_index(k=5)], llm=MockLLM(), num_queries=1, use_async=False,
                                  mode="reciprocal_rerank", similarity_top_k=5)
    nodes = fusion.retrieve("劳动合同到期不续签有没有补偿")
    assert len(nodes) == 5
    meta = nodes[0].node.metadata
    assert meta["law_short"] and meta["article_cn"].startswith("第") and meta["label"].startswith("《")
    assert "劳动合同法第四十六条" in {f"{n.node.metadata['law_short']}{n.node.metadata['article_cn']}" for n in nodes}
    from llama_index.core.schema import MetadataMode

    assert meta["law_title"] in nodes[0].node.get_content(MetadataMode.LLM)  # an LLM sees the source
    assert nodes[0].node.get_content(MetadataMode.EMBED) == nodes[0].node.text
