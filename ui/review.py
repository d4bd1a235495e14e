"""盲评模式 on the legal page: a reviewer walks a question set, sees two unlabelled answers (RAG
and raw, same model) as A and B with their citations checked and the attribution summary
of each (both against the same retrieved articles), votes, and only then sees
which was which. The core (rag/review/sets.py) generates, caches and stores; this module only
draws and collects. Results are drawn by ui/review_results.py on the evaluation page.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from rag.answer.conversation import ATTRIBUTION_LABEL, STATUS_TEXT
from rag.defaults import answer_options
from rag.errors import RagError, chinese_part
from rag.eval.questions import load_questions
from rag.kb import KnowledgeBase
from rag.review.sets import (ERROR_TAGS, OUTCOME_LABELS, SIDE_LABELS, VOTE_LABELS, VOTES, ItemCache, ReviewSet,
                        ReviewStore, item_for, kb_content_hash, make_review, next_row, questions_hash)
from rag.review.stats import evidence_markdown
from server.errors import ServerError
from settings import ROOT
from ui.compare import app_settings, chat_client
from ui.legal import assistant, library

EXAMPLE_SET = ROOT / "knowledge" / "examples" / "labor_questions.jsonl"
EXAMPLE, UPLOAD = "示例：劳动法常见问题", "上传问题文件"
VOTE_WIDGETS = ("review_vote", "review_tags_a", "review_tags_b", "review_note")


def render_review(kb_name: str, kb: KnowledgeBase, endpoint: str) -> None:
    """The whole blind-review main area for one KB and endpoint (the page stops after it)."""
    settings = app_settings()
    st.header("🙈 盲评：RAG 与原始模型")
    st.caption("同一模型的两个回答（一个检索了知识库，一个没有）以 A / B 随机顺序出现，不显示来源；"
               "投票后才揭晓哪一个是 RAG。结果见「模型评测」页。")
    c1, c2, c3 = st.columns([2, 2, 1])
    reviewer = c1.text_input("评审人姓名", key="review_reviewer", placeholder="例如：张律师").strip()
    source = c2.radio("问题集", [EXAMPLE, UPLOAD], horizontal=True, key="review_source")
    max_tokens = int(c3.number_input("回答长度上限（tokens）", 16, 8192,
                                     answer_options(settings.endpoints[endpoint])["max_tokens"],
                                     key="review_max_tokens", help="两个回答相同；记录在每条评审中"))
    rows, name, data = _questions(source)
    if not rows:
        return
    if not reviewer:
        st.info(f"问题集「{name}」共 {len(rows)} 题。填写评审人姓名后开始；同一姓名再次打开会从未评的题目继续。")
        return
    try:
        client = chat_client(endpoint)
    except ServerError as e:
        st.error(chinese_part(str(e)))
        return
    options = answer_options(client.endpoint) | {"max_tokens": max_tokens}
    review_set = ReviewSet(name=name, questions_hash=questions_hash(data), kb=kb_name,
                           kb_hash=kb_content_hash(kb.documents()), endpoint=endpoint, model=client.endpoint.model,
                           base_url=client.endpoint.base_url or "",
                           sampling={k: v for k, v in options.items() if k != "budget"}, top_k=settings.top_k)
    store = ReviewStore(library().store.log("reviews"))
    mine = store.reviews(review_set.set_id, reviewer)
    just_voted = st.session_state.get("review_revealed")
    if just_voted and just_voted["set_id"] == review_set.set_id and just_voted["reviewer"] == reviewer:
        _revealed(just_voted, len(rows), rows)
        return
    index = next_row(rows, mine)
    if index is None:
        st.success(f"✅ 「{name}」的 {len(rows)} 题已全部评完。感谢！结果见「模型评测」页的盲评结果。")
        st.download_button("下载证据包（.md 文件）", evidence_markdown(store.reviews(review_set.set_id)),
                           file_name=f"blind-review-{review_set.set_id}.md", key="review_export_done")
        return
    st.progress(index / len(rows), text=f"第 {index + 1} / {len(rows)} 题 · 评审人 {reviewer}")
    try:
        with st.spinner("正在生成两个回答（同一模型：一个检索知识库，一个不检索）…"):
            item = item_for(rows[index], review_set, ItemCache(library().store.log("review_items")),
                            assistant(kb, endpoint, max_tokens=max_tokens))
    except (ServerError, RagError) as e:
        st.error(f"{chinese_part(str(e))}\n\n这一题没有保存，重新打开会再试。")
        return
    _show_item(item, revealed=False)
    _vote_form(item, store, reviewer)


def _questions(source: str) -> tuple[list[dict], str, bytes]:
    if source == UPLOAD:
        upload = st.file_uploader("问题 JSONL（与评测页相同的格式：每行 `question`，可选 `gold_articles`、`answer`、`query_id`）",
                                  type=["jsonl"], key="review_upload")
        if upload is None:
            return [], "", b""
        name, data = Path(upload.name).name, upload.getvalue()
    else:
        name, data = EXAMPLE_SET.name, EXAMPLE_SET.read_bytes()
    try:
        return load_questions(data, name), name, data
    except RagError as e:
        st.error(chinese_part(str(e)))
        return [], name, data


def _show_item(item: dict, revealed: bool) -> None:
    st.markdown(f"#### 问题：{item['question']}")
    b_side = "raw" if item["a_side"] == "rag" else "rag"
    for column, letter, side in zip(st.columns(2, gap="large"), "AB", (item["a_side"], b_side)):
        with column, st.container(border=True):
            st.markdown(f"**回答 {letter}**" + (f"：{SIDE_LABELS[side]}" if revealed else ""))
            checked = item[side].get("attribution")  # items generated before issue 21 have none
            if checked:  # both sides checked against the same retrieved articles: nothing given away
                st.caption(f"{ATTRIBUTION_LABEL}：{checked['summary']}（对照本题检索到的法条）")
            st.markdown(item[side]["answer"] or "（无回答）")
            verified = item[side]["verified"]
            if verified:
                st.markdown("**引用核验**（对照知识库与本题检索到的法条）")
                for v in verified:
                    st.markdown(f"- {v['mention']}：{STATUS_TEXT[v['status']]}" + (" · ⚠️ 该法已废止" if v["repealed"] else ""))
            else:
                st.caption("回答没有引用具体条文编号。")
    with st.expander(f"本题检索到的法条（{len(item['retrieved'])}）"):
        for c in item["retrieved"]:
            st.markdown(f"**{c['label']}**" + (f" · {c['status']}" if c["status"] else ""))
            st.write(c["text"])


def _vote_form(item: dict, store: ReviewStore, reviewer: str) -> None:
    st.markdown("**你的评审**")
    vote = st.radio("哪个回答更好？", VOTES, index=None, horizontal=True, key="review_vote", format_func=VOTE_LABELS.get)
    c1, c2 = st.columns(2)
    tags = {letter: column.multiselect(f"回答 {letter} 的问题（可选）", list(ERROR_TAGS), key=f"review_tags_{letter.lower()}",
                                       format_func=ERROR_TAGS.get, placeholder="请选择") for column, letter in zip((c1, c2), "AB")}
    note = st.text_area("备注（可选）", key="review_note", height=68)
    if st.button("提交评审", key="review_submit", type="primary", disabled=vote is None):
        b_side = "raw" if item["a_side"] == "rag" else "rag"
        review = make_review(item, reviewer, vote, {item["a_side"]: tags["A"], b_side: tags["B"]}, note)
        store.append(review)
        st.session_state.review_revealed = review
        st.rerun()


def _revealed(review: dict, total: int, rows: list[dict]) -> None:
    index = next((n for n, r in enumerate(rows) if r["query_id"] == review["query_id"]), 0)
    st.progress((index + 1) / total, text=f"第 {index + 1} / {total} 题 · 评审人 {review['reviewer']}")
    st.success(f"已记录：你选了「{VOTE_LABELS[review['vote']]}」→ **{OUTCOME_LABELS[review['winner']]}**。"
               f"揭晓：A 是{SIDE_LABELS[review['a_side']]}。")
    _show_item(review, revealed=True)
    st.button("下一题" if index + 1 < total else "完成", key="review_next", type="primary", on_click=_next)


def _next() -> None:
    for key in ("review_revealed", *VOTE_WIDGETS):
        st.session_state.pop(key, None)
