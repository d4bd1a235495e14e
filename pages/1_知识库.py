"""知识库: list, create and delete knowledge bases; upload, see and remove their documents; search
one (ui/kb_search.py, no model); add the demo pack (ui/demo_pack.py). Actions run in button
callbacks before the page is drawn, so the lists show the state after the action (`kb_flash`
keeps the outcome for one run). KBs are opened as they are (ui.legal.open_current): an emptied
default KB is shown empty, not rebuilt; one embedded by an older model is re-embedded first."""
from __future__ import annotations

import streamlit as st

from rag.errors import RagError, chinese_part
from rag.documents.load import ocr_note
from ui.compare import app_settings
from ui.demo_pack import render_demo_pack
from ui.kb_search import render_search
from ui.legal import library, open_current
from ui.uploads import upload_statutes

st.set_page_config(page_title="知识库", page_icon="📚", layout="wide")
settings = app_settings()


def flash(kind: str, text: str) -> None:
    st.session_state.kb_flash = (kind, text)


def create_kb() -> None:
    name = st.session_state.kb_new_name.strip()
    try:
        library().create(name)
    except RagError as e:
        return flash("error", str(e))
    st.session_state.kb_selected, st.session_state.kb_new_name = name, ""
    flash("success", f"已创建知识库「{name}」。在下方「文档」中上传法规（聊天页左侧也可以）。")


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
    st.error(chinese_part(str(e)))
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
    counts = st.empty()
    counts.caption(f"{len(kb.documents())} 个文档 · {len(kb.articles)} 条法条")
    upload_statutes(kb, counts, settings)
    docs = kb.documents()
    if not docs:
        st.info("这个知识库还没有文档：在上面上传 PDF / DOCX / TXT / MD（扫描件自动 OCR）。")
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
    render_search(kb, settings.top_k)

with delete_tab:
    if name == settings.default_kb:
        st.caption("这是默认知识库：删除后，聊天页下次打开时会从法规数据库重新构建。")
    confirmed = st.checkbox(f"确认删除「{name}」及其全部文档（不可恢复）", key="kb_confirm_delete")
    st.button("删除知识库", key="kb_delete", type="primary", disabled=not confirmed, on_click=delete_kb, args=(name,))

st.divider()
render_demo_pack(kb, name, settings)
