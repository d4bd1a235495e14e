"""The answer's conclusion, and whether it only restates the question.

The RAG prompt asks for 结论 → 依据 → 建议 (prompts.py). A small model sometimes writes the
user's own words back as its conclusion (「结论：我主张最近一年的加班费。」 to a question that
ends 「我主张最近一年的。」): the answer then looks complete and decides nothing.
`restates_question` says so when nearly every character pair of the conclusion comes from
the question, and the conclusion adds no figure and takes no position of its own. RESTATE_SHARE was picked on STARD's
train split (bench/conclusions.py): the lawyers' own first sentences, which do answer, must
almost never be called restatements.

Does not: judge whether the conclusion is right (the rubric in docs/answers.md does).
"""
from __future__ import annotations

import re

RESTATE_SHARE = 0.8  # of the conclusion's character pairs found in the question (bench/conclusions.py)
MIN_PAIRS = 4  # a conclusion this short ("可以。") is an answer, not a restatement
_LABEL = re.compile(r"^\s*(?:\*\*)?\s*结论\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?", re.M)
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_NOT_TEXT = re.compile(r"[\s\W_]+", re.U)
# Words that take a position (yes / no / must / may / who bears it): an echo of a yes-no question
# that carries one answers it (「承包方可以解除合同」 to 「…可以解除合同吗？」).
VERDICT = re.compile(r"可以|可|能|应|须|需|必|不|没|无|未|有权|是|否|属于|合法|违法|有效|由|承担|支付|赔偿|补偿")


def conclusion_of(answer: str) -> str:
    """The text after 「结论：」 up to the end of its first sentence; the answer's first sentence
    when there is no such label."""
    m = _LABEL.search(answer)
    rest = answer[m.end():] if m else answer
    end = _SENTENCE_END.search(rest.lstrip())
    text = rest.lstrip()
    return (text[:end.start()] if end else text).strip()


def pairs(text: str) -> list[str]:
    """Character pairs of the text, punctuation and spaces removed."""
    squashed = _NOT_TEXT.sub("", text)
    return [squashed[i:i + 2] for i in range(len(squashed) - 1)]


def restated_share(conclusion: str, question: str) -> float:
    got = pairs(conclusion)
    asked = set(pairs(question))
    return sum(p in asked for p in got) / len(got) if got else 0.0


def restates_question(answer: str, question: str) -> bool:
    """True when the conclusion only repeats the question: RESTATE_SHARE of its character
    pairs are the question's, it states no number the question did not, and it takes no
    position (VERDICT)."""
    conclusion = conclusion_of(answer)
    if len(pairs(conclusion)) < MIN_PAIRS:
        return False
    new_figures = set(re.findall(r"\d+(?:\.\d+)?", conclusion)) - set(re.findall(r"\d+(?:\.\d+)?", question))
    return (not new_figures and not VERDICT.search(conclusion)
            and restated_share(conclusion, question) >= RESTATE_SHARE)
