"""The chat sidebar's statute upload: files → rag.ingest.ingest_file, one progress bar each,
a clear per-file outcome, and a header that says what happened (a failed file is never
headed with ✅). Does not: parse or store anything itself (rag/ingest.py does).
"""
from __future__ import annotations

import streamlit as st

from rag.documents.load import DocumentLimits, ocr_note
from rag.errors import RagError, chinese_part
from rag.ingest import ingest_file
from rag.kb import KnowledgeBase
from settings import Settings

UPLOAD_LABEL = "上传法规（PDF / DOCX / TXT / MD，可多选；扫描件自动 OCR）"
KEEP_PARTIAL_LABEL = "文件不完整时保留可读部分"
KEEP_PARTIAL_HELP = ("默认拒收缺页、缺条的文件，以免知识库悄悄缺少条文。勾选后只保存能读出的部分，"
                     "该文档在知识库中标为不完整，并记下缺了什么。")
PARTIAL_NOTE = "⚠️ {name}：已按要求只保存可读部分，缺少 {missing}；该文档在知识库中标为不完整。"
DIRECTIVES_NOTE = ("⚠️ {name}：{articles} 含有要求回答者做什么的指令性文字，不像法律规定。已作为普通文本保存；"
                   "检索把它们排在其他法条之后，模型看不到它们的原文。")


def outcome_label(added: int, failed: int, total: int, warned: int = 0) -> str:
    """The status header once every file was tried (warned: files added with a warning)."""
    if failed == total:
        return f"❌ {failed} 个文件都未能添加，原因见下；知识库未改变"
    if failed:
        return f"⚠️ 新增 {added} 条法条；{failed} 个文件未能添加，原因见下"
    if warned:
        return f"⚠️ 新增 {added} 条法条；{warned} 个文件有需要注意的地方，见下"
    return f"✅ 文档已加载并索引：新增 {added} 条法条"


def upload_statutes(kb: KnowledgeBase, kb_counts, settings: Settings) -> None:
    """The uploader, the 添加到知识库 button and the ingest with progress (and 取消)."""
    uploads = st.file_uploader(UPLOAD_LABEL, type=["pdf", "docx", "txt", "md"], accept_multiple_files=True,
                               key="uploads")
    keep_partial = st.checkbox(KEEP_PARTIAL_LABEL, key="keep_partial", help=KEEP_PARTIAL_HELP)
    if st.session_state.pop("ingest_cancelled", False) and "ingest_current" in st.session_state:
        # The 取消 click reran the page: Streamlit raised inside the running add_file's progress
        # call, before anything was written, so that file is not in the KB.
        st.warning(f"已取消：「{st.session_state.pop('ingest_current')}」未添加，知识库未改变（之前完成的文件已保留）。")
    if not st.button("添加到知识库", key="add_docs", disabled=not uploads):
        return
    added = failed = warned = 0
    with st.status("正在解析、向量化并建立索引…", expanded=True) as status:
        cancel = st.empty()
        cancel.button("取消", key="cancel_ingest", on_click=lambda: st.session_state.update(ingest_cancelled=True))
        for f in uploads:
            st.session_state.ingest_current = f.name
            bar = st.progress(0.0, text=f.name)
            try:
                result = ingest_file(kb, f.getvalue(), f.name, DocumentLimits.from_settings(settings),
                                     progress=lambda x, msg, bar=bar, f=f: bar.progress(x, text=f"{f.name}：{msg}"),
                                     on_wait=lambda msg, f=f: st.info(f"{f.name}：{msg}"), keep_partial=keep_partial)
            except RagError as e:
                bar.empty()
                st.error(f"{f.name}：{chinese_part(str(e))}")
                failed += 1
                continue
            bar.progress(1.0, text=f.name)
            note = f"；{ocr_note(result.ocr_pages)}" if result.ocr_pages else ""
            warned += bool(result.missing or result.directives)
            if result.missing:
                st.warning(PARTIAL_NOTE.format(name=f.name, missing=result.missing))
            if result.directives:
                st.warning(DIRECTIVES_NOTE.format(name=f.name, articles="、".join(result.directives[:5])
                                                  + ("…" if len(result.directives) > 5 else "")))
            if result.skipped:
                st.info(f"{f.name}：内容未变，已在知识库中（{result.n_articles} 条{note}）")
            else:
                added += result.n_articles
                st.write(f"{f.name}：{result.n_articles} 条{note}")
        st.session_state.pop("ingest_current", None)
        cancel.empty()
        # The counts first: when the header shows, the sidebar already says what the KB holds.
        kb_counts.caption(f"{len(kb.documents())} 个文档 · {len(kb.articles)} 条法条")
        # Keep the per-file errors in view: a collapsed "complete" status would hide them.
        status.update(label=outcome_label(added, failed, len(uploads), warned), state="error" if failed else "complete",
                      expanded=bool(failed or warned))
