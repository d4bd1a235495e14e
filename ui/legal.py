"""Streamlit helpers for the legal pages: cached KB library/retriever and citation rendering.

Factories are st.cache_resource, shared by every browser session: the KB objects serialise
their writes and hand readers immutable snapshots, so sharing them is safe.
"""
from __future__ import annotations

import pypdfium2 as pdfium
import streamlit as st

from rag.answer.reading import ReadingClock
from rag.answer.relevance import reliance
from rag.answer.verify import needs_basis
from rag.answer.conversation import (BASIS_ARTICLES, BASIS_NOTE, RAW_ATTRIBUTION_NOTE, STATUS_TEXT, Reply, Turn,
                               attribution_line)
from rag.assistant import Assistant
from rag.defaults import assistant_from, library_from, open_kb, reranker_from, retriever_from
from rag.kb import KnowledgeBase, KnowledgeBases, Progress
from rag.documents.directives import DIRECTIVE_NOTE, addresses_reader
from rag.documents.load import location_label
from rag.documents.page_images import render_page
from rag.retrieval.hybrid import HybridRetriever
from rag.types import Citation
from server.errors import ServerError
from ui.compare import app_settings, chat_client, server_error_text
from ui.attribution import claim_openings, hard_breaks, highlighted_article, marked_html, sources_by_article, summary_icon

PAGE_WIDTH_PX = 640  # a PDF page beside the article text: readable, not the whole screen


@st.cache_resource(show_spinner="正在加载向量模型与知识库…")
def library() -> KnowledgeBases:
    return library_from(app_settings())


@st.cache_resource(show_spinner=False)
def reading_clock(endpoint: str) -> ReadingClock:
    """The endpoint's prefill speed, learned from every session's answers in this process."""
    return ReadingClock()


@st.cache_resource(show_spinner=False)
def reranker():
    return reranker_from(app_settings())


def knowledge_base(name: str, progress: Progress | None = None) -> KnowledgeBase:
    """Open a KB; the default one is built the first time, with a progress display, or
    reporting to `progress` (the first visit's steps, ui/startup.py)."""
    settings, lib = app_settings(), library()
    if progress is not None:
        return open_kb(lib, name, settings.default_kb, progress=progress)
    if name == settings.default_kb and (not lib.exists(name) or not lib.open_stored(name).articles):
        with st.status("首次启动：正在从法规数据库构建「劳动法规」知识库…", expanded=True) as status:
            bar = st.progress(0.0)
            kb = open_kb(lib, name, settings.default_kb, progress=lambda f, msg: bar.progress(f, text=msg))
            status.update(label=f"✅ 「{name}」已就绪：{len(kb.articles)} 条法条", state="complete", expanded=False)
        return kb
    return open_current(lib, name)


def open_current(lib: KnowledgeBases, name: str) -> KnowledgeBase:
    """Open a KB, re-embedding it first (with a progress display) when its vectors come from
    another embedding model than the current one."""
    if not lib.needs_reembed(name):
        return lib.open(name)
    with st.status(f"「{name}」的向量来自旧的向量模型，正在用当前模型重新向量化…", expanded=True) as status:
        bar = st.progress(0.0)
        kb = lib.open(name, progress=lambda f, msg: bar.progress(f, text=msg))
        status.update(label=f"✅ 「{name}」已重新向量化：{len(kb.articles)} 条法条", state="complete", expanded=False)
    return kb


def retriever(kb: KnowledgeBase) -> HybridRetriever:
    """The KB's retriever for the search box (no model steps: answering goes through `assistant`)."""
    return retriever_from(app_settings(), kb, reranker())


def assistant(kb: KnowledgeBase, endpoint: str, **overrides) -> Assistant:
    """The one road for a question on this KB through this endpoint (rag.defaults.assistant_from).
    A server that cannot be reached leaves retrieval working, and the answer says why."""
    try:
        client, error = chat_client(endpoint), ""
    except ServerError as e:
        client, error = None, server_error_text(e)
    return assistant_from(app_settings(), kb, client, endpoint_name=endpoint, llm_error=error, reranker=reranker(),
                          describe_error=server_error_text, reading=reading_clock(endpoint), **overrides)


def render_answer(reply: Reply, raw: bool = False) -> None:
    """An answer: plain while it has no attribution (streaming, refusals); checked, the summary
    line above it and the source marks and flags in it."""
    if not reply.attribution:
        st.markdown(hard_breaks(reply.answer))
        return
    note = f"（{RAW_ATTRIBUTION_NOTE}）" if raw else ""
    weak = bool(reply.relevance and reply.relevance.weak)
    st.markdown(f"{summary_icon(reply.attribution, weak)} {attribution_line(reply)}{note}")
    if weak:  # words found in the articles, but the articles match the question weakly
        st.warning(reply.relevance.warning())
    st.markdown(hard_breaks(marked_html(reply.answer, reply.attribution)), unsafe_allow_html=True)


RETRIEVER_NAMES = {"exact": "问题点名", "bm25": "关键词", "dense": "向量", "rerank": "重排"}


def found_by(c: Citation) -> str:
    """「关键词 + 向量」: which retrievers found the article, in Chinese."""
    return " + ".join(RETRIEVER_NAMES.get(r, r) for r in c.retrievers)


def citation_title(c: Citation, n: int | None = None) -> str:
    """"[1] 《劳动合同法》第四十七条 · 第五章 · 现行有效" (n: its place, the answer's [n])."""
    a = c.article
    parts = [f"[{n}] {c.label}" if n else c.label]
    if a.chapter:
        parts.append(a.chapter)
    if where := location_label(a.file_name, a.page):  # 第 3 页 (PDF) / 第 12 段 (DOCX)
        parts.append(where)
    if a.status:
        parts.append(("⚠️ " if "废止" in a.status else "") + a.status)
    if addresses_reader(a.text):
        parts.append("⚠️ 含指令性文字")
    return " · ".join(parts)


def render_citations(turn: Turn) -> None:
    """Verification of what the answer cites, then the retrieved articles (text on expand).

    When the answer refused or cites no verified article although articles were found, the
    most relevant ones are shown open under it: the basis is never missing from the RAG side.
    """
    if turn.abstain:
        st.warning("知识库中没有找到与问题相关的法条：回答没有法条依据，仅供参考。")
    relied = reliance(turn.verified, turn.citations) if turn.rag.answer and not turn.abstain else None
    if relied and relied.weak and turn.rag.relevance is None:  # not drawn above the answer (no attribution)
        st.warning(relied.warning())
    matches = {m.mention: m for m in relied.articles} if relied else {}
    if turn.rag.answer and needs_basis(turn.rag.answer, turn.verified, turn.citations, turn.abstain):
        st.warning(BASIS_NOTE)
        for c in turn.citations[:BASIS_ARTICLES]:
            with st.container(border=True):
                st.markdown(f"**{citation_title(c)}**")
                st.write(c.article.text)
    if turn.verified:
        bad = [v for v in turn.verified if v.status != "ok"]
        st.markdown("**回答中的引用核验**")
        for v in turn.verified:
            repealed = " · ⚠️ 该法已废止" if v.repealed else ""
            match = matches.get(v.mention)
            where = f" · 与问题的匹配：{match.label}" if match else ""
            st.markdown(f"- {v.mention}：{STATUS_TEXT[v.status]}{repealed}{where}")
        if bad:
            st.error(f"{len(bad)} 处引用未能在检索到的法条中核实：请以下方列出的条文原文为准，不要依赖这些引用。")
    elif turn.rag.answer and turn.citations and not turn.abstain:
        st.caption("回答没有引用具体条文编号。")
    if turn.citations:
        st.markdown(f"**检索到的法条（{len(turn.citations)}）**")
        checked = [r.attribution for r in (turn.rag, turn.raw) if r and r.attribution]
        if checked:
            st.caption("编号即回答中的 [n]；黄色标出的是回答中有依据的句子在该条里对应的词。")
        words = sources_by_article(checked)
        for n, c in enumerate(turn.citations):
            with st.expander(citation_title(c, n + 1)):
                if addresses_reader(c.article.text):
                    st.warning(DIRECTIVE_NOTE.split(" / ")[0] + "：模型看不到它的原文；问题没有点名此条时，检索把它排在其他法条之后。")
                if words.get(n + 1):
                    st.markdown(highlighted_article(c.article.text, words[n + 1]), unsafe_allow_html=True)
                else:
                    st.write(c.article.text)
                if used := supported_sentences(turn, n + 1):
                    st.caption(used)
                st.caption(f"来源：{c.article.file_name} · 检索方式：{found_by(c)} · 分数 {c.score:.4f}")
                source_page(turn.kb, c, key=f"page_{turn.id}_{n}")


def supported_sentences(turn: Turn, citation: int) -> str:
    """"依据此条：RAG 回答「结论：公司按基本工资3000元…」 · 原始模型「…」", or ""."""
    parts = []
    for name, reply in (("RAG 回答", turn.rag), ("原始模型", turn.raw)):
        if reply and (openings := claim_openings(reply.answer, reply.attribution, citation)):
            parts.append(name + "".join(f"「{o}」" for o in openings))
    return "依据此条：" + " · ".join(parts) if parts else ""


def source_page(kb_name: str, c: Citation, key: str) -> None:
    """For an article from an uploaded PDF: a switch that shows its page, the article marked."""
    a = c.article
    pdf = library().open_stored(kb_name).source_pdf(a.doc_id) if a.page and kb_name else None
    if pdf is None or not st.toggle(f"查看 PDF 原页（第 {a.page} 页）", key=key):
        return
    try:
        shown = render_page(pdf, a.page, a.text)
    except (OSError, ValueError, pdfium.PdfiumError) as e:
        st.error(f"无法显示「{a.file_name}」第 {a.page} 页：{e}")
        return
    note = "黄色标出的是该条文" if shown.highlighted else "未能在该页的文字层中定位该条文（扫描页或排版不同），请对照上方原文"
    st.image(shown.image, width=PAGE_WIDTH_PX, caption=f"{a.file_name} · 第 {shown.page} / {shown.n_pages} 页 · {note}")
