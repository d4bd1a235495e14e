"""The served model's retrieval steps (rag/retrieval/rewrite.py, llm_rerank.py): parsing, fallback
to the retriever's order, fusion of the rewrite with the original, the per-endpoint switches.
The model's answers and failures come from tests/fakes.py's OpenAI server through the real client."""
from __future__ import annotations

import pytest

from rag.defaults import llm_steps_for, retriever_from
from rag.retrieval.hybrid import HybridRetriever
from rag.retrieval.llm_rerank import LlmReranker, candidates_text, parse_ranking
from rag.retrieval.rewrite import QueryRewriter, clean_rewrite, fuse, strip_think
from rag.types import Article, Citation
from server.client import ChatClient
from settings import Endpoint, Settings
from tests.fakes import FakeOpenAI

QUESTION = "劳动合同到期不续签有没有补偿"


def citation(n: int, retrievers=("bm25",)) -> Citation:
    article = Article(kb="t", doc_id="d", file_name="劳动法.txt", law_title="中华人民共和国劳动法",
                      law_short="劳动法", article_no=n, article_cn=f"第{n}条", text=f"第{n}条的条文。" * 30)
    return Citation(article, 1.0 / n, list(retrievers))


def ids(citations) -> list[str]:
    return [c.article.article_id for c in citations]


def client_for(fake: FakeOpenAI, **switches) -> ChatClient:
    return ChatClient(fake.endpoint.model_copy(update=switches), "fake", timeout=10, retries=0)


@pytest.mark.parametrize("text, n, want", [
    ("3,1,2", 3, [2, 0, 1]),
    ("3，1，2", 3, [2, 0, 1]),  # full-width commas
    ("[2] > [3] > [1]", 3, [1, 2, 0]),
    ("2, 2, 1, 2", 3, [1, 0]),  # duplicates: first occurrence only
    ("0, 25, 2, 7", 5, [1]),  # out of range
    ("[4] 《劳动法》第47条最相关，其次是 [1]", 5, [3, 0]),  # brackets win; 第47条 is no candidate
    ("最相关的是第47条，然后 2、1", 5, [1, 0]),
    ("<think>1,2,3</think>\n3,2", 3, [2, 1]),
    ("都很相关，无法排序。", 3, []),
    ("", 3, []),
])
def test_parse_ranking(text, n, want):
    assert parse_ranking(text, n) == want


def test_strip_think_and_clean_rewrite():
    assert strip_think("<think>想一想</think>\n\n答案") == "答案"
    assert strip_think("先想一想</think>答案") == "答案"  # template opened <think> in the prompt
    assert clean_rewrite("<think>嗯</think>条文式表述：“用人单位终止劳动合同的，应当支付经济补偿。”") == \
        "用人单位终止劳动合同的，应当支付经济补偿。"
    assert clean_rewrite("<think>只有推理</think>") == ""


def test_candidates_are_numbered_and_shortened():
    text = candidates_text([citation(1), citation(2)], 40)
    lines = text.splitlines()
    assert lines[0].startswith("[1] 《劳动法》第1条：") and lines[1].startswith("[2] 《劳动法》第2条：")
    assert all(len(line) < 70 and line.endswith("…") for line in lines)


@pytest.mark.parametrize("answer, want, note", [
    ("3,1,2,4", [3, 1, 2, 4], ""),
    ("2", [2, 1, 3, 4], "ranked 1 of 4"),  # the rest keep the retriever's order
    ("我觉得第一条和最后一条都相关。", [1, 2, 3, 4], "retriever order kept"),
])
def test_rerank_follows_the_model_and_falls_back_to_the_retrievers_order(answer, want, note):
    with FakeOpenAI(answer=answer) as fake:  # the fake wraps it in <think>…</think>
        found = HybridRetrievalStub([citation(n) for n in (1, 2, 3, 4)])
        out = LlmReranker(client_for(fake), 2000).rerank(QUESTION, found)
        prompt = fake.requests[0]["messages"][0]["content"]
    assert [c.article.article_no for c in out.citations] == want
    assert "[4] 《劳动法》第4条" in prompt and QUESTION in prompt
    assert (note in " ".join(out.notes)) if note else not out.notes
    assert "llm_rerank" in out.timings_ms


@pytest.mark.parametrize("mode", ["refuse", "garbage", "die_mid_stream"])
def test_rerank_keeps_every_article_when_the_server_fails(mode):
    with FakeOpenAI(mode=mode) as fake:
        found = HybridRetrievalStub([citation(1, ("exact",))] + [citation(n) for n in range(2, 26)])
        out = LlmReranker(client_for(fake), 2000).rerank(QUESTION, found)
    assert [c.article.article_no for c in out.citations] == list(range(1, 26))
    assert "failed" in out.notes[0] and "retriever order kept" in out.notes[0]


def test_rerank_shows_the_model_the_top_20_only_and_exact_hits_stay_first():
    with FakeOpenAI(answer="20,1") as fake:
        found = HybridRetrievalStub([citation(1, ("exact",))] + [citation(n) for n in range(2, 30)])
        out = LlmReranker(client_for(fake), 2000).rerank(QUESTION, found)
        prompt = fake.requests[0]["messages"][0]["content"]
    assert "[20] 《劳动法》第21条" in prompt and "[21]" not in prompt and "第1条的条文" not in prompt
    assert [c.article.article_no for c in out.citations][:4] == [1, 21, 2, 3]
    assert sorted(c.article.article_no for c in out.citations) == list(range(1, 30))


def test_fusion_keeps_the_originals_hits_and_exact_hits_first():
    original = [citation(1, ("exact",)), citation(2), citation(3), citation(4)]
    rewrite = [citation(n, ("dense", "rewrite")) for n in (9, 3, 8)]
    fused = fuse([original, rewrite], [1.0, 1.0])
    numbers = [c.article.article_no for c in fused]
    assert numbers[0] == 1 and set(numbers) == {1, 2, 3, 4, 8, 9}
    assert numbers[1] == 3  # found by both
    assert fused[1].retrievers == ["bm25", "dense", "rewrite"]
    assert numbers[2:4] == [2, 9]  # both first in their list: the original's goes first


def test_rewrite_is_retrieved_too_and_fused_with_the_original(labor_kb):
    plain = HybridRetriever(labor_kb, labor_kb.embedder).retrieve(QUESTION, k=8)
    passage = "用人单位不与劳动者续订劳动合同，劳动合同期满终止的，用人单位应当向劳动者支付经济补偿。"
    with FakeOpenAI(answer=passage) as fake:
        found = HybridRetriever(labor_kb, labor_kb.embedder, rewriter=QueryRewriter(client_for(fake))).retrieve(QUESTION, k=8)
        prompt = fake.requests[0]["messages"][0]["content"]
    assert QUESTION in prompt and found.rewritten == passage and "rewrite" in found.timings_ms
    assert ids(plain.citations)[0] in ids(found.citations)[:3] and set(ids(plain.citations)[:4]) <= set(ids(found.citations))
    assert any("rewrite" in c.retrievers for c in found.citations)
    assert "劳动合同法第四十六条" in ids(found.citations) and len(found.citations) == 8


def test_a_failed_rewrite_leaves_the_original_retrieval(labor_kb):
    plain = HybridRetriever(labor_kb, labor_kb.embedder).retrieve(QUESTION, k=8)
    with FakeOpenAI(mode="refuse") as fake:
        found = HybridRetriever(labor_kb, labor_kb.embedder, rewriter=QueryRewriter(client_for(fake))).retrieve(QUESTION, k=8)
    assert ids(found.citations) == ids(plain.citations) and found.abstain == plain.abstain
    assert found.notes[0].startswith("query_rewrite: failed (ServerNotRunning")


def test_switches_are_off_by_default_and_turned_on_per_endpoint(labor_kb):
    assert not Endpoint().query_rewrite and not Endpoint().llm_rerank
    settings = Settings(endpoints={"fake": {"base_url": "http://127.0.0.1:9/v1"}}, rerank_model=None)
    with FakeOpenAI(answer="2,1") as fake:
        off = retriever_from(settings, labor_kb, llm=client_for(fake))
        assert off.rewriter is None and off.llm_reranker is None
        off.retrieve(QUESTION)
        assert fake.requests == []  # no model call, no added latency
        on = retriever_from(settings, labor_kb, llm=client_for(fake, query_rewrite=True, llm_rerank=True))
        found = on.retrieve(QUESTION, k=8)
        assert len(fake.requests) == 2 and {"rewrite", "llm_rerank"} <= set(found.timings_ms)
        on.retrieve("红烧肉怎么做才好吃？")  # abstains: no model call
        assert len(fake.requests) == 2
    rewriter, reranker = llm_steps_for(client_for(fake, llm_rerank=True))
    assert rewriter is None and reranker is not None


def test_a_thinking_endpoint_is_asked_not_to_think():
    with FakeOpenAI(answer="1") as fake:
        rewriter, reranker = llm_steps_for(client_for(fake, thinking=True), rewrite=True, rerank=True)
        rewriter.rewrite(QUESTION)
        assert fake.requests[0]["chat_template_kwargs"] == {"enable_thinking": False}


@pytest.mark.slow
def test_real_model_reranks_without_losing_an_article(labor_kb, embedded_endpoint):
    client = ChatClient(embedded_endpoint, "embedded")
    rewriter, reranker = llm_steps_for(client, rewrite=True, rerank=True)
    plain = HybridRetriever(labor_kb, labor_kb.embedder).retrieve(QUESTION, k=20)
    found = HybridRetriever(labor_kb, labor_kb.embedder, rewriter=rewriter, llm_reranker=reranker).retrieve(QUESTION, k=20)
    assert found.rewritten and "<think>" not in found.rewritten
    assert len(found.citations) == 20 and len(set(ids(found.citations))) == 20
    assert {"rewrite", "llm_rerank"} <= set(found.timings_ms) and not found.abstain and not plain.abstain


class HybridRetrievalStub:
    """A Retrieval's fields that the reranker reads and writes."""

    def __init__(self, citations):
        self.citations, self.notes, self.timings_ms = citations, [], {}
