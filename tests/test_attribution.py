"""rag/answer/attribution.py: claims traced to 款/项 spans of the retrieved articles; figures and modal
words checked against them. Articles are read from ../shared/data/statutes (the project's
statute chunker is tested against the same file)."""
import json
from pathlib import Path

import pytest

from rag.answer.attribution import Attribution, attribute
from rag.types import Article, Citation

ARTICLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "statutes" / "labor_statutes_articles.jsonl"


def article(article_id: str) -> Citation:
    for line in ARTICLES.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["id"] == article_id:
            return Citation(Article(text=r["text"], law_title=r["law_title"], law_short=r["law"],
                                    article_no=r["article_num"], article_cn=r["article_cn"]), 1.0)
    raise KeyError(article_id)


@pytest.fixture(scope="module")
def overtime():
    """What the retriever gives for an overtime question: 第四十四条, 第四十一条, 第三十六条."""
    return [article("劳动法第四十四条"), article("劳动法第四十一条"), article("劳动法第三十六条")]


def only(answer, citations):
    checked = [c for c in attribute(answer, citations).claims if c.status != "skip"]
    assert len(checked) == 1, checked
    return checked[0]


def test_a_wrong_multiple_is_flagged_against_article_44(overtime):
    c = only("按 2 倍支付工作日加班费。", overtime)
    assert c.status == "supported" and c.sources[0].article_cn == "第四十四条"
    assert [f.kind for f in c.flags] == ["number"]
    assert c.reason == "回答写 2 倍；第四十四条为 150%"


@pytest.mark.parametrize("answer", ["工作日加班的，用人单位应当支付不低于工资百分之一百五十的工资报酬。",
                                    "工作日延长工作时间的，支付不低于工资150%的工资报酬。",
                                    "工作日加班应按 1.5 倍支付加班费。"])
def test_the_right_multiple_in_any_form_is_clean(answer, overtime):
    c = only(answer, overtime)
    assert c.status == "supported" and c.sources[0].article_cn == "第四十四条"
    assert c.flags == [] and c.reason == ""


def test_the_supporting_span_is_the_item_and_its_words_are_found(overtime):
    c = only("法定休假日安排劳动者工作的，支付不低于工资的百分之三百的工资报酬。", overtime)
    assert c.sources[0].span.startswith("（三）法定休假日")
    assert "休假日" in c.sources[0].words and all(w in c.sources[0].span for w in c.sources[0].words)


def test_a_wrong_time_limit_is_flagged(overtime):
    c = only("因特殊原因延长工作时间的，每日不得超过五小时。", overtime)
    assert [(f.kind, f.answer, f.article) for f in c.flags] == [("number", "5 小时", "3 小时")]


def test_a_flipped_modal_word_is_flagged(overtime):
    c = only("因特殊原因需要延长工作时间的，延长工作时间每日可以超过三小时。", overtime)
    assert [(f.kind, f.answer, f.article) for f in c.flags] == [("negation", "可以", "不得")]
    assert c.reason == "回答写「可以」；第四十一条为「不得」"
    assert only("因特殊原因需要延长工作时间的，延长工作时间每日不得超过三小时。", overtime).flags == []


def test_negation_across_articles_of_two_laws():
    minors = [article("劳动法第十五条")]
    assert [f.kind for f in only("用人单位可以招用未满十六周岁的未成年人。", minors).flags] == ["negation"]
    assert only("禁止用人单位招用未满十六周岁的未成年人。", minors).flags == []
    assert [(f.answer, f.article) for f in only("用人单位不得招用未满十八周岁的未成年人。", minors).flags] == \
        [("18 周岁", "16 周岁")]


def test_a_sentence_with_no_article_behind_it(overtime):
    c = only("离婚后孩子的抚养权一般归母亲。", overtime)
    assert c.status == "none" and c.sources == [] and c.reason == "未找到法条依据"


def test_the_users_own_facts_and_computed_amounts_are_not_judged():
    c = only("您已经工作了三年，经济补偿按每满一年支付一个月工资计算，应支付三个月工资。", [article("劳动合同法第四十七条")])
    assert c.status == "supported" and c.flags == []


def test_a_claim_naming_an_article_is_checked_against_that_article(overtime):
    c = only("根据《劳动法》第四十四条，休息日安排加班又不能补休的，支付百分之一百五十的工资报酬。", overtime)
    assert [(f.answer, f.article, f.where) for f in c.flags] == [("150%", "200%", "第四十四条")]


def test_summary_counts_sentences_and_mismatches(overtime):
    answer = ("**结论**：工作日加班应按 2 倍支付加班费。\n"
              "**依据**：《劳动法》第四十一条规定，延长工作时间每月不得超过三十六小时。\n"
              "离婚后孩子的抚养权一般归母亲。\n**建议**：保留考勤记录。希望对您有帮助。")
    result = attribute(answer, overtime)
    assert result.summary() == "3 句中 1 句有法条依据，1 句未找到依据，1 处数字与法条不符"
    assert result.counts()["number_mismatches"] == 1
    stored = json.loads(json.dumps(result.to_dict()))
    assert Attribution.from_dict(stored).summary() == result.summary()
    assert stored["counts"]["claims"] == 3 and stored["counts"]["number_mismatches"] == 1  # not hidden by the claim list


def test_nothing_retrieved_means_no_basis_and_no_crash():
    result = attribute("用人单位应当支付加班费。", [])
    assert [c.status for c in result.claims] == ["none"]
    assert attribute("", []).summary() == "回答中没有可核对的句子"


def test_marked_answer_puts_sources_and_reasons_after_each_sentence(overtime):
    answer = "工作日加班应按 2 倍支付加班费。延长工作时间每月不得超过三十六小时。离婚后孩子的抚养权一般归母亲。"
    result = attribute(answer, overtime)
    assert result.marked(answer) == ("工作日加班应按 2 倍支付加班费。[1] ⚠️（回答写 2 倍；第四十四条为 150%）"
                                     "延长工作时间每月不得超过三十六小时。[2]"
                                     "离婚后孩子的抚养权一般归母亲。 ⚠️（未找到法条依据）")


LAND = Citation(Article(text="承包期内，发包方不得收回承包地。承包方不交回的，发包方可以依法收回承包的耕地和草地。",
                        law_title="中华人民共和国农村土地承包法", law_short="农村土地承包法", article_no=27,
                        article_cn="第二十七条"), 1.0)


def test_a_flip_is_judged_by_the_modal_word_standing_where_the_claims_does():
    """The article says 不得收回 and 可以依法收回 for two cases: each claim is held to its own case."""
    assert only("承包方不交回的，发包方可以收回承包的耕地和草地。", [LAND]).flags == []
    assert only("承包期内，发包方不得收回承包地。", [LAND]).flags == []
    flagged = only("承包方不交回的，发包方不得收回承包的耕地和草地。", [LAND])
    assert [f.kind for f in flagged.flags] == ["negation"]
    assert flagged.reason == "回答写「不得」；第二十七条为「可以」"
    assert [f.article for f in only("承包期内，发包方可以收回承包地。", [LAND]).flags] == ["不得"]


def test_a_modal_word_of_another_party_is_not_compared():
    article = Citation(Article(text="用人单位不得解除劳动合同。", law_short="劳动法", article_no=29,
                               article_cn="第二十九条"), 1.0)
    assert only("劳动者可以解除劳动合同。", [article]).flags == []
    assert [f.kind for f in only("用人单位可以解除劳动合同。", [article]).flags] == ["negation"]


def test_a_days_limit_for_a_months_limit_is_flagged_with_both_values():
    article = Citation(Article(text="劳动合同期限一年以上不满三年的，试用期不得超过二个月。", law_short="劳动合同法",
                               article_no=19, article_cn="第十九条"), 1.0)
    c = only("劳动合同期限一年以上不满三年的，试用期不得超过六十日。", [article])
    assert c.reason == "回答写 60 日；第十九条为 2 个月"


def test_aligned_check_off_gives_the_earlier_behaviour(monkeypatch):
    """ALIGNED_CHECK=False (bench/attribution.py --before): any same-polarity modal word clears."""
    from rag.answer import mismatch

    monkeypatch.setattr(mismatch, "ALIGNED_CHECK", False)
    assert only("承包方不交回的，发包方不得收回承包的耕地和草地。", [LAND]).flags == []
