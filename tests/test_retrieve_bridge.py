"""The term bridge (rag/retrieval/bridge.py, its data file) and the coverage rescoring of the BM25
list (rag/retrieval/coverage.py), alone and inside the hybrid retriever on a real KB."""
from __future__ import annotations

import json

import pytest

from rag.retrieval.bridge import BRIDGE_FILE, WEIGHT, TermBridge
from rag.retrieval.coverage import W_LAW, coverage_rescore, longest_shared
from rag.retrieval.hybrid import HybridRetriever
from rag.retrieval.lexical import bm25_of
from rag.types import Article


def test_expansion_terms_weigh_less_than_the_question_and_skip_what_it_says():
    bridge = TermBridge({"邻居": [("相邻", 2.0), ("不动产", 1.0)], "房子": [("不动产", 3.0), ("邻居", 1.0)]},
                        max_terms=8, weight=0.3)
    got = dict(bridge.expand(["邻居", "房子", "漏水"]))
    assert got == {"不动产": 0.3, "相邻": 0.2}  # best source per term; 邻居 is asked already
    assert TermBridge({"邻居": [("相邻", 1.0), ("不动产", 0.5)]}, max_terms=1).expand(["邻居"]) == [("相邻", WEIGHT)]
    assert bridge.expand(["红烧肉"]) == []


def test_the_shipped_bridge_says_where_it_comes_from():
    data = json.loads(BRIDGE_FILE.read_text(encoding="utf-8"))
    assert "STARD" in data["source"] and "train" in data["source"] and "MIT" in data["licence"]
    assert data["bridge"] and all(len(t) >= 2 and s > 0 for terms in data["bridge"].values() for t, s in terms)
    assert TermBridge.load().expand(["邻居"])  # a lay word STARD's questions use for 相邻关系


def test_longest_shared_phrase():
    assert longest_shared("不能胜任工作吗", "劳动者不能胜任工作，经过培训") == 6
    assert longest_shared("红烧肉", "劳动合同") == 0
    assert longest_shared("甲" * 30, "甲" * 30, cap=12) == 12


def article(text: str, law_title: str = "中华人民共和国劳动合同法", law_short: str = "劳动合同法") -> Article:
    return Article(text=text, law_title=law_title, law_short=law_short, article_cn="第一条", article_no=1)


def test_coverage_lifts_the_article_that_says_the_question():
    question = "劳动者不能胜任工作怎么办"
    articles = [article("用人单位可以调整工作岗位。"), article("劳动者不能胜任工作，经过培训或者调整工作岗位，仍不能胜任工作的。")]
    ranked = coverage_rescore(question, ["劳动者", "不能", "胜任", "工作"], [(0, 10.0), (1, 9.0)], articles)
    assert [row for row, _ in ranked] == [1, 0]


def test_law_named_in_the_question_counts():
    articles = [article("试用期。", "中华人民共和国劳动法", "劳动法"), article("试用期。")]
    ranked = dict(coverage_rescore("劳动合同法的试用期", ["劳动合同", "试用期"], [(0, 5.0), (1, 5.0)], articles))
    assert ranked[1] - ranked[0] == pytest.approx(W_LAW)


def test_expansion_neither_searches_alone_nor_moves_the_abstain_score(labor_kb):
    index, tokens = bm25_of(labor_kb.snapshot()), labor_kb.tokenizer.tokens("试用期工资")
    _, plain, best = index.search_with_best(tokens, 5)
    _, expanded, best_expanded = index.search_with_best(tokens, 5, [("劳动报酬", 0.3)])
    assert best == best_expanded == plain[0] and expanded[0] >= plain[0]
    rows, _, best = index.search_with_best(labor_kb.tokenizer.tokens("红烧肉"), 5, [("劳动报酬", 1.0)])
    assert len(rows) == 0 and best == 0.0


def test_retriever_with_bridge_and_coverage_still_abstains_off_topic(labor_kb):
    on = HybridRetriever(labor_kb, labor_kb.embedder)
    off = HybridRetriever(labor_kb, labor_kb.embedder, bridge=False, coverage=False)
    assert on.bridge is not None and off.bridge is None
    for question in ("红烧肉怎么做才好吃？", "明天北京会下雨吗？"):
        assert on.retrieve(question).abstain and off.retrieve(question).abstain
    found = on.retrieve("公司不给加班费怎么办", k=5)
    assert not found.abstain and found.best_bm25 == off.retrieve("公司不给加班费怎么办", k=5).best_bm25
