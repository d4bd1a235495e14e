"""rag/answer/claims.py: an answer cut into claims (sentences, 结论/依据/建议 items) and modal words."""
import pytest

from rag.answer.claims import polarity_words, split_claims

ANSWER = """您好。
**结论**：公司应当支付经济补偿。
**依据**：
1. 《劳动合同法》第四十六条规定：“有下列情形之一的，用人单位应当向劳动者支付经济补偿。用人单位依法终止……”
2. 第四十七条：经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资。
**建议**：收集证据，及时申请劳动仲裁。希望对您有帮助！"""


def test_sentences_sections_and_places():
    claims = split_claims(ANSWER)
    assert [c.text for c in claims] == [
        "您好。", "公司应当支付经济补偿。",
        "《劳动合同法》第四十六条规定：“有下列情形之一的，用人单位应当向劳动者支付经济补偿。用人单位依法终止……”",
        "第四十七条：经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资。",
        "收集证据，及时申请劳动仲裁。", "希望对您有帮助！"]
    assert [c.section for c in claims] == ["", "结论", "依据", "依据", "建议", "建议"]
    for c in claims:  # each claim knows where it sits, so a mark can go right after it
        assert ANSWER[c.start:c.end] == c.text


def test_greetings_and_closing_words_are_not_checked():
    checkable = {c.text: c.checkable for c in split_claims(ANSWER)}
    assert not checkable["您好。"] and not checkable["希望对您有帮助！"]
    assert checkable["公司应当支付经济补偿。"]


def test_a_quoted_article_stays_one_claim():
    claims = split_claims("第三条规定：“职工累计工作已满1年不满10年的，年休假5天；已满10年不满20年的，年休假10天。”")
    assert len(claims) == 1


def test_advice_is_marked():
    claims = {c.text: c.advice for c in split_claims("用人单位应当支付加班费。建议您保留考勤记录作为证据。")}
    assert claims == {"用人单位应当支付加班费。": False, "建议您保留考勤记录作为证据。": True}


def test_list_markers_and_headings_are_left_out_of_the_text():
    claims = split_claims("### 结论\n- 用人单位应当支付二倍工资。\n（1）劳动者可以随时通知用人单位解除劳动合同。")
    assert [c.text for c in claims] == ["用人单位应当支付二倍工资。", "劳动者可以随时通知用人单位解除劳动合同。"]
    assert all(c.section == "结论" for c in claims)


@pytest.mark.parametrize("text, words", [
    ("用人单位应当支付工资", [("应当", False)]), ("用人单位不得解除劳动合同", [("不得", True)]),
    ("劳动者可以解除", [("可以", False)]), ("劳动者不可以解除", [("不可以", True)]),
    ("劳动者可以不支付", [("可以不", True)]), ("劳动者无权要求", [("无权", True)]),
    ("劳动者有权要求", [("有权", False)]), ("禁止招用童工", [("禁止", True)]), ("不享有年休假", [("不享有", True)]),
])
def test_modal_words_and_their_polarity(text, words):
    assert [(m.word, m.negative) for m in polarity_words(text)] == words


@pytest.mark.parametrize("text", ["所有权人的财产", "因不可抗力不能履行", "这不必然导致解除"])
def test_words_that_only_contain_a_modal_are_not_modal(text):
    assert [m.word for m in polarity_words(text) if m.word in ("有权", "不可", "不必")] == []


def test_conclusion_basis_advice_items_are_claims_in_their_sections():
    answer = "结论：可以要求经济补偿。\n依据：\n1. 用人单位应当支付经济补偿；\n2. 按工作年限计算补偿。\n建议：保留好工资条和考勤记录。"
    claims = [c for c in split_claims(answer) if c.checkable]
    assert [(c.section, c.text) for c in claims] == [
        ("结论", "可以要求经济补偿。"), ("依据", "用人单位应当支付经济补偿；"), ("依据", "按工作年限计算补偿。"),
        ("建议", "保留好工资条和考勤记录。")]
    assert [c.advice for c in claims] == [False, False, False, True]
    assert all(answer[c.start:c.end] == c.text for c in claims)


@pytest.mark.parametrize("text, word, verb", [("行政机关不得公开。", "不得", "公开"), ("该权利不能转让。", "不能", "转让"),
                                              ("对该请求不予认定。", "不予", "认定")])
def test_a_modal_word_jieba_glues_to_its_verb_is_read_apart(text, word, verb):
    """jieba's dictionary holds 不得公开, 不能转让, 不予认定 as one word: the modal word must still be seen."""
    found = polarity_words(text)
    assert [m.word for m in found] == [word]
    assert text[found[0].end:].startswith(verb)
