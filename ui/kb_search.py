"""The 知识库 page's 检索测试 tab: retrieval only (no model), to see what the chat would hand
the model and why an answer cited what it did. Does not: answer (the chat's Assistant does)."""
from __future__ import annotations

import streamlit as st

from rag.kb import KnowledgeBase
from ui.legal import citation_title, found_by, retriever

MODES = {"hybrid": "混合（BM25 + 向量）", "bm25": "BM25（关键词）", "dense": "向量（语义）"}
MAX_K = 30


def render_search(kb: KnowledgeBase, top_k: int) -> None:
    query = st.text_input("问题或条文编号", key="kb_query", placeholder="例如：试用期最长多久？ / 劳动合同法第四十七条")
    mode_col, k_col = st.columns(2)
    mode = mode_col.radio("检索方式", list(MODES), format_func=MODES.get, horizontal=True, key="kb_mode")
    k = k_col.number_input("返回条数 k", 1, MAX_K, min(top_k, MAX_K), key="kb_k")
    if query.strip():
        found = retriever(kb).retrieve(query, k=int(k), mode=mode)
        if found.abstain:
            st.warning("没有足够相关的法条：聊天页会提示“回答没有法条依据”。")
        st.caption(f"最高 BM25 分 {found.best_bm25:.2f} · 最高向量相似度 {found.best_dense:.3f} · "
                   f"用时 {found.timings_ms.get('total', 0):.0f} ms")
        st.dataframe([{"#": n, "法律": c.article.law_short or c.article.law_title or c.article.file_name,
                       "条": c.article.article_cn, "章节": c.article.chapter, "分数": round(c.score, 4),
                       "检索方式": found_by(c)} for n, c in enumerate(found.citations, start=1)],
                     hide_index=True)
        for n, c in enumerate(found.citations, start=1):
            with st.expander(f"{n}. {citation_title(c)}"):
                st.write(c.article.text)
                st.caption(f"来源：{c.article.file_name} · 检索方式：{found_by(c)} · 分数 {c.score:.4f}")
