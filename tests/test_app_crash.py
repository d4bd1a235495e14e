"""The chat page when its real embedded server dies (AppTest, the app in this process).

The page's default endpoint is the embedded server started on demand (base_url None) with
the 0.5B model in the test's data dir, so the page itself starts it, watches it and restarts
it. The server is killed with os.kill while an answer streams: a hook counts the chunks the
real client reads (server.client._chunk_deltas) and kills the server at the third one.
"""
from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from streamlit.testing.v1 import AppTest

import server.client
from server.embedded import EmbeddedStarter, stop
from settings import ROOT, get_settings
from tests.conftest import EMBEDDED_TEST_MODEL

pytestmark = pytest.mark.slow
APP = str(ROOT / "app.py")
TIMEOUT_S = 600
QUESTION = "公司解除劳动合同要付经济补偿吗？"
NEXT_QUESTION = "试用期最长多久？"


@pytest.fixture(autouse=True)
def embedded_page(app_data, monkeypatch):
    monkeypatch.setenv("LEGAL_RAG_ENDPOINTS", json.dumps({"embedded": {"label": "embedded"}}))
    monkeypatch.setenv("LEGAL_RAG_EMBEDDED_MODEL", EMBEDDED_TEST_MODEL)
    get_settings.cache_clear()
    yield app_data
    stop(app_data / "run")


def server_pid(data_dir) -> int:
    (state_file,) = (data_dir / "run").glob("embedded-*.json")
    return json.loads(state_file.read_text())["pid"]


def kill_at_chunk(monkeypatch, data_dir, sig: signal.Signals, at: int = 3) -> list[int]:
    """Kill the running server once, when the client has read `at` chunks; the pids killed."""
    real, seen, killed, lock = server.client._chunk_deltas, [0], [], threading.Lock()

    def counting(chunk, splitter, url):
        with lock:
            seen[0] += 1
            if seen[0] == at and not killed:
                killed.append(server_pid(data_dir))
                os.kill(killed[0], sig)
        return real(chunk, splitter, url)

    monkeypatch.setattr(server.client, "_chunk_deltas", counting)
    return killed


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cited_titles(at: AppTest) -> list[str]:
    return [e.label for e in at.chat_message[-1].expander if e.label != "推理过程"]


def test_sigill_mid_answer_keeps_the_text_names_the_cause_and_the_next_question_restarts(monkeypatch, embedded_page):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert any(c.startswith("✅ ") and c.endswith("：服务正常") for c in texts(at.sidebar.caption)), texts(at.sidebar.caption)
    at.toggle(key="compare").set_value(True).run()  # RAG and raw share the one server
    killed = kill_at_chunk(monkeypatch, embedded_page, signal.SIGILL)
    ask(at, QUESTION)
    turn = at.session_state.turns[-1]
    replies = [turn.rag, turn.raw]
    crashed = [r for r in replies if r.error]
    # The stream that was answering keeps its text and says why it stopped; the one queued
    # behind it had nothing yet: it was sent again to the restarted server and answered.
    assert len(killed) == 1 and len(crashed) == 1, [r.error for r in replies]
    broken, other = crashed[0], next(r for r in replies if not r.error)
    assert broken.answer and broken.answer in "\n".join(texts(at.chat_message[-1].markdown))
    error = next(e for e in texts(at.chat_message[-1].error) if "崩溃" in e)
    assert "模型服务在回答途中崩溃（killed by SIGILL (illegal instruction)）" in error
    assert "上面是崩溃前收到的部分回答" in error and "下一个问题会自动重启服务" in error
    assert "使用了本机 CPU 不允许的指令" in error and "pip install" in error
    assert "Fatal Python error: Illegal instruction" in error  # the log's last lines
    assert "python -m server embedded" not in error
    assert other.answer and "已自动重启并重新提问" in other.note
    assert len(cited_titles(at)) == get_settings().top_k  # the articles are still there
    assert server_pid(embedded_page) != killed[0]

    at.toggle(key="compare").set_value(False).run()
    ask(at, NEXT_QUESTION)
    assert not at.session_state.turns[-1].rag.error and at.session_state.turns[-1].rag.answer


def test_sigkill_mid_answer_is_named_and_the_next_question_is_answered(monkeypatch, embedded_page):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    killed = kill_at_chunk(monkeypatch, embedded_page, signal.SIGKILL)
    ask(at, QUESTION)
    turn = at.session_state.turns[-1]
    assert killed and turn.rag.answer
    assert "模型服务在回答途中崩溃（killed by SIGKILL (forced kill" in turn.rag.error
    assert "CPU 不允许" not in turn.rag.error
    assert turn.rag.error in texts(at.chat_message[-1].error)
    assert len(cited_titles(at)) == get_settings().top_k
    # After the rerun the sidebar's check names the crash instead of "start it yourself".
    assert any("模型服务已崩溃（killed by SIGKILL" in e for e in texts(at.sidebar.error)), texts(at.sidebar.error)

    ask(at, NEXT_QUESTION)
    turn = at.session_state.turns[-1]
    # The follow-up's rewrite (a chat request before the answer) is what restarts the server.
    assert not turn.rag.error and turn.rag.answer
    assert server_pid(embedded_page) != killed[0]
    at.run()
    assert any(c.startswith("✅ ") and c.endswith("：服务正常") for c in texts(at.sidebar.caption))


def test_a_second_death_after_the_restart_says_so_and_still_shows_the_articles(monkeypatch, embedded_page):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    restart = EmbeddedStarter.restart

    def restart_and_die(self):  # the restarted server dies too: a build this CPU cannot run
        endpoint = restart(self)
        os.kill(server_pid(embedded_page), signal.SIGILL)
        return endpoint

    monkeypatch.setattr(EmbeddedStarter, "restart", restart_and_die)
    os.kill(server_pid(embedded_page), signal.SIGILL)  # dies before the question is sent
    ask(at, QUESTION)
    error = at.session_state.turns[-1].rag.error
    assert "模型服务重启后再次崩溃（crashed again after a restart: killed by SIGILL (illegal instruction)）" in error
    assert "下面的检索结果仍可参考" in error and "Fatal Python error: Illegal instruction" in error
    assert error in texts(at.chat_message[-1].error)
    assert len(cited_titles(at)) == get_settings().top_k
    assert f"**检索到的法条（{get_settings().top_k}）**" in "\n".join(texts(at.chat_message[-1].markdown))


def test_chat_page_in_chromium_after_a_sigill_mid_answer(tmp_path, tmp_path_factory, embedder):
    """The real app (streamlit run) in headless Chromium, its own embedded server killed with
    SIGILL while the RAG answer streams; the page is saved as docs/server_crash.png."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import app_env, chromium, prepare_data_dir, running_app, template_kbs
    from tests.test_browser import full_page_screenshot

    data = prepare_data_dir(tmp_path / "browser-data", template_kbs(tmp_path_factory, embedder))
    env = {**app_env(data), "LEGAL_RAG_ENDPOINTS": json.dumps({"embedded": {"label": "embedded"}}),
           "LEGAL_RAG_EMBEDDED_MODEL": EMBEDDED_TEST_MODEL}
    try:
        with running_app(env, tmp_path / "streamlit.log") as url, sync_playwright() as p, \
                chromium(p) as page:
            page.goto(url)
            expect(page.get_by_test_id("stChatInput")).to_be_visible(timeout=300_000)
            page.get_by_test_id("stSidebar").get_by_text("对比：RAG 与原始模型").click()
            page.get_by_test_id("stChatInputTextArea").fill(QUESTION)
            page.keyboard.press("Enter")
            rag_column = page.get_by_test_id("stChatMessage").last.get_by_test_id("stColumn").first
            expect(rag_column.get_by_text("检索增强回答（RAG）")).to_be_visible(timeout=300_000)
            while len(rag_column.inner_text().replace("检索增强回答（RAG）", "").strip()) < 10:
                page.wait_for_timeout(100)
            killed = server_pid(data)
            os.kill(killed, signal.SIGILL)
            error = page.get_by_test_id("stChatMessage").last.get_by_test_id("stAlert").filter(has_text="崩溃").first
            expect(error).to_be_visible(timeout=120_000)
            feedback = page.get_by_placeholder("反馈备注（可选）")  # the finished turn
            expect(feedback).to_have_count(1, timeout=TIMEOUT_S * 1000)
            text = page.get_by_test_id("stChatMessage").last.inner_text()
            full_page_screenshot(page, ROOT / "docs" / "server_crash.png")
            (tmp_path / "page.txt").write_text(text)
            assert "模型服务在回答途中崩溃（killed by SIGILL (illegal instruction)）" in text
            assert "使用了本机 CPU 不允许的指令" in text and "pip install" in text
            assert "Fatal Python error: Illegal instruction" in text
            assert "python -m server embedded" not in text
            assert "评审对比" in text  # the raw column answered too (before the death, or after a restart)
            assert f"检索到的法条（{get_settings().top_k}）" in text
            record = json.loads((data / "run" / "exits" / f"{killed}.json").read_text())
            assert record["returncode"] == -signal.SIGILL  # the app's watch thread saw the exit
    finally:
        stop(data / "run")
