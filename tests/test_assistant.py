"""The one road for a question (rag/assistant.py): its events in order, the finished Turn, and
that the chat, the answer benchmark and the review generator send the model the same messages."""
from __future__ import annotations

import json

import pytest

from knowledge.demo_questions import DEMO_QUESTION
from rag.answer.conversation import RESTATED_NOTE, to_markdown
from rag.answer.generate import figures
from rag.assistant import Articles, Done, Query, Streamed
from rag.defaults import assistant_from
from rag.eval import answers as qa
from rag.review.sets import ReviewSet, generate_item
from server.client import ChatClient
from settings import Settings
from tests.fakes import ANSWER, FakeOpenAI

QUESTION = "加班费怎么算"
SETTINGS = Settings(endpoints={"fake": {"base_url": "http://127.0.0.1:9/v1"}}, rerank_model=None)


def client_for(fake: FakeOpenAI, **switches) -> ChatClient:
    return ChatClient(fake.endpoint.model_copy(update=switches), "fake", timeout=10, retries=0)


def bodies(fake: FakeOpenAI) -> list[str]:
    """Every request the model got, as bytes would compare (order aside: the chat streams both
    sides at once)."""
    return sorted(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in fake.requests)


def test_events_come_in_order_and_end_in_a_checked_turn(labor_kb):
    with FakeOpenAI() as fake:
        events = list(assistant_from(SETTINGS, labor_kb, client_for(fake)).ask(QUESTION, compare=True))
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Query", "Articles"] and kinds[-1] == "Done"
    assert set(kinds[2:-1]) == {"Streamed"} and {e.side for e in events[2:-1]} == {"rag", "raw"}
    turn = events[-1].turn
    assert turn.rag.answer == ANSWER and turn.raw.answer == ANSWER and not turn.rag.reasoning.startswith("<")
    assert "劳动法第四十四条" in [c.article.law_short + c.article.article_cn for c in turn.citations]
    assert [v.status for v in turn.verified] == ["ok"]  # 《劳动法》第四十四条 is among the retrieved
    assert turn.rag.attribution is not None and turn.raw.attribution is not None
    assert turn.rag.first_token_s is not None and turn.rag.total_s >= turn.rag.first_token_s
    assert {"rewrite", "retrieve"} <= set(turn.seconds)


def test_the_benchmark_and_the_chat_send_identical_messages_with_query_rewrite_on(labor_kb, tmp_path):
    """The drift of issue 31: the benchmark built its retriever without the client, so an
    endpoint's query_rewrite reached the chat only."""
    with FakeOpenAI() as fake:
        client = client_for(fake, query_rewrite=True)
        assistant_from(SETTINGS, labor_kb, client).run(QUESTION, compare=True)  # what the chat page calls
        chat = bodies(fake)
        fake.requests.clear()
        qa.run_question({"question": QUESTION, "query_id": "q1"}, assistant_from(SETTINGS, labor_kb, client),
                        modes=("rag", "raw"))
        bench = bodies(fake)
        fake.requests.clear()
        review_set = ReviewSet(name="t", questions_hash="h", kb=labor_kb.name, kb_hash="k", endpoint="fake",
                               model="fake", base_url="", sampling={}, top_k=SETTINGS.top_k)
        generate_item({"question": QUESTION, "query_id": "q1"}, review_set, assistant_from(SETTINGS, labor_kb, client))
        review = bodies(fake)
    assert len(chat) == 3  # the rewrite for retrieval, the RAG answer, the raw answer
    assert chat == bench == review


def test_a_follow_up_is_rewritten_and_retrieval_uses_the_rewrite(labor_kb):
    rewrite = "劳动者延长工作时间的加班费按什么标准支付？"
    with FakeOpenAI(answer=rewrite) as fake:
        events = list(assistant_from(SETTINGS, labor_kb, client_for(fake)).ask(
            "那周末呢？", history=[(QUESTION, "按百分之一百五十支付。")]))
    assert events[0] == Query(rewrite) and events[-1].turn.query == rewrite
    assert "那周末呢？" in fake.requests[0]["messages"][0]["content"]


def test_without_a_model_the_articles_still_come_and_the_turn_says_why(labor_kb):
    events = list(assistant_from(SETTINGS, labor_kb, None, llm_error="模型服务没有启动").ask(QUESTION, compare=True))
    assert [type(e) for e in events] == [Query, Articles, Done]
    turn = events[-1].turn
    assert events[1].citations and turn.rag.error == "模型服务没有启动" and turn.rag.answer == ""


def test_a_server_that_dies_mid_answer_keeps_the_text_so_far(labor_kb):
    with FakeOpenAI(mode="die_mid_stream") as fake:
        events = list(assistant_from(SETTINGS, labor_kb, client_for(fake), describe_error=lambda e: f"崩溃：{e}").ask(
            QUESTION))
    turn = events[-1].turn
    ends = [e for e in events if isinstance(e, Streamed) and e.delta is None]
    assert len(ends) == 1 and ends[0].error is not None
    assert turn.rag.error.startswith("崩溃：") and turn.rag.failure is ends[0].error
    assert turn.rag.answer and ANSWER.startswith(turn.rag.answer)  # the partial answer is kept


@pytest.mark.slow
def test_a_real_follow_up_keeps_the_first_questions_subject_and_figures(labor_kb, embedded_endpoint):
    """Two real turns with the embedded model, as the chat asks them (issue 33 item 4)."""
    assistant = assistant_from(SETTINGS, labor_kb, ChatClient(embedded_endpoint, "embedded"), max_tokens=96)
    first = assistant.run(DEMO_QUESTION)
    assert first.rag.answer and not first.rag.error
    follow = assistant.run("公司说3000是基本工资，合同没写工资构成，怎么办？", history=[(first.query, first.rag.answer)])
    assert {"8000", "3000"} <= figures(follow.query) and "加班" in follow.query, follow.query
    assert follow.rag.answer and follow.citations


def test_a_conclusion_that_only_restates_the_question_is_shown_as_such(labor_kb):
    """Seen with the 1.5B model on the demo question: 「结论：我主张最近一年的加班费。」"""
    with FakeOpenAI(answer="结论：我主张最近一年的加班费。\n依据：《劳动法》第四十四条。") as fake:
        turn = assistant_from(SETTINGS, labor_kb, client_for(fake)).run(DEMO_QUESTION, compare=True)
    assert turn.rag.restated and turn.raw.restated
    assert RESTATED_NOTE in to_markdown([turn])
    with FakeOpenAI(answer="结论：公司应以合同约定的月薪8000元为基数支付加班费。") as fake:
        turn = assistant_from(SETTINGS, labor_kb, client_for(fake)).run(DEMO_QUESTION)
    assert not turn.rag.restated
