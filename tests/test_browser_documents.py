"""The real app in headless Chromium with the documents people have (issue 12): a scanned statute
PDF (real OCR) and a DOCX are uploaded in the sidebar, a running ingest is cancelled with 取消
(the KB stays as it was), then both ingest, the sidebar names the OCR'd pages, and one question
retrieves an article from each, the citation showing 第 N 页 (PDF) and 第 N 段 (DOCX).

The answer comes from tests/fakes.py (a fixed text citing the scanned article): what is tested
here is ingest, retrieval and citations, not the model or the answer's rendering. Screenshots go to the test's tmp dir; with
UPDATE_SCREENSHOT=1 the answered question is also written to docs/upload_scan.png.
"""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from settings import ROOT
from tests.browser import app_env, chromium, prepare_data_dir, running_app, template_kbs
from tests.fakes import FakeOpenAI
from tests.scans import docx_bytes, page_image, scanned_pdf
from tests.test_browser import full_page_screenshot, kb_counts, sidebar

pytestmark = pytest.mark.slow
INGEST_TIMEOUT_MS = 900_000  # real OCR on 2 loaded cores: up to a minute a page
SCAN_NAME, DOCX_NAME = "高温作业劳动保护办法_扫描件.pdf", "员工福利规定.docx"
SCAN_PAGES = [
    "高温作业劳动保护办法\n第一条 为了加强高温作业劳动保护，保障劳动者身体健康，制定本办法。\n"
    "第二条 本办法适用于本市行政区域内的用人单位。\n第三条 用人单位应当制定高温作业防护措施。",
    "第四条 用人单位安排劳动者在高温天气下露天作业的，应当向劳动者发放高温津贴，每月不低于三百元。\n"
    "第五条 本办法自发布之日起施行。",
]
DOCX_PARAGRAPHS = ["员工福利规定", "第一条 为保障员工权益，制定本规定。",
                   "第二条 公司在六月至九月向一线员工发放高温津贴，标准为每月四百元。", "第三条 本规定由人力资源部负责解释。"]
QUESTION = "高温津贴每月发多少？"
FAKE_ANSWER = "根据《高温作业劳动保护办法》第四条，高温津贴每月不低于三百元。"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("browser-documents")
    data = prepare_data_dir(root / "data", template_kbs(tmp_path_factory, embedder))
    with FakeOpenAI(answer=FAKE_ANSWER) as fake:
        env = {**app_env(data, fake=fake.endpoint), "LEGAL_RAG_DEFAULT_ENDPOINT": "fake"}
        with running_app(env, root / "streamlit.log") as url:
            yield url


def test_scan_and_docx_ingest_and_are_cited_with_page_and_paragraph(app_url, tmp_path):
    scan = tmp_path / SCAN_NAME
    scan.write_bytes(scanned_pdf([page_image(text, size=(1240, 700)) for text in SCAN_PAGES]))
    docx = tmp_path / DOCX_NAME
    docx.write_bytes(docx_bytes(DOCX_PARAGRAPHS))

    with sync_playwright() as p, chromium(p) as page:
        page.goto(app_url)
        expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=180_000)
        bar = sidebar(page)
        before = kb_counts(page)

        # 取消 during OCR: the scan is not added, the KB is unchanged.
        bar.locator("input[type=file]").set_input_files([str(scan)])
        expect(bar.get_by_test_id("stFileChipName").filter(has_text=SCAN_NAME)).to_be_visible()
        bar.get_by_role("button", name="添加到知识库").click()
        expect(bar.get_by_text(re.compile("OCR 识别第 1 页"))).to_be_visible(timeout=120_000)
        bar.get_by_role("button", name="取消").click()
        expect(bar.get_by_text(f"已取消：「{SCAN_NAME}」未添加，知识库未改变")).to_be_visible(timeout=120_000)
        assert kb_counts(page) == before

        # Both files: the scan is OCR'd, the DOCX read by paragraph.
        bar.locator("input[type=file]").set_input_files([str(docx)])  # the scan is still selected
        for name in (SCAN_NAME, DOCX_NAME):
            expect(bar.get_by_test_id("stFileChipName").filter(has_text=name).first).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)  # its rerun is done
        bar.get_by_role("button", name="添加到知识库").click()
        expect(bar.get_by_text("✅ 文档已加载并索引")).to_be_visible(timeout=INGEST_TIMEOUT_MS)
        bar.get_by_text("✅ 文档已加载并索引").click()  # the status folds up when nothing failed: open it
        expect(bar.get_by_text(f"{SCAN_NAME}：5 条；第 1–2 页为扫描件，已 OCR 识别")).to_be_visible()
        expect(bar.get_by_text(f"{DOCX_NAME}：3 条")).to_be_visible()
        expect(sidebar(page).get_by_text(f"{before[0] + 2} 个文档 · {before[1] + 8} 条法条")).to_be_visible()
        page.screenshot(path=str(tmp_path / "1-uploaded.png"))

        page.get_by_test_id("stChatInputTextArea").fill(QUESTION)
        page.keyboard.press("Enter")
        expect(page.get_by_text("检索到的法条（")).to_be_visible(timeout=300_000)
        answer = page.get_by_test_id("stChatMessage").last
        scanned = answer.locator("summary", has_text="《高温作业劳动保护办法》第四条")
        expect(scanned.first).to_contain_text("第 2 页")
        from_docx = answer.locator("summary", has_text="《员工福利规定》第二条")
        expect(from_docx.first).to_contain_text("第 3 段")
        scanned.first.click()  # the OCR'd text of the article
        expect(answer.get_by_text(re.compile("发放高温津贴，每月不低于三百元")).first).to_be_visible()  # lines unwrapped
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)
        full_page_screenshot(page, tmp_path / "2-cited.png")
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            full_page_screenshot(page, ROOT / "docs" / "upload_scan.png")
