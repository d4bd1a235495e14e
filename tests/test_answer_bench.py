"""The answer benchmark's scoring (rag/eval/answers.py) on hand-made answers, and the judge in
both orders against the loopback fake server."""
from __future__ import annotations

import json

import pytest

from rag.eval.answers import gold_citations, gold_rank, gold_refs, score_answer, summarize, summary_table
from rag.eval.judge import LEGAL_QA_RUBRIC, comparison_table, judge_swapped, score_mark
from rag.retrieval.hybrid import HybridRetriever
from rag.types import Citation
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


OVERTIME_WRONG = "根据《劳动法》第四十四条，工作日安排劳动者延长工作时间的，应按 2 倍支付加班费。"
SEVERANCE = "合同期满用人单位不续订的，用人单位应当向劳动者支付经济补偿。"


def test_wrong_multiple_is_counted_as_a_number_mismatch(labor_kb):
    article_44 = [Citation(labor_kb.lookup("劳动法", 44), 1.0, ["exact"])]
    got = score_answer(OVERTIME_WRONG, [], labor_kb, article_44)["attribution"]
    assert got["counts"]["number_mismatches"] == 1 and got["counts"]["negation_flips"] == 0
    assert "1 处数字与法条不符" in got["summary"]
    [flag] = [f for c in got["claims"] for f in c["flags"]]
    assert (flag["answer"], flag["article"], flag["where"]) == ("2 倍", "150%", "第四十四条")


def test_raw_answer_is_attributed_to_the_rag_answers_articles(labor_kb, retrieved):
    rag_side = score_answer(SEVERANCE, gold_refs(GOLD), labor_kb, retrieved)["attribution"]
    raw_side = score_answer(SEVERANCE, gold_refs(GOLD), labor_kb, [], against=retrieved)["attribution"]
    assert raw_side["counts"] == rag_side["counts"] and raw_side["summary"] == rag_side["summary"]
    assert rag_side["counts"]["supported"] == rag_side["counts"]["claims"] == 1
    assert score_answer(SEVERANCE, [], labor_kb, [])["attribution"] is None  # no articles to check against
    assert score_answer("现有法条不足以回答。", [], labor_kb, retrieved)["attribution"] is None  # a refusal
    assert score_answer(SEVERANCE, [], labor_kb, retrieved, abstain=True)["attribution"] is None


def test_summary_has_supported_claims_and_mismatches_per_answer(labor_kb, retrieved):
    article_44 = [Citation(labor_kb.lookup("劳动法", 44), 1.0, ["exact"])]
    timing = {"ttft_s": 1.0, "total_s": 2.0}
    wrong = score_answer(OVERTIME_WRONG + SEVERANCE, [], labor_kb, article_44 + list(retrieved)) | timing
    right = score_answer(SEVERANCE, [], labor_kb, [], against=retrieved) | timing
    refused = score_answer("现有法条不足以回答。", [], labor_kb, retrieved) | timing
    old = {k: v for k, v in right.items() if k != "attribution"}  # a row written before the check
    rows = [{"query_id": 1, "retrieval": {"gold_rank": 1, "abstain": False}, "rag": wrong, "raw": right},
            {"query_id": 2, "retrieval": {"gold_rank": 1, "abstain": False}, "rag": refused, "raw": old}]
    s = summarize(rows, ("rag", "raw"))
    rag_m, raw_m = s["modes"]["rag"], s["modes"]["raw"]
    assert rag_m["attributed"] == 1 and rag_m["number_mismatches_per_answer"] == 1.0  # the refusal is not counted
    assert rag_m["claims"] == 2 and rag_m["supported_rate"] == rag_m["supported_claims"] / 2
    assert raw_m["attributed"] == 1 and raw_m["supported_rate"] == 1.0 and raw_m["number_mismatches_per_answer"] == 0
    table = summary_table(s)
    assert "| supported claims | number mismatches / answer | negation flips / answer |" in table
    assert "| 100.0% (1/1) | 0.00 | 0.00 |" in table and "rag 1/2, raw 1/2 answers checked" in table
    assert "| — | — | — |" in summary_table(summarize([{**rows[1], "rag": old}], ("rag",)))


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
