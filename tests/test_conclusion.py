"""A conclusion that only repeats the question is told apart from one that answers it
(rag/answer/conclusion.py); the lawyers' own answers are almost never flagged (bench/conclusions.py)."""
from __future__ import annotations

import pytest

from knowledge.demo_questions import DEMO_QUESTION
from rag.answer.conclusion import conclusion_of, restates_question


def test_the_conclusion_is_the_labelled_sentence_or_the_first():
    assert conclusion_of("你好。\n**结论**：可以解除。\n依据：……") == "可以解除"
    assert conclusion_of("公司应当支付经济补偿。依据是第四十六条。") == "公司应当支付经济补偿"


@pytest.mark.parametrize("answer, restated", [
    ("结论：我主张最近一年的加班费。\n依据：《劳动法》第四十四条", True),  # the 1.5B model on the demo question
    ("结论：公司应以合同约定的月薪8000元为基数支付加班费。", False),  # takes a position
    ("结论：加班费按8000元计算，最近一年差额约2.4万元。", False),  # a figure of its own
    ("结论：可以。", False),  # short is not a restatement
])
def test_demo_question_conclusions(answer, restated):
    assert restates_question(answer, DEMO_QUESTION) is restated


def test_echoing_a_yes_no_question_with_a_verdict_is_an_answer():
    # STARD train: the lawyer's 「承包方可以解除合同」 answers 「…承包方可以解除合同吗？」
    assert not restates_question("承包方可以解除合同。", "受让方擅自改变土地用途，承包方可以解除合同吗？")
