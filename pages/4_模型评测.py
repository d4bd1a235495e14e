"""Evaluation page: a dataset, one or more endpoints, sampling → BLEU/ROUGE or accuracy per model;
optionally an LLM judge comparing two models' answers on a rubric. Below it, legal Q&A: RAG vs
the raw model on questions with gold articles, scored by rag/eval/answers.py (the answer
benchmark's measures: refusals, citations, verification, fabricated articles, ROUGE-L, latency)."""
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from rag.answer.conversation import ATTRIBUTION_LABEL
from rag.eval import answers as qa
from rag.eval import evaluate as ev
from rag.eval.datasets import load_samples
from rag.errors import RagError
from rag.eval.judge import DEFAULT_RUBRIC, judge_predictions, parse_rubric, verdict_table
from rag.eval.questions import load_questions
from server.errors import ServerError
from settings import ROOT, get_settings
from ui.compare import chat_client, endpoint_index
from ui.legal import assistant, knowledge_base, library
from ui.review_results import render_review_results

DATASET_GLOBS = ("secondary/*/*.csv", "secondary/*/*.jsonl", "secondary/*/*.json", "eval/*.jsonl")
FOLDER, UPLOAD = "数据目录", "上传文件"
EXAMPLE_DATASETS = ROOT / "knowledge" / "examples" / "datasets"
EXAMPLE_FORMATS = {  # one example file per format load_samples reads: label → file in EXAMPLE_DATASETS
    "alpaca JSON": "alpaca_example.json", "alpaca JSONL": "alpaca_example.jsonl",
    "问答 JSONL": "qa_example.jsonl", "选择题 CSV": "choice_example.csv"}
EXAMPLE_MIME = {".json": "application/json", ".jsonl": "application/jsonl", ".csv": "text/csv"}
EXAMPLE_QUESTIONS = ROOT / "knowledge" / "examples" / "labor_questions.jsonl"
QA_EXAMPLE = "示例：劳动法常见问题"
QA_DEFAULT_QUESTIONS = 8
MODE_LABELS = {"rag": "RAG", "raw": "原始模型", "oracle": "给定标准法条"}
CHARTS = ["拒答 %", "引用任一法条 %", "引用标准法条 %", "虚构法条", "ROUGE-L", "总耗时 p50 s"]
CHART_HEIGHT = 160
VERIFY_COLORS = {"核验通过": "#2e7d32", "未检索到": "#f9a825", "库中无此条": "#c62828", "原文不符": "#8e24aa"}
MODE_HELP = "RAG：检索知识库后回答；原始模型：不检索直接回答；给定标准法条：把标准答案法条放进提示（区分检索错误与生成错误）"


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


st.set_page_config(page_title="模型评测", page_icon="📊", layout="wide")
st.title("模型评测")
settings = get_settings()
eval_dir = settings.data_dir / "eval"

datasets_dir = settings.datasets_dir  # a configured dataset folder; users without one upload
source = st.radio("数据集来源", [FOLDER, UPLOAD] if datasets_dir else [UPLOAD], horizontal=True, key="eval_source")
dataset: Path | None = None
if source == FOLDER:
    files = sorted(str(p.relative_to(datasets_dir)) for g in DATASET_GLOBS for p in datasets_dir.glob(g))
    if files:
        dataset = datasets_dir / st.selectbox("数据集", files, key="eval_dataset", help=f"LEGAL_RAG_DATASETS_DIR：{datasets_dir}")
    else:
        st.info(f"{datasets_dir} 中没有找到数据集，请上传。/ No datasets found under {datasets_dir}; upload one instead.")
else:
    upload = st.file_uploader("alpaca JSON/JSONL、问答 JSONL 或选择题 CSV", type=["json", "jsonl", "csv"],
                              key="eval_upload")
    st.caption("下载示例文件（每种支持的格式一个），照它的字段准备自己的数据集：")
    for column, (label, file_name) in zip(st.columns(len(EXAMPLE_FORMATS)), EXAMPLE_FORMATS.items()):
        path = EXAMPLE_DATASETS / file_name
        column.download_button(f"示例：{label}", path.read_bytes(), file_name, EXAMPLE_MIME[path.suffix],
                               key=f"eval_example_{file_name}")
    if upload is not None:
        dataset = eval_dir / "uploads" / Path(upload.name).name
        dataset.parent.mkdir(parents=True, exist_ok=True)
        dataset.write_bytes(upload.getvalue())

names = st.multiselect("模型端点", sorted(settings.endpoints), default=[settings.default_endpoint]
                       if settings.default_endpoint in settings.endpoints else [], key="eval_endpoints")
d = ev.Sampling()
with st.expander("采样参数", expanded=False):
    c1, c2, c3 = st.columns(3)
    sampling = ev.Sampling(
        temperature=c1.number_input("temperature", 0.0, 2.0, d.temperature, 0.05, key="eval_temperature"),
        top_p=c2.number_input("top_p", 0.0, 1.0, d.top_p, 0.05, key="eval_top_p"),
        top_k=int(c3.number_input("top_k", 0, 200, d.top_k, key="eval_top_k")),
        max_new_tokens=int(c1.number_input("max_new_tokens", 1, 8192, d.max_new_tokens, key="eval_max_new_tokens")),
        repetition_penalty=c2.number_input("repetition_penalty", 1.0, 2.0, d.repetition_penalty, 0.05,
                                           key="eval_repetition_penalty"),
        seed=int(c3.number_input("seed", 0, 2**31 - 1, d.seed, key="eval_seed")))
    max_samples = int(c1.number_input("max_samples（0 = 全部）", 0, 100000, 50, key="eval_max_samples")) or None
    concurrency = int(c2.number_input("并发请求数", 1, 64, ev.DEFAULT_CONCURRENCY, key="eval_concurrency"))
    fresh = c3.checkbox("从头开始（不沿用已有预测）", key="eval_fresh")

if st.button("开始评测", key="eval_run", type="primary", disabled=dataset is None or not names):
    out = eval_dir / dataset.stem
    bar = st.progress(0.0, text="准备中…")
    try:
        samples = load_samples(dataset, max_samples)
        clients = {n: chat_client(n) for n in names}
        results = ev.evaluate(samples, clients, out, sampling=sampling, concurrency=concurrency,
                              resume=not fresh, on_progress=lambda n, done, total: bar.progress(
                                  done / max(total, 1), text=f"{n}: {done}/{total}"))
    except (RagError, ServerError) as e:
        st.error(str(e))
        st.stop()
    st.session_state.eval_last = {"out": str(out), "names": names, "results": results}

last = st.session_state.get("eval_last")
if last:
    table = pd.DataFrame(last["results"]).T
    st.subheader("结果")
    st.dataframe(table)
    score_cols = [c for c in ("accuracy", "bleu-4", "rouge-1", "rouge-2", "rouge-l") if c in table]
    st.bar_chart(table[score_cols], stack=False)
    failed = {n: r.get("failed", 0) for n, r in last["results"].items() if r.get("failed")}
    if failed:
        st.warning(f"有请求失败，未计入结果（再次运行会重试）：{failed}")
    st.download_button("下载指标 JSON", json.dumps(last["results"], ensure_ascii=False, indent=2),
                       "metrics.json", "application/json", key="eval_dl_metrics")
    for n in last["names"]:
        path = ev.predictions_path(last["out"], n)
        if path.exists():
            st.download_button(f"下载 {n} 的预测", path.read_bytes(), f"{n}-{ev.PREDICTIONS_FILE}",
                               "application/jsonl", key=f"eval_dl_{n}")

    if len(last["names"]) >= 2:
        st.subheader("裁判模型对比")
        a, b = last["names"][:2]
        judge = st.selectbox("裁判端点", sorted(settings.endpoints), key="eval_judge")
        rubric_text = st.text_area("评分维度（每行“维度：说明”）",
                                   "\n".join(f"{k}：{v}" for k, v in DEFAULT_RUBRIC.items()), key="eval_rubric")
        if st.button(f"让裁判比较 {a} 与 {b}", key="eval_judge_run"):
            bar = st.progress(0.0, text="评审中…")
            try:
                verdicts = judge_predictions(ev.predictions_path(last["out"], a), ev.predictions_path(last["out"], b),
                                             chat_client(judge), parse_rubric(rubric_text),
                                             on_progress=lambda done, total: bar.progress(done / max(total, 1)))
            except (RagError, ServerError) as e:
                st.error(str(e))
                st.stop()
            st.session_state.eval_verdicts = {"table": verdict_table(verdicts, a, b),
                                              "errors": [v.error for v in verdicts if v.error]}
        verdicts = st.session_state.get("eval_verdicts")
        if verdicts:
            st.dataframe(pd.DataFrame(verdicts["table"]))
            if verdicts["errors"]:
                st.warning(f"{len(verdicts['errors'])} 条裁判回复无法解析：{verdicts['errors'][0]}")


# ---------------------------------------------------------------- legal Q&A: RAG vs raw
st.divider()
st.header("法律问答：RAG vs 原始模型")
st.caption("对带标准法条的问题，分别用 RAG、原始模型（及可选的给定标准法条）回答，统计拒答、引用、核验、"
           "虚构法条、ROUGE-L 与耗时。每题一完成就写入结果文件；再次运行同一组合会接着跑，不重复提问。")
example = EXAMPLE_QUESTIONS.read_bytes()
c1, c2 = st.columns([3, 1])
qa_source = c1.radio("问题文件", [QA_EXAMPLE, UPLOAD], horizontal=True, key="qa_source")
c2.download_button("下载示例问题", example, EXAMPLE_QUESTIONS.name, "application/jsonl", key="qa_dl_example")
questions, qa_name = [], EXAMPLE_QUESTIONS.name
if qa_source == UPLOAD:
    qa_upload = st.file_uploader("问题 JSONL：每行 question、gold_articles [{law, article_cn}]，可选 answer（参考答案）"
                                 "与 query_id", type=["jsonl"], key="qa_upload")
    qa_name = Path(qa_upload.name).name if qa_upload is not None else ""
    data = qa_upload.getvalue() if qa_upload is not None else None
else:
    data = example
if data is not None:
    try:
        questions = load_questions(data, qa_name)
    except RagError as e:
        st.error(str(e))

c1, c2 = st.columns(2)
try:
    kb_names = library().names() or [settings.default_kb]
except RagError as e:
    st.error(str(e))
    st.stop()
if settings.default_kb not in kb_names:
    kb_names = [settings.default_kb, *kb_names]
qa_kb = c1.selectbox("知识库", kb_names, index=kb_names.index(settings.default_kb), key="qa_kb")
endpoints = sorted(settings.endpoints)
qa_endpoint = c2.selectbox("模型端点", endpoints, index=endpoint_index(endpoints, settings.default_endpoint),
                           key="qa_endpoint", format_func=lambda n: settings.endpoints[n].label or n)
c1, c2, c3 = st.columns([2, 1, 1])
qa_modes = c1.multiselect("回答方式", list(qa.MODES), default=["rag", "raw"], key="qa_modes",
                          format_func=MODE_LABELS.get, help=MODE_HELP)
qa_limit = int(c2.number_input("题数（前 N 题）", min_value=1, value=QA_DEFAULT_QUESTIONS, key="qa_limit",
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
        st.error(f"{e}\n\n已答完的题目已保存在 {out}，再次运行会从中断处继续。"
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

render_review_results()  # 盲评结果 (the legal page's blind review mode)
