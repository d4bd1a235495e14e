"""The RAG prompt fits the server's per-request limit (LightLLM's --max_req_total_len): the
project leaves out the lowest-ranked articles and says so, the server never has to cut it.

Token counts are checked against Qwen's real tokenizer (the vocabulary of the 0.5B GGUF the
tests already use) on the labor statutes, not against the estimate itself.
"""
from __future__ import annotations

import json

import pytest

from rag.answer.budget import estimate_tokens, fit_rag_messages
from rag.answer.generate import answer
from rag.prompts import TRIMMED_NOTE
from rag.defaults import answer_options
from rag.types import Article, Citation
from server.client import ChatClient
from server.weights.gguf import model_file
from server.errors import PromptTooLong
from settings import ROOT, get_settings
from tests.conftest import EMBEDDED_TEST_MODEL
from tests.fakes import FakeOpenAI

STATUTES = ROOT.parent / "shared" / "data" / "statutes" / "labor_statutes_articles.jsonl"


@pytest.fixture(scope="module")
def qwen_tokens():
    """Real Qwen token count of a text (vocabulary only: loads in a moment)."""
    import llama_cpp

    vocab = llama_cpp.Llama(str(model_file(EMBEDDED_TEST_MODEL, get_settings().models_dir)),
                            vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode(), add_bos=False, special=True))


@pytest.fixture(scope="module")
def statutes() -> list[Citation]:
    rows = [json.loads(line) for line in STATUTES.read_text(encoding="utf-8").splitlines()]
    return [Citation(Article(text=r["text"], law_short=r["law"], article_no=r["article_num"],
                             article_cn=r["article_cn"]), 1.0, ["bm25"]) for r in rows]


def test_the_estimate_never_undercounts_a_statute_article(qwen_tokens, statutes):
    short = [c for c in statutes if qwen_tokens(c.article.text) < estimate_tokens(
        [{"role": "user", "content": c.article.text}])]
    assert len(short) == len(statutes)


def test_too_many_articles_are_trimmed_with_a_note(qwen_tokens, statutes):
    """Articles sized to the model's 32k window, sent to a server that takes 2,000 tokens."""
    with FakeOpenAI("ok") as fake:
        options = answer_options(fake.endpoint.model_copy(update={"context_tokens": 32768}))
        endpoint = fake.endpoint.model_copy(update={"context_tokens": 32768, "max_req_total_len": 2000})
        found = sorted(statutes, key=lambda c: len(c.article.text))[-12:]  # the longest articles
        deltas = list(answer("加班费怎么算？", found, ChatClient(endpoint, "legal"), **options))
        sent = fake.requests[0]
    _, shown, _ = fit_rag_messages("加班费怎么算？", found, budget=options["budget"])
    assert deltas[0].kind == "note"
    kept = sum(f"[{n}] " in sent["messages"][1]["content"] for n in range(1, 11))
    assert 1 <= kept < shown
    assert deltas[0].text == TRIMMED_NOTE.format(limit=2000, dropped=shown - kept, kept=kept)
    prompt = sum(qwen_tokens(m["content"]) for m in sent["messages"])
    assert prompt + sent["max_tokens"] <= 2000  # the real count, with the template's few tokens to spare
    assert [n for n in range(1, kept + 1) if f"[{n}] " in sent["messages"][1]["content"]] == list(range(1, kept + 1))


def test_a_prompt_that_fits_has_no_note_and_the_answer_is_unchanged():
    article = Article(text="用人单位应当支付经济补偿。", law_short="劳动合同法", article_no=46, article_cn="第四十六条")
    with FakeOpenAI("ok") as fake:
        endpoint = fake.endpoint.model_copy(update={"max_req_total_len": 4096})
        deltas = list(answer("问题", [Citation(article, 1.0)], ChatClient(endpoint, "legal"),
                             **answer_options(endpoint)))
    assert {d.kind for d in deltas} == {"reasoning", "answer"}


def test_the_window_is_the_smaller_of_context_and_request_limit():
    with FakeOpenAI("ok") as fake:
        wide = fake.endpoint.model_copy(update={"context_tokens": 32768})
        capped = wide.model_copy(update={"max_req_total_len": 4096})
    assert answer_options(capped)["budget"] == answer_options(wide.model_copy(
        update={"context_tokens": 4096}))["budget"] < answer_options(wide)["budget"]


def test_a_question_too_long_for_the_server_is_refused_before_sending():
    with FakeOpenAI("ok") as fake:
        endpoint = fake.endpoint.model_copy(update={"max_req_total_len": 1000})
        with pytest.raises(PromptTooLong, match="limit of 1000 tokens"):
            answer("很长的问题" * 300, [], ChatClient(endpoint, "legal"))
        assert fake.connections == 0


def test_the_note_is_shown_above_the_answer_and_kept_out_of_it():
    """The chat column shows the trim note as a caption; the answer (verified, exported) is the model's alone."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from server.client import Delta
        from ui.compare import stream_side_by_side

        note = "（提示：已省略相关度最低的 3 条）"
        done = stream_side_by_side({"RAG": lambda: iter([Delta("note", note), Delta("answer", "依据第一条。")])})
        r = done["RAG"]
        st.session_state.result = {"answer": r.answer, "reasoning": r.reasoning, "error": r.error, "note": r.note}

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert at.session_state.result == {"answer": "依据第一条。", "reasoning": "", "error": "", "note": "（提示：已省略相关度最低的 3 条）"}
    assert [c.value for c in at.caption] == ["（提示：已省略相关度最低的 3 条）"]
    assert [m.value for m in at.markdown if "依据" in m.value] == ["依据第一条。"]
