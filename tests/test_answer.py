"""Prompts, citation verification and question rewriting (rag/answer.py)."""
from __future__ import annotations

import pytest

from rag.answer import rag_messages, raw_messages, rewrite_question, verify_citations
from rag.retrieve import HybridRetriever
from rag.types import Article, Citation


@pytest.fixture(scope="module")
def retrieved(labor_kb):
    return HybridRetriever(labor_kb, labor_kb.embedder).retrieve("劳动合同到期不续签有没有补偿", k=8).citations


def statuses(answer, kb, retrieved):
    return {(v.law, v.article_no): v.status for v in verify_citations(answer, kb, retrieved)}


def test_retrieved_citation_is_verified(labor_kb, retrieved):
    got = statuses("根据《劳动合同法》第四十六条，用人单位应当支付经济补偿。", labor_kb, retrieved)
    assert got == {("劳动合同法", 46): "ok"}


def test_article_in_kb_but_not_retrieved(labor_kb, retrieved):
    got = statuses("依照《劳动合同法》第十九条，试用期有上限。", labor_kb, retrieved)
    assert got == {("劳动合同法", 19): "not_retrieved"}


def test_invented_article_is_not_in_kb(labor_kb, retrieved):
    got = statuses("《劳动合同法》第二百条规定了补偿。《公司法》第三条也适用。", labor_kb, retrieved)
    assert got[("劳动合同法", 200)] == "not_in_kb" and got[("公司法", 3)] == "not_in_kb"


def test_mentions_without_a_law_take_the_law_in_context(labor_kb, retrieved):
    answer = "《劳动合同法》第四十六条规定了经济补偿，本法第四十七条规定了标准，第47条也适用。"
    checked = verify_citations(answer, labor_kb, retrieved)
    assert [(v.law, v.article_no) for v in checked] == [("劳动合同法", 46), ("劳动合同法", 47)]


def test_misquoted_article_is_flagged(labor_kb, retrieved):
    answer = "《劳动合同法》第四十六条规定：“用人单位可以不支付任何经济补偿给劳动者”。"
    assert statuses(answer, labor_kb, retrieved)[("劳动合同法", 46)] == "text_mismatch"
    right = "《劳动合同法》第四十六条规定：“有下列情形之一的，用人单位应当向劳动者支付经济补偿”。"
    assert statuses(right, labor_kb, retrieved)[("劳动合同法", 46)] == "ok"


def test_repealed_statute_is_flagged(labor_kb):
    class OneArticleKB:  # a KB view holding one repealed article (as the statute DB marks them)
        article = Article(text="……", law_short="农村土地承包法", article_no=1, article_cn="第一条",
                          status="已废止")

        def law_names(self):
            return {"农村土地承包法"}

        def lookup(self, law, no, suffix=0):
            return self.article if (law, no) == ("农村土地承包法", 1) else None

    kb = OneArticleKB()
    [v] = verify_citations("《农村土地承包法》第一条", kb, [Citation(kb.article, 1.0, ["exact"])])
    assert v.status == "ok" and v.repealed


def test_prompts_carry_the_articles_or_the_abstain_note(retrieved):
    msgs = rag_messages("问题", retrieved)
    assert "《劳动合同法》第四十六条" in msgs[0]["content"] and msgs[1]["content"] == "问题"
    abstain = rag_messages("红烧肉怎么做", retrieved, abstain=True)
    assert "没有找到" in abstain[0]["content"] and "第四十六条" not in abstain[0]["content"]
    assert "法条" not in raw_messages("问题")[0]["content"]


def test_rewrite_without_history_is_the_question():
    class NoCalls:
        def stream(self, *a, **k):
            raise AssertionError("no LLM call without history")

    assert rewrite_question([], "试用期多长？", NoCalls()) == "试用期多长？"


def test_unusable_rewrite_falls_back_to_joined_questions():
    from server.client import Delta

    class Rambling:
        def stream(self, messages, **sampling):
            return iter([Delta("answer", "好的" * 300)])

    got = rewrite_question([("劳动合同到期不续签有补偿吗", "有。")], "那试用期呢？", Rambling())
    assert got == "劳动合同到期不续签有补偿吗 那试用期呢？"


@pytest.mark.slow
def test_real_model_rewrites_a_follow_up(embedded_endpoint):
    from server.client import ChatClient

    client = ChatClient(embedded_endpoint, "embedded")
    got = rewrite_question([("公司拖欠工资怎么办？", "可以向劳动监察部门投诉。")], "那可以要求赔偿吗？", client)
    assert got and len(got) <= 200 and any("\u4e00" <= ch <= "\u9fff" for ch in got)


def test_quote_from_another_article_under_this_number_is_flagged(labor_kb, retrieved):
    """Seen with the 1.5B model: it cited 第四十六条 but quoted 第四十七条's words later on."""
    answer = ("根据《劳动合同法》第四十六条，应当支付经济补偿。\n\n解释：1. 补偿标准：该条指出，"
              "“经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资的标准向劳动者支付”。")
    assert statuses(answer, labor_kb, retrieved)[("劳动合同法", 46)] == "text_mismatch"


def test_cross_references_inside_a_copied_article_are_not_checked_as_citations(labor_kb, retrieved):
    """Seen with the 1.5B model: it copies 第四十六条 with its items (本法第三十八条…)."""
    a46 = labor_kb.lookup("劳动合同法", 46)
    answer = "根据《劳动合同法》第四十六条，有下列情形之一的，应当支付经济补偿：\n" + a46.text
    checked = verify_citations(answer, labor_kb, retrieved)
    assert [(v.article_no, v.status) for v in checked] == [(46, "ok")]
