"""Checks that never give false confidence (issue 33, item 3): one citation for 「第八十二条 第一条」,
figures compared only with an article on the same subject, a summary line that says what it
measured, and a warning when an answer rests only on articles that match the question weakly.

Real parts: articles from ../shared/data/statutes, the real KB and retriever (tests/kb_fixtures.py),
the app in AppTest; the fake OpenAI server (tests/fakes.py) gives the fixed answers."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from rag.answer import relevance
from rag.answer.attribution import SCOPE_NOTE, attribute
from rag.answer.relevance import reliance
from rag.answer.verify import verify_citations
from rag.retrieval.hybrid import HybridRetriever
from rag.types import Article, Citation, VerifiedCitation
from settings import ROOT, get_settings
from tests.browser import endpoints_json
from tests.fakes import FakeOpenAI
from tests.test_attribution import article, only

APP = str(ROOT / "app.py")
TIMEOUT_S = 60


# ---------------------------------------------------------------- 「第八十二条 第一条」

def test_a_spurious_first_article_after_the_cited_one_is_one_verified_citation(labor_kb):
    """The model wrote 「第八十二条 第一条」 (meaning its first 款); the check read 第一条 as a second
    citation it could not verify, and the page drew a red error box."""
    question = "入职半年公司一直不签劳动合同，能要求双倍工资吗？"
    found = HybridRetriever(labor_kb, labor_kb.embedder).retrieve(question, k=8).citations
    assert any(c.article.article_id == "劳动合同法第八十二条" for c in found)
    for written in ("《劳动合同法》第八十二条 第一条", "《劳动合同法》第八十二条第一条", "《劳动合同法》第八十二条 第一款"):
        answer = f"根据{written}，用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。"
        checked = verify_citations(answer, labor_kb, found)
        assert [(v.article_no, v.status, v.mention) for v in checked] == [(82, "ok", written)]


# ---------------------------------------------------------------- figures on the same subject

@pytest.fixture(scope="module")
def overtime_and_penalty():
    """劳动合同法第八十五条 speaks of 加班费 too, but its 百分之五十…百分之一百 is the 赔偿金 rate."""
    return [article("劳动合同法第八十五条"), article("劳动法第四十四条")]


@pytest.mark.parametrize("answer", ["工作日加班的，加班费按工资的1.5倍支付。",
                                    "安排加班不支付加班费的，工作日加班应按照不低于工资的1.5倍支付加班费。"])
def test_a_right_overtime_rate_is_not_compared_with_the_penalty_article(answer, overtime_and_penalty):
    """The raw answer's correct 「1.5 倍」 sentence was flagged 「回答写 1.5 倍；第八十五条为 100%」."""
    assert only(answer, overtime_and_penalty[:1]).flags == []  # 第八十五条 alone: nothing on this subject
    assert only(answer, overtime_and_penalty).flags == []


def test_a_wrong_overtime_rate_is_still_flagged_against_the_overtime_article(overtime_and_penalty):
    c = only("工作日加班的，加班费按工资的3倍支付。", overtime_and_penalty)
    assert c.reason == "回答写 3 倍；第四十四条为 150%"


def test_a_wrong_penalty_rate_is_flagged_against_the_penalty_article(overtime_and_penalty):
    c = only("逾期不支付加班费的，劳动行政部门责令用人单位按应付金额百分之二百以上的标准加付赔偿金。", overtime_and_penalty)
    assert [(f.answer, f.where) for f in c.flags if f.kind == "number"] == [("200%", "第八十五条")]


# ---------------------------------------------------------------- the summary line

def test_the_summary_says_it_checked_words_not_fit():
    a = attribute("安排劳动者延长工作时间的，支付不低于工资的百分之一百五十的工资报酬。", [article("劳动法第四十四条")])
    summary = a.summary()
    assert summary.startswith("1 句中 1 句的说法在法条原文中找得到") and summary.endswith(SCOPE_NOTE)
    assert "有法条依据" not in summary and "不判断这些法条是否适用" in summary


# ---------------------------------------------------------------- relevance of what the answer relies on

def _citation(law: str, no: int, cn: str, score: float, how=("bm25", "dense")) -> Citation:
    return Citation(Article(text=f"{law}{cn}的条文", law_short=law, article_no=no, article_cn=cn), score, list(how))


RETRIEVED = [_citation("劳动法", 44, "第四十四条", 0.033), _citation("劳动法", 41, "第四十一条", 0.030),
             _citation("劳动法", 36, "第三十六条", 0.028), _citation("劳动合同法", 31, "第三十一条", 0.020),
             _citation("劳动合同法", 82, "第八十二条", 0.016), _citation("劳动合同法", 47, "第四十七条", 0.015)]


def _cites(*citations: Citation) -> list[VerifiedCitation]:
    return [VerifiedCitation(c.article.law_short, c.article.article_cn, c.article.article_no, c.label, "ok", c.article)
            for c in citations]


def test_an_answer_resting_only_on_low_ranked_articles_is_weak():
    weak = reliance(_cites(RETRIEVED[4], RETRIEVED[5]), RETRIEVED)
    assert weak.weak and [a.rank for a in weak.articles] == [5, 6]
    assert "《劳动合同法》第八十二条：检索第 5 位，匹配度低" in weak.warning()
    assert not reliance(_cites(RETRIEVED[0], RETRIEVED[4]), RETRIEVED).weak  # one well-matching article is enough
    assert not reliance([], RETRIEVED).weak  # nothing cited: verify.needs_basis speaks for that case
    assert reliance([], RETRIEVED).warning() == ""


def test_a_cited_article_not_retrieved_is_weak_and_one_the_question_named_is_strong():
    not_retrieved = _citation("劳动合同法", 2, "第二条", 0.0)
    assert reliance(_cites(not_retrieved), RETRIEVED).articles[0].label == "不在检索结果中"
    named = [*RETRIEVED[:5], _citation("劳动合同法", 98, "第九十八条", 1.0, ("exact",))]
    assert not reliance(_cites(named[-1]), named).weak


def test_a_low_score_share_is_weak_where_the_threshold_asks_for_one(monkeypatch):
    monkeypatch.setattr(relevance, "STRONG_SHARE", 0.95)
    assert reliance(_cites(RETRIEVED[1]), RETRIEVED).weak  # rank 2, 0.030 / 0.033 = 91% of the best
    assert not reliance(_cites(RETRIEVED[0]), RETRIEVED).weak


def test_the_warning_rides_with_the_checked_answer_into_the_export():
    from rag.answer.conversation import Reply, Turn, check_answers, to_markdown
    from ui.attribution import summary_icon

    turn = Turn(question="工作日加班费怎么算？", citations=RETRIEVED)
    turn.rag = Reply(answer="根据《劳动合同法》第八十二条，劳动合同法第八十二条的条文。")
    turn.verified = _cites(RETRIEVED[4])
    check_answers(turn)
    assert turn.rag.relevance.weak and summary_icon(turn.rag.attribution, weak_basis=True) == "⚠️"
    assert f"> ⚠️ {turn.rag.relevance.warning()}" in to_markdown([turn])


@pytest.fixture
def app_on_fake(app_data, monkeypatch):
    def run(answer: str, question: str) -> AppTest:
        import streamlit as st

        st.cache_resource.clear()  # the chat client of the previous run's fake server
        with FakeOpenAI(answer=answer) as fake:
            monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(embedded=fake.endpoint))
            get_settings.cache_clear()
            at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
            at.chat_input(key="question").set_value(question).run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return run


def test_an_answer_built_on_unrelated_articles_shows_the_warning(app_on_fake):
    """Asked about severance, the (fake) model answers from 第二条 (scope) and 第九十八条 (entry into
    force), which retrieval did not bring: the page warns that what the answer relies on does not
    match the question. An answer resting on the top retrieved article gets no such warning."""
    question = "公司解除劳动合同要付经济补偿吗？"
    unrelated = "根据《劳动合同法》第二条和第九十八条，公司应当支付经济补偿。"
    at = app_on_fake(unrelated, question)
    titles = [e.label for e in at.chat_message[-1].expander if e.label != "推理过程"]
    assert not any("第二条" in t or "第九十八条" in t for t in titles), titles
    summary = next(m.value for m in at.chat_message[-1].markdown if "法条核对：" in m.value)
    assert summary.startswith("⚠️") and "不判断这些法条是否适用于您的情况" in summary  # never ✅ on such a basis
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("回答所依据的法条与问题的匹配度都较低") and "第九十八条：不在检索结果中" in w
               for w in warnings), warnings

    top = titles[0].split(" · ")[0].removeprefix("[1] ")  # 《劳动合同法》第四十六条
    at = app_on_fake(f"根据{top}，公司应当支付经济补偿。", question)
    assert not any(w.value.startswith("回答所依据的法条") for w in at.warning), [w.value for w in at.warning]
    lines = "\n".join(m.value for m in at.chat_message[-1].markdown)
    assert f"- {top}：✅ 已核验（在检索到的法条中） · 与问题的匹配：检索第 1 位" in lines
