"""The evaluation page's legal Q&A part: RAG vs the raw model (and the gold articles) on
questions with gold articles, asked through the chat's own road (rag.assistant) and scored by
rag/eval/answers.py: refusals, citations, verification, fabricated articles, restated
conclusions, ROUGE-L, latency. Does not: score anything itself."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from rag.answer.conversation import ATTRIBUTION_LABEL
from rag.errors import RagError, chinese_part
from rag.eval import answers as qa
from rag.eval.questions import load_questions
from server.errors import ServerError
from settings import ROOT, Settings
from ui.compare import chat_client, endpoint_index
from ui.legal import assistant, knowledge_base, library

EXAMPLE_QUESTIONS = ROOT / "knowledge" / "examples" / "labor_questions.jsonl"
QA_EXAMPLE = "示例：劳动法常见问题"
QA_DEFAULT_QUESTIONS = 8
MODE_LABELS = {"rag": "RAG", "raw": "原始模型", "oracle": "给定标准法条"}
CHARTS = ["拒答 %", "引用任一法条 %", "引用标准法条 %", "虚构法条", "ROUGE-L", "总耗时 p50 s"]
CHART_HEIGHT = 160
VERIFY_COLORS = {"核验通过": "#2e7d32", "未检索到": "#f9a825", "库中无此条": "#c62828", "原文不符": "#8e24aa"}
MODE_HELP = "RAG：检索知识库后回答；原始模型：不检索直接回答；给定标准法条：把标准答案法条放进提示（区分检索错误与生成错误）"
UPLOAD = "上传文件"


def summary_frame(summary: dict) -> pd.DataFrame:
    """One row per mode: the answer benchmark's measures, rates in percent."""
    rows = {}
    for mode, m in summary["modes"].items():
        v = m["verified"]
        rows[MODE_LABELS[mode]] = {
            "题数": m["n"], "拒答 %": round(100 * m["refusal"], 1), "引用任一法条 %": round(100 * m["cites_any"], 1),
            "引用标准法条 %": round(100 * m["cites_gold"], 1), "核验通过": v["ok"], "未检索到": v["not_retrieved"],
            "库中无此条": v["not_in_kb"], "原文不符": v["text_mismatch"], "虚构法条": m["fabricated"],
            "有依据句 %": _percent(m.get("supported_rate")), "数字不符/答": m.get("number_mismatches_per_answer"),
            "肯定否定相反/答": m.get("negation_flips_per_answer"),
            "ROUGE-L": m["rouge_l"], "首字 p50 s": m["ttft_p50"], "总耗时 p50 s": m["total_p50"],
            "总耗时 p95 s": m["total_p95"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 1)


def render_legal_qa(settings: Settings) -> None:
    eval_dir = settings.data_dir / "eval"
    st.divider()
    st.header("法律问答：RAG 与原始模型")
    st.caption("对带标准法条的问题，分别用 RAG、原始模型（及可选的给定标准法条）回答，统计拒答、引用、核验、"
               "虚构法条、ROUGE-L 与耗时。每题一完成就写入结果文件；再次运行同一组合会接着跑，不重复提问。")
    example = EXAMPLE_QUESTIONS.read_bytes()
    c1, c2 = st.columns([3, 1])
    qa_source = c1.radio("问题文件", [QA_EXAMPLE, UPLOAD], horizontal=True, key="qa_source")
    c2.download_button("下载示例问题", example, EXAMPLE_QUESTIONS.name, "application/jsonl", key="qa_dl_example")
    questions, qa_name = [], EXAMPLE_QUESTIONS.name
    if qa_source == UPLOAD:
        qa_upload = st.file_uploader("问题 JSONL：每行 `question`、`gold_articles` `[{law, article_cn}]`，可选 `answer`（参考答案）"
                                     "与 `query_id`", type=["jsonl"], key="qa_upload")
        qa_name = Path(qa_upload.name).name if qa_upload is not None else ""
        data = qa_upload.getvalue() if qa_upload is not None else None
    else:
        data = example
    if data is not None:
        try:
            questions = load_questions(data, qa_name)
        except RagError as e:
            st.error(chinese_part(str(e)))

    c1, c2 = st.columns(2)
    try:
        kb_names = library().names() or [settings.default_kb]
    except RagError as e:
        st.error(chinese_part(str(e)))
        st.stop()
    if settings.default_kb not in kb_names:
        kb_names = [settings.default_kb, *kb_names]
    qa_kb = c1.selectbox("知识库", kb_names, index=kb_names.index(settings.default_kb), key="qa_kb")
    endpoints = sorted(settings.endpoints)
    qa_endpoint = c2.selectbox("模型端点", endpoints, index=endpoint_index(endpoints, settings.default_endpoint),
                               key="qa_endpoint", format_func=lambda n: settings.endpoints[n].label or n)
    c1, c2, c3 = st.columns([2, 1, 1])
    qa_modes = c1.multiselect("回答方式", list(qa.MODES), default=["rag", "raw"], key="qa_modes",
                              format_func=MODE_LABELS.get, help=MODE_HELP, placeholder="请选择回答方式")
    qa_limit = int(c2.number_input("题数（按文件顺序取前几题）", min_value=1, value=QA_DEFAULT_QUESTIONS, key="qa_limit",
                                   help=f"问题文件共 {len(questions)} 题" if questions else None))
    c3.write("")  # aligns the checkbox with the inputs beside it
    qa_fresh = c3.checkbox("从头开始", key="qa_fresh", help="丢弃这一组合（问题文件、知识库、端点）以前的结果，全部重新提问")

    if st.button("运行问答评测", key="qa_run", type="primary", disabled=not questions or not qa_modes):
        out = eval_dir / "answers" / f"{Path(qa_name).stem}-{qa_kb}-{qa_endpoint}.jsonl"
        rows = questions[:qa_limit]
        bar = st.progress(0.0, text=f"0/{len(rows)} 题：检索并回答第一题…")
        try:
            chat_client(qa_endpoint)  # a server that cannot start is said here, before any question
            if qa_fresh:
                out.unlink(missing_ok=True)
            results = qa.run(rows, assistant(knowledge_base(qa_kb), qa_endpoint), out, qa_modes,
                             on_progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total} 题"))
        except (RagError, ServerError) as e:
            bar.empty()
            st.error(f"{chinese_part(str(e))}\n\n已答完的题目已保存在 {out}，再次运行会从中断处继续。"
                     f" / Finished questions are kept in {out}; run again to resume.")
        else:
            bar.empty()
            st.session_state.qa_last = {"results": results, "modes": qa_modes, "out": str(out),
                                        "title": f"{qa_name} · {qa_kb} · {qa_endpoint}"}

    qa_last = st.session_state.get("qa_last")
    if qa_last:
        summary = qa.summarize(qa_last["results"], qa_last["modes"])
        table = summary_frame(summary)
        st.subheader(f"结果：{qa_last['title']}（{summary['n']} 题）")
        if any(m["n"] < summary["n"] for m in summary["modes"].values()):
            st.warning("部分题目沿用了以前用其他回答方式跑的结果，缺少某些方式的回答；勾选“从头开始”可全部重跑。")
        left, right = st.columns([2, 3], gap="large")
        left.dataframe(table.T.astype(object), width="stretch", height="content")  # measures as rows
        r = summary["retrieval"]
        left.markdown(f"**检索**：标准法条被检索到 {r['gold_retrieved']:.0%}，排第一 {r['gold_at_1']:.0%}，"
                      f"判定无相关法条 {r['abstained']:.0%}；检索到标准法条但 RAG 拒答 {r['gold_retrieved_but_refused']} 题，"
                      f"检索到但未引用 {r['gold_retrieved_not_cited']} 题。")
        with right:
            for start in range(0, len(CHARTS), 2):
                for column, measure in zip(st.columns(2), CHARTS[start:start + 2]):
                    column.markdown(f"**{measure}**")
                    if table[measure].fillna(0).eq(0).all():  # an all-zero chart draws no bars and a "0.000000" axis
                        column.caption("各方式均为 0")
                    else:
                        column.bar_chart(table[[measure]], height=CHART_HEIGHT, x_label="", y_label="", horizontal=True)
            st.markdown("**引用核验（条数）**")
            st.bar_chart(table[list(VERIFY_COLORS)], height=CHART_HEIGHT, x_label="", y_label="", horizontal=True,
                         color=list(VERIFY_COLORS.values()))
        st.download_button("下载逐题结果 JSONL", "".join(json.dumps(row, ensure_ascii=False) + "\n"
                                                      for row in qa_last["results"]),
                           Path(qa_last["out"]).name, "application/jsonl", key="qa_dl_results")
        with st.expander("逐题回答"):
            for row in qa_last["results"]:
                st.markdown(f"**{row['question']}**")
                for mode in qa_last["modes"]:
                    if mode in row:
                        st.markdown(f"*{MODE_LABELS[mode]}*：{row[mode]['answer']}")
                        checked = row[mode].get("attribution")  # rows from before the check have none
                        if checked:
                            st.caption(f"{ATTRIBUTION_LABEL}：{checked['summary']}")
