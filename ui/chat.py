"""The legal chat's turns on screen: a finished turn replayed, a running one drawn from the
events of rag.assistant.Assistant.ask, the judge panel and the feedback row.

Does not: retrieve or answer (the Assistant does), or decide what the page shows beside the
chat (pages/0_法律助手.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import streamlit as st

from rag.answer.conversation import RESTATED_NOTE, Reply, Turn, judge_markdown, record_feedback
from rag.assistant import Articles, Done, Event, Query, Streamed, add
from rag.errors import RagError
from rag.eval.judge import LEGAL_QA_RUBRIC, comparison_table, judge_swapped
from server.errors import ServerError
from ui.compare import REASONING_LABEL, Columns, chat_client
from ui.legal import library, render_answer, render_citations

TITLES = {"rag": "检索增强回答（RAG）", "raw": "原始模型（无检索）"}
QUERY_NOTE = "检索用的问题（改写）：{query}"
SEARCHING = "正在检索法条…"
READING = "正在阅读 {n} 条法条（约 {seconds} 秒），读完后开始作答…"  # seconds: rag/answer/reading.py
READING_UNTIMED = "正在阅读 {n} 条法条，读完后开始作答…"
THINKING = "模型正在思考…"


def show_turn(turn: Turn, judge_endpoint: str = "") -> None:
    """A finished turn, as it is replayed on every rerun."""
    with st.chat_message("user"):
        st.write(turn.question)
    with st.chat_message("assistant"):
        if turn.query != turn.question:
            st.caption(QUERY_NOTE.format(query=turn.query))
        replies = {"rag": turn.rag, **({"raw": turn.raw} if turn.raw else {})}
        for column, (side, reply) in zip(st.columns(len(replies)), replies.items()):
            with column:
                if turn.raw:
                    st.markdown(f"**{TITLES[side]}**")
                if reply.reasoning:
                    with st.expander(REASONING_LABEL, expanded=False):
                        st.markdown(reply.reasoning)
                if reply.note:
                    st.caption(reply.note)
                if reply.restated:
                    st.warning(RESTATED_NOTE)
                render_answer(reply, raw=side == "raw")
                if reply.error:
                    st.error(reply.error)
        render_citations(turn)
        if turn.raw and turn.rag.answer and turn.raw.answer:
            compare_panel(turn, judge_endpoint or turn.endpoint)
        feedback(turn)


def stream_turn(question: str, events: Iterator[Event], sides: list[str]) -> Turn:
    """A running turn drawn as its events arrive: the rewritten query, the retrieved articles
    (on screen while the model still reads them), the answers streaming side by side."""
    with st.chat_message("user"):
        st.write(question)
    with st.chat_message("assistant"):
        waiting = st.empty()
        waiting.caption(SEARCHING)
        columns, replies, answers = None, {}, None
        for event in events:
            if isinstance(event, Query) and event.text != question:
                st.caption(QUERY_NOTE.format(query=event.text))
            elif isinstance(event, Articles):
                answers = st.container()  # above the articles, as in the finished turn
                render_citations(Turn(question=question, citations=event.citations, abstain=event.abstain))
                for note in event.notes:
                    st.caption(note)
                waiting.empty()
                with answers:  # where the answer will stream, until its first piece comes
                    waiting = st.empty()
                    waiting.caption(reading_text(event))
            elif isinstance(event, Streamed):
                waiting.empty()
                if columns is None:
                    with answers:
                        columns = Columns([TITLES[s] for s in sides], show_titles=len(sides) > 1)
                    replies = {s: Reply() for s in sides}
                reply = replies[event.side]
                if event.delta is not None:
                    add(reply, event.delta, 0.0)
                    columns.show(TITLES[event.side], reply, event.delta)
            elif isinstance(event, Done):
                return event.turn
    raise RuntimeError("the assistant ended without a turn")


def reading_text(event: Articles) -> str:
    """「正在阅读 8 条法条（约 14 秒）…」: the articles in the prompt and the time the server's
    measured prefill speed gives for it."""
    if not event.citations or event.abstain or (event.reading and not event.reading.articles):
        return THINKING  # no article goes to the model
    if event.reading is None:
        return READING_UNTIMED.format(n=len(event.citations))
    return READING.format(n=event.reading.articles, seconds=max(1, round(event.reading.seconds)))


def compare_panel(turn: Turn, judge_endpoint: str) -> None:
    """评审对比: the judge endpoint scores both answers on the rubric, in both orders."""
    slot = st.empty()  # the button, gone once the verdict is in
    if turn.judge is None and slot.button("评审对比", key=f"judge_{turn.id}",
                                          help="请评审模型按七个维度比较两个回答（交换顺序各评一次）"):
        with slot, st.spinner(f"评审模型 {judge_endpoint} 正在比较两个回答…"):
            try:
                verdict = judge_swapped(turn.query, turn.rag.answer, turn.raw.answer, chat_client(judge_endpoint),
                                        LEGAL_QA_RUBRIC)
            except (ServerError, RagError) as e:
                st.error(f"评审失败：{e}")
                return
        turn.judge = comparison_table(verdict, TITLES["rag"], TITLES["raw"])
        # Reasons speak of A and B: say which answer was A in each order.
        turn.judge_note = "；".join(f"{order}：{r}" for order, r in zip(
            ("RAG 为 A 时", "原始模型为 A 时"), verdict.reasons) if r) if not verdict.errors else \
            "；".join(r for r in verdict.reasons if r)
        slot.empty()
    if turn.judge:
        st.markdown("**评审对比**（LLM 评审，✅ ≥ 8 分 · ⚠️ 5–7 分 · ❌ < 5 分，两种顺序取平均）")
        st.markdown(judge_markdown(turn.judge))
        if turn.judge_note:
            st.caption(f"评审理由：{turn.judge_note}")


def feedback(turn: Turn) -> None:
    left, right = st.columns([1, 4])
    rating = left.feedback("thumbs", key=f"rate_{turn.id}")
    note = right.text_input("备注（可选）", key=f"note_{turn.id}", label_visibility="collapsed",
                            placeholder="反馈备注（可选）")
    if rating is not None and st.session_state.get(f"saved_{turn.id}") != (rating, note):
        record_feedback(library().store.log("feedback"), turn, "up" if rating == 1 else "down", note)
        st.session_state[f"saved_{turn.id}"] = (rating, note)
        st.toast("已记录反馈")
