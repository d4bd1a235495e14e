"""The chat's attribution drawing (ui/attribution.py) and its export (rag/answer/conversation.py) on an
answer that misquotes 《劳动法》第四十四条 (2 倍 for 百分之一百五十)."""
from __future__ import annotations

from rag.answer.conversation import Reply, Turn, check_answers, to_markdown
from rag.types import Article, Citation
from ui.attribution import hard_breaks, highlighted_article, marked_html, sources_by_article

ART_44 = Article(text="有下列情形之一的，用人单位应当按照下列标准支付高于劳动者正常工作时间工资的工资报酬：\n"
                      "（一）安排劳动者延长工作时间的，支付不低于工资的百分之一百五十的工资报酬；\n"
                      "（二）休息日安排劳动者工作又不能安排补休的，支付不低于工资的百分之二百的工资报酬；",
                 law_title="中华人民共和国劳动法", law_short="劳动法", article_no=44, article_cn="第四十四条")
WRONG = "根据《劳动法》第四十四条，公司应按 2 倍支付工作日加班费。"


def checked_turn() -> Turn:
    turn = Turn(question="工作日加班费怎么算？", citations=[Citation(ART_44, 1.0, ["bm25"])])
    turn.rag, turn.raw = Reply(answer=WRONG), Reply(answer="现有法条不足以回答。")
    check_answers(turn)
    return turn


def test_mismatch_is_flagged_against_article_44_in_the_marks_and_the_export():
    turn = checked_turn()
    a = turn.rag.attribution
    assert a.counts()["number_mismatches"] == 1 and "1 处数字与法条不符" in a.summary()
    html = marked_html(WRONG, a)
    assert f"<span style=" in html and "❌ 回答写 2 倍；第四十四条为 150%" in html and ">[1]</sup>" in html
    assert turn.raw.attribution is None  # a refusal is not checked
    export = to_markdown([turn])
    assert f"> 法条核对：{a.summary()}" in export and "⚠️（回答写 2 倍；第四十四条为 150%）" in export


def test_supporting_words_are_highlighted_in_the_article():
    turn = checked_turn()
    shown = highlighted_article(ART_44.text, sources_by_article([turn.rag.attribution])[1])
    assert "<mark" in shown and shown.count("\n") == ART_44.text.count("\n")


def test_model_markup_is_escaped():
    turn = Turn(question="q", citations=[Citation(ART_44, 1.0, ["bm25"])])
    turn.rag = Reply(answer="<img src=x onerror=alert(1)>安排劳动者延长工作时间的，应当支付不低于工资百分之一百五十的工资报酬。")
    check_answers(turn)
    assert "<img" not in marked_html(turn.rag.answer, turn.rag.attribution)


def test_answer_lines_stay_lines():
    """结论/依据/建议 on lines of their own (as the prompt asks) are not run into one paragraph."""
    assert hard_breaks("结论：可以。\n依据：第四十四条。\n\n建议：协商。") == "结论：可以。  \n依据：第四十四条。\n\n建议：协商。"
    turn = checked_turn()
    two_lines = "结论：应当支付加班费。\n" + WRONG
    turn.rag = Reply(answer=two_lines)
    check_answers(turn)
    assert "  \n" in hard_breaks(marked_html(two_lines, turn.rag.attribution))


def test_a_source_mark_of_a_multi_paragraph_article_stays_on_one_line():
    """The tooltip of an [n] mark holds the supporting 款; an article's line breaks inside the HTML
    attribute met hard_breaks and the answer's words around the mark came out garbled
    (seen on the page with a real model answer that copied 第五十条)."""
    from rag.answer.attribution import Source
    from ui.attribution import _source_mark

    mark = _source_mark(Source(4, "《劳动合同法》第五十条", "第五十条", "出具证明。\n办理工作交接。\n保存二年备查。",
                               ["证明"], 1.0))
    assert "\n" not in mark and "出具证明。 办理工作交接。" in mark
