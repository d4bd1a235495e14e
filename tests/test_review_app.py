"""AppTest of 盲评模式 (ui/review.py on the legal page) and its results (ui/review_results.py on
the evaluation page): a 3-question review set walked to the end, labels hidden until each vote,
votes stored, resumed by a second reviewer, results with Wilson intervals and agreement.

The fast test uses the loopback fake (tests/fakes.py) for both answers and the judge; the slow
one walks the same set with the real embedded model (conftest's embedded_endpoint) and short
answers (the page's max_tokens input), once.
"""
from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from rag.answer.conversation import ATTRIBUTION_LABEL
from rag.eval.judge import LEGAL_QA_RUBRIC
from rag.review.sets import SIDE_LABELS, ReviewStore
from settings import ROOT, get_settings
from tests.browser import TEST_KB, endpoints_json
from tests.fakes import FakeOpenAI

APP = str(ROOT / "app.py")
EVALUATION = str(ROOT / "pages" / "4_模型评测.py")
TIMEOUT_S = 120
SET_NAME = "三题评审.jsonl"
QUESTIONS = [json.loads(line) for line in (ROOT / "knowledge" / "examples" / "labor_questions.jsonl")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
# Three questions about 《劳动合同法》, the test KB's one law.
REVIEW_SET = "\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS if q["query_id"]
                       in ("labor-01", "labor-03", "labor-04")).encode()
SHORT_ANSWER_TOKENS = 40  # the real model's answers stay short: this is a plumbing test


@pytest.fixture(autouse=True)
def data_dir(app_data):
    return app_data


def use_endpoint(monkeypatch, endpoint) -> None:
    monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", endpoints_json(embedded=endpoint))
    get_settings.cache_clear()


def main_text(at: AppTest) -> str:
    return "\n".join(e.value for e in at.main.markdown)


def progress_text(at: AppTest) -> str:
    return next(e.proto.text for e in at.main.get("progress"))


def open_blind_mode(at: AppTest, reviewer: str, max_tokens: int | None = None) -> AppTest:
    at.run()
    at.toggle(key="blind_mode").set_value(True).run()
    at.radio(key="review_source").set_value("上传问题文件").run()
    at.file_uploader(key="review_upload").upload(SET_NAME, REVIEW_SET, "application/jsonl")
    if max_tokens:
        at.number_input(key="review_max_tokens").set_value(max_tokens)
    at.text_input(key="review_reviewer").set_value(reviewer).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def review_one(at: AppTest, n: int, vote: str, reviewer: str, tag: str | None = None) -> None:
    """Vote on the item on screen (number n of 3): labels hidden before, revealed after."""
    assert progress_text(at) == f"第 {n} / 3 题 · 评审人 {reviewer}"
    before = main_text(at)
    assert "**回答 A**" in before and "**回答 B**" in before
    assert not any(label in before for label in SIDE_LABELS.values()), before  # blind
    checks = [c.value for c in at.main.caption if c.value.startswith(f"{ATTRIBUTION_LABEL}：")]
    assert len(checks) == 2 and all(c.endswith("（对照本题检索到的法条）") for c in checks), checks  # one per side, same words
    assert at.button(key="review_submit").proto.disabled  # no vote yet, nothing to submit
    at.radio(key="review_vote").set_value(vote).run()
    if tag:
        at.multiselect(key="review_tags_b").set_value([tag])
    at.text_area(key="review_note").set_value(f"第{n}题备注")
    at.button(key="review_submit").click().run()
    after = main_text(at)
    assert re.search(r"\*\*回答 A\*\*：(检索增强回答（RAG）|原始模型（无检索）)", after), after
    assert any("揭晓：A 是" in s.value for s in at.success)
    at.button(key="review_next").click().run()


def test_blind_review_walk_resume_results_and_judge(monkeypatch, data_dir):
    verdict = json.dumps({"A": dict.fromkeys(LEGAL_QA_RUBRIC, 9), "B": dict.fromkeys(LEGAL_QA_RUBRIC, 3),
                          "理由": "A 更好", "胜者": "A"}, ensure_ascii=False)
    with FakeOpenAI(answer=verdict) as fake:  # answers and judges alike
        use_endpoint(monkeypatch, fake.endpoint)
        at = open_blind_mode(AppTest.from_file(APP, default_timeout=TIMEOUT_S), "甲律师")
        assert not at.chat_input  # the chat is gone in blind mode
        for n, vote in enumerate(("A", "B", "tie"), 1):
            review_one(at, n, vote, "甲律师", tag="unhelpful" if n == 1 else None)
        assert any("3 题已全部评完" in s.value for s in at.success)
        assert len(fake.requests) == 6  # 3 items × (RAG + raw)

        # A second reviewer starts at question 1, stops after one, and resumes at question 2.
        at = open_blind_mode(AppTest.from_file(APP, default_timeout=TIMEOUT_S), "乙律师")
        review_one(at, 1, "A", "乙律师")
        at = open_blind_mode(AppTest.from_file(APP, default_timeout=TIMEOUT_S), "乙律师")
        assert progress_text(at) == "第 2 / 3 题 · 评审人 乙律师"
        assert len(fake.requests) == 6  # the cached answers: nothing regenerated

        stored = ReviewStore(data_dir).reviews()
        assert len(stored) == 4 and {r["reviewer"] for r in stored} == {"甲律师", "乙律师"}
        first = next(r for r in stored if r["reviewer"] == "甲律师" and r["query_id"] == "labor-01")
        assert first["vote"] == "A" and first["winner"] == first["a_side"] and first["note"] == "第1题备注"
        b_side = "raw" if first["a_side"] == "rag" else "rag"
        assert first["tags"][b_side] == ["unhelpful"]
        assert first["kb"] == TEST_KB and len(first["kb_hash"]) == 64 and first["endpoint"] == "embedded"
        assert first["topic"] == "劳动合同法" and first["retrieved"] and first["sampling"]["max_tokens"]

        res = AppTest.from_file(EVALUATION, default_timeout=TIMEOUT_S).run()
        assert not res.exception
        win = next(m for m in res.metric if m.label == "RAG 胜率")
        wins = sum(r["winner"] == "rag" for r in stored)
        assert win.value == f"{wins / 4:.0%}"
        assert any(c.value.startswith("95% 置信区间 ") and "Wilson" in c.value for c in res.caption)
        assert any(c.value.startswith("Cohen's kappa = ") for c in res.caption)  # 2 reviewers share item 1
        assert "| 劳动合同法 | 4 |" in main_text(res)
        res.button(key="review_judge_run").click().run()
        assert not res.error, [e.value for e in res.error]
        text = main_text(res)
        # The fake judge always prefers the first answer: both orders disagree → a tie.
        assert "LLM 评审与人工投票一致：" in text and "| 平局 |" in text
        assert len(fake.requests) == 6 + 3 * 2


@pytest.mark.slow
def test_blind_review_with_the_real_embedded_model(monkeypatch, data_dir, embedded_endpoint):
    use_endpoint(monkeypatch, embedded_endpoint)
    at = open_blind_mode(AppTest.from_file(APP, default_timeout=600), "丙律师", SHORT_ANSWER_TOKENS)
    for n, vote in enumerate(("A", "both_bad", "B"), 1):
        item_answers = [e.value for e in at.main.markdown]
        assert sum(bool(re.search(r"[\u4e00-\u9fff]{4}", t)) for t in item_answers) >= 2, item_answers
        review_one(at, n, vote, "丙律师")
    assert any("3 题已全部评完" in s.value for s in at.success)
    stored = ReviewStore(data_dir).reviews(reviewer="丙律师")
    assert len(stored) == 3 and all(r["rag"]["answer"] and r["raw"]["answer"] for r in stored)
    assert {r["sampling"]["max_tokens"] for r in stored} == {SHORT_ANSWER_TOKENS}
    res = AppTest.from_file(EVALUATION, default_timeout=TIMEOUT_S).run()
    win = next(m for m in res.metric if m.label == "RAG 胜率")
    assert win.value == f"{sum(r['winner'] == 'rag' for r in stored) / 3:.0%}"
    assert any(c.value.startswith("95% 置信区间 ") for c in res.caption)
