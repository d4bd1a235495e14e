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
    assert c.status == "none" and c.sources == [] and c.reason == "法条中找不到这个说法"


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
    assert result.summary() == ("3 句中 1 句的说法在法条原文中找得到，1 句在法条中找不到，1 处数字与法条不符"
                                "（只核对字句是否出自检索到的法条，不判断这些法条是否适用于您的情况）")
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
                                     "离婚后孩子的抚养权一般归母亲。 ⚠️（法条中找不到这个说法）")


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


def cited(text: str, no: int, cn: str, law: str = "民法典") -> Citation:
    return Citation(Article(text=text, law_short=law, article_no=no, article_cn=cn), 1.0)


RENEWAL = cited("注册商标有效期满，需要继续使用的，商标注册人应当在期满前十二个月内按照规定办理续展手续；在此期间未能办理的，"
                "可以给予六个月的宽展期。", 40, "第四十条", "商标法")


def test_in_a_span_stating_two_limits_the_figure_must_match_the_one_it_stands_for():
    """期满前十二个月内 … 六个月的宽展期: 十二个月 for the grace period is wrong, though the article says 十二个月."""
    assert only("商标注册人应当在期满前十二个月内按照规定办理续展手续。", [RENEWAL]).flags == []
    assert only("在此期间未能办理的，可以给予六个月的宽展期。", [RENEWAL]).flags == []
    c = only("在此期间未能办理的，可以给予十二个月的宽展期。", [RENEWAL])
    assert c.reason == "回答写 1 年；第四十条为 6 个月"


RESCUE = cited("自然人的生命权、身体权、健康权受到侵害或者处于其他危难情形的，负有法定救助义务的组织或者个人应当及时施救。",
               1005, "第一千零五条")


def test_a_claim_naming_an_article_that_was_not_retrieved_is_not_checked_against_others():
    """第四十四条 was not retrieved: 第八十五条's 百分之五十 and 第八十二条's 二倍 say nothing about
    what it states, so the right 百分之一百五十 carries no flag (the app's demo answer did)."""
    claim = "根据《劳动法》第四十四条，应支付不低于工资百分之一百五十的工资报酬。"
    others = [article("劳动合同法第八十五条"), article("劳动合同法第八十二条")]
    c = only(claim, others)
    assert c.status != "none" and c.flags == []
    assert only(claim.replace("第四十四条，", ""), others).flags  # unnamed, it is checked on the spans it echoes
    with_44 = only(claim.replace("百分之一百五十", "百分之一百二十"), [article("劳动法第四十四条"), *others])
    assert [f.where for f in with_44.flags] == ["第四十四条"]  # retrieved, the named article decides
    # modal words alike: 第1105条 is not 第一千零五条, whose 应当 is not the named article's word
    assert only("根据《民法典》第1105条，负有法定救助义务的组织或者个人无须及时施救。", [RESCUE]).flags == []


def test_a_claim_naming_an_article_is_also_checked_against_the_articles_citing_it():
    """依照第510条仍不能确定的，…: 第九百零二条 (which cites 第五百一十条) decides the payment rule."""
    art510 = cited("合同生效后，当事人就质量、价款或者报酬、履行地点等内容没有约定或者约定不明确的，可以协议补充；"
                   "不能达成补充协议的，按照合同相关条款或者交易习惯确定。", 510, "第五百一十条")
    art902 = cited("当事人对支付期限没有约定或者约定不明确，依据本法第五百一十条的规定仍不能确定的，应当在领取保管物的同时支付。",
                   902, "第九百零二条")
    claim = "依照《民法典》第510条的规定仍不能确定的，无须在领取保管物的同时支付。"
    assert [f.where for f in only(claim, [art510, art902]).flags] == ["第九百零二条"]


def test_a_tie_on_context_goes_to_the_best_span():
    """可以撤销赠与 (the article the claim echoes) and 依法不得撤销的…赠与合同 (another) fit the claim's
    context alike: the better-scoring span's modal word decides."""
    revoke = cited("受赠人有下列情形之一的，赠与人可以撤销赠与：\n（三）不履行赠与合同约定的义务。", 663, "第六百六十三条")
    public = cited("经过公证的赠与合同或者依法不得撤销的具有救灾、扶贫、助残等公益、道德义务性质的赠与合同，不适用前款规定。",
                   658, "第六百五十八条")
    c = only("子女不履行赠与合同约定的义务，父母不得请求撤销赠与。", [revoke, public])
    assert [f.where for f in c.flags] == ["第六百六十三条"]
    assert only("子女不履行赠与合同约定的义务，父母可以请求撤销赠与。", [revoke, public]).flags == []


def test_connectives_are_not_the_verb_of_a_modal_word():
    from rag.answer.mismatch import verb_words

    assert verb_words("减轻或者不承担责任。") == ["减轻", "承担责任"]
    assert verb_words("随时请求履行") == ["请求", "履行"]
