"""盲评模式 in headless Chromium with the real embedded model (conftest's 0.5B embedded_endpoint):
a 3-question review set walked to the end (labels hidden until each vote, revealed after),
then the evaluation page shows the RAG win rate with its Wilson interval.

Answers are kept short (the page's max_tokens input): this checks the walk, not answer
quality. With UPDATE_SCREENSHOT=1 docs/review_blind.png (an item
before the vote) and docs/review_results.png (the results section) are redrawn.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from rag.review.sets import SIDE_LABELS, ReviewStore
from settings import ROOT
from tests.browser import app_env, chromium, prepare_data_dir, running_app, template_kbs
from tests.test_browser import SCROLLERS, full_page_screenshot, sidebar

pytestmark = pytest.mark.slow
UPDATE = os.environ.get("UPDATE_SCREENSHOT") == "1"
MAX_TOKENS = 40  # short: two answers per item on 2 shared cores
ANSWER_TIMEOUT_MS = 600_000  # two answers on 2 loaded cores
QUESTIONS = [json.loads(line) for line in (ROOT / "knowledge" / "examples" / "labor_questions.jsonl")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
REVIEW_SET = "\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS if q["query_id"]
                       in ("labor-01", "labor-03", "labor-04"))
VOTES = ("A 更好", "B 更好", "都不好")
REVIEWER = "张律师"


def settle(page: Page) -> None:
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=ANSWER_TIMEOUT_MS)


@pytest.fixture
def slow_expect():
    expect.set_options(timeout=60_000)  # reruns are slow on 2 loaded cores
    yield
    expect.set_options(timeout=5_000)  # Playwright's default, for the tests that follow


def test_blind_review_walk_in_the_browser(tmp_path_factory, embedder, embedded_endpoint, tmp_path, slow_expect):
    root = tmp_path_factory.mktemp("review-app")
    data = prepare_data_dir(root / "data", template_kbs(tmp_path_factory, embedder))
    questions = tmp_path / "三题评审.jsonl"
    questions.write_text(REVIEW_SET, encoding="utf-8")
    with running_app(app_env(data, embedded=embedded_endpoint), root / "streamlit.log") as url, \
            sync_playwright() as p, chromium(p) as page:
        wins = walk_and_check(page, url, data, questions, ROOT / "docs" if UPDATE else tmp_path)
    assert 0 <= wins <= 3


def walk_and_check(page: Page, url: str, data: Path, questions: Path, shots: Path) -> int:
    """Walk the 3-question set blind, then check the results page; returns the RAG wins."""
    page.goto(url)
    expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=180_000)
    sidebar(page).get_by_text("盲评模式").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_label("评审人姓名", exact=True)).to_be_visible()
    main.get_by_text("上传问题文件").click()
    main.locator("input[type=file]").set_input_files(str(questions))
    expect(main.get_by_test_id("stFileChipName").filter(has_text=questions.name)).to_be_visible()
    settle(page)
    tokens = main.get_by_label("回答长度上限（tokens）", exact=True)
    tokens.fill(str(MAX_TOKENS))
    tokens.press("Enter")
    settle(page)
    name = main.get_by_label("评审人姓名", exact=True)
    name.fill(REVIEWER)
    name.press("Enter")

    for n, vote in enumerate(VOTES, 1):
        submit = main.get_by_role("button", name="提交评审")
        expect(submit).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(main.get_by_text(f"第 {n} / 3 题 · 评审人 {REVIEWER}")).to_be_visible()
        expect(main.get_by_text("回答 A", exact=True)).to_be_visible()
        expect(main.get_by_text("回答 B", exact=True)).to_be_visible()
        for label in SIDE_LABELS.values():  # blind: neither answer says where it came from
            expect(main.get_by_text(label)).to_have_count(0)
        expect(submit).to_be_disabled()  # no vote yet
        if n == 1:
            full_page_screenshot(page, shots / "review_blind.png")
        main.get_by_text(vote, exact=True).click()
        expect(submit).to_be_enabled()
        submit.click()
        expect(main.get_by_text("揭晓：A 是")).to_be_visible()
        expect(main.get_by_text("检索增强回答（RAG）", exact=False).first).to_be_visible()
        main.get_by_role("button", name="下一题" if n < 3 else "完成").click()
        settle(page)
    expect(main.get_by_text("3 题已全部评完")).to_be_visible(timeout=60_000)

    stored = ReviewStore(data).reviews(reviewer=REVIEWER)
    assert len(stored) == 3
    wins = sum(r["winner"] == "rag" for r in stored)

    sidebar(page).get_by_test_id("stSidebarNav").get_by_text("模型评测").click()
    results = page.get_by_text("盲评结果：RAG 与原始模型")
    expect(results).to_be_visible(timeout=180_000)
    settle(page)
    win = main.get_by_test_id("stMetric").filter(has_text="RAG 胜率")
    expect(win.get_by_test_id("stMetricValue")).to_have_text(f"{wins / 3:.0%}")
    expect(main.get_by_text("95% 置信区间 ").first).to_be_visible()
    section_screenshot(page, results, main.get_by_role("button", name="下载证据包（.md 文件）"),
                       shots / "review_results.png")
    return wins


def section_screenshot(page: Page, top, bottom, path: Path) -> None:
    """The page from `top` to `bottom` (Streamlit scrolls inside its main container: the
    viewport is grown to the content first, as in tests/test_browser.py)."""
    height = page.evaluate(f"() => Math.max(...[...document.querySelectorAll('{SCROLLERS}')].map(e => e.scrollHeight))")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 120)})
    page.wait_for_timeout(500)
    first, last = top.bounding_box(), bottom.bounding_box()
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": max(first["y"] - 24, 0), "width": size["width"],
                                                          "height": last["y"] + last["height"] + 24 - max(first["y"] - 24, 0)})
    page.set_viewport_size(size)
