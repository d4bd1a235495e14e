"""The answer benchmark's scoring (rag/eval/answers.py) on hand-made answers, and the judge in
both orders against the loopback fake server."""
from __future__ import annotations

import json

import pytest

from rag.eval.answers import gold_citations, gold_rank, gold_refs, score_answer, summarize, summary_table
from rag.eval.judge import LEGAL_QA_RUBRIC, comparison_table, judge_swapped, score_mark
from rag.retrieval.hybrid import HybridRetriever
from server.client import ChatClient
from tests.fakes import FakeOpenAI

GOLD = [{"law": "中华人民共和国劳动合同法", "article_cn": "第四十六条", "text": "有下列情形之一的，用人单位应当向劳动者支付经济补偿"}]
QUESTION = "劳动合同到期公司不续签，有没有经济补偿？"


@pytest.fixture(scope="module")
def retrieved(labor_kb):
    return HybridRetriever(labor_kb, labor_kb.embedder).retrieve(QUESTION, k=8).citations


def test_gold_cited_and_verified(labor_kb, retrieved):
    text = "结论：有经济补偿。\n依据：《劳动合同法》第四十六条规定“用人单位应当向劳动者支付经济补偿”。\n建议：协商。"
    got = score_answer(text, gold_refs(GOLD), labor_kb, retrieved, reference="有补偿")
    assert got["cites_gold"] and got["cites_any"] and not got["refused"]
    assert got["verified"] == {"ok": 1, "not_retrieved": 0, "not_in_kb": 0, "text_mismatch": 0}
    assert got["fabricated"] == [] and got["rouge_l"] > 0


def test_invented_article_number_is_fabricated_but_an_unknown_law_is_not(labor_kb, retrieved):
    got = score_answer("依据《劳动合同法》第二百条和《公司法》第三条。", gold_refs(GOLD), labor_kb, retrieved)
    assert got["fabricated"] == ["《劳动合同法》第二百条"]
    assert got["verified"]["not_in_kb"] == 2 and not got["cites_gold"]


def test_refusal_and_raw_citations(labor_kb):
    refused = score_answer("现有法条不足以回答。", gold_refs(GOLD), labor_kb, [])
    assert refused["refused"] and not refused["cites_any"]
    raw = score_answer("根据劳动合同法第46条，应当支付经济补偿。", gold_refs(GOLD), labor_kb, [])
    assert raw["cites_gold"] and raw["verified"]["not_retrieved"] == 1  # raw has no retrieved articles


def test_gold_rank_and_oracle_articles(labor_kb, retrieved):
    rank = gold_rank(retrieved, gold_refs(GOLD))
    assert rank is not None and retrieved[rank - 1].article.article_no == 46
    outside = [{"law": "中华人民共和国民法典", "article_cn": "第五十六条", "text": "个体工商户的债务，个人经营的，以个人财产承担。"}]
    [in_kb], [not_in_kb] = gold_citations(GOLD, labor_kb), gold_citations(outside, labor_kb)
    assert in_kb.article is labor_kb.lookup("劳动合同法", 46)  # the KB's own article
    assert not_in_kb.article.text.startswith("个体工商户") and not_in_kb.label == "《民法典》第五十六条"


def test_summary_counts_the_rows():
    def mode(refused, gold, fabricated=()):
        return {"refused": refused, "cites_any": gold, "cites_gold": gold, "fabricated": list(fabricated),
                "verified": {"ok": int(gold), "not_retrieved": 0, "not_in_kb": len(fabricated), "text_mismatch": 0},
                "rouge_l": 20.0, "ttft_s": 1.0, "total_s": 4.0}

    rows = [{"query_id": 1, "retrieval": {"gold_rank": 1, "abstain": False}, "rag": mode(False, True),
             "raw": mode(False, False, ["《民法典》第九千条"])},
            {"query_id": 2, "retrieval": {"gold_rank": None, "abstain": False}, "rag": mode(True, False),
             "raw": mode(False, False)}]
    s = summarize(rows, ("rag", "raw"))
    assert s["modes"]["rag"]["refusal"] == 0.5 and s["modes"]["rag"]["cites_gold"] == 0.5
    assert s["modes"]["raw"]["fabricated"] == 1 and s["modes"]["raw"]["answers_with_fabricated"] == 0.5
    assert s["retrieval"] == {"gold_retrieved": 0.5, "gold_at_1": 0.5, "abstained": 0.0,
                              "gold_retrieved_but_refused": 0, "gold_retrieved_not_cited": 0}
    assert "| rag | 2 | 50.0% |" in summary_table(s)


def test_judge_in_both_orders_averages_a_position_bias():
    always_a = json.dumps({"A": dict.fromkeys(LEGAL_QA_RUBRIC, 9), "B": dict.fromkeys(LEGAL_QA_RUBRIC, 4),
                           "理由": "A 更好", "胜者": "A"}, ensure_ascii=False)
    with FakeOpenAI(answer=always_a) as fake:
        verdict = judge_swapped("问题", "RAG 的回答", "原始模型的回答", ChatClient(fake.endpoint, "fake"), LEGAL_QA_RUBRIC)
        prompts = [r["messages"][0]["content"] for r in fake.requests]
    assert prompts[0].index("RAG 的回答") < prompts[0].index("原始模型的回答")
    assert prompts[1].index("原始模型的回答") < prompts[1].index("RAG 的回答")
    assert set(verdict.scores_a.values()) == {6.5} and verdict.winners == ["A", "B"]
    rows = comparison_table(verdict, "RAG", "原始模型")
    assert rows[0] == {"维度": "结论正确", "RAG": "⚠️ 6.5", "原始模型": "⚠️ 6.5"}
    assert [score_mark(x) for x in (9, 6, 2, None)] == ["✅", "⚠️", "❌", "—"]
