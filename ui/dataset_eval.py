"""The evaluation page's dataset part: a dataset (a configured folder or an upload, with an
example file per format), one or more endpoints, sampling → BLEU-4/ROUGE or accuracy per model
(rag/eval/evaluate.py), and an LLM judge comparing two models' answers on a rubric.
Does not: compute anything itself."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from rag.errors import RagError, chinese_part
from rag.eval import evaluate as ev
from rag.eval.datasets import load_samples
from rag.eval.judge import DEFAULT_RUBRIC, judge_predictions, parse_rubric, verdict_table
from server.errors import ServerError
from settings import ROOT, Settings
from ui.compare import chat_client, endpoint_label

DATASET_GLOBS = ("secondary/*/*.csv", "secondary/*/*.jsonl", "secondary/*/*.json", "eval/*.jsonl")
FOLDER, UPLOAD = "数据目录", "上传文件"
EXAMPLE_DATASETS = ROOT / "knowledge" / "examples" / "datasets"
EXAMPLE_FORMATS = {  # one example file per format load_samples reads: label → file in EXAMPLE_DATASETS
    "alpaca JSON": "alpaca_example.json", "alpaca JSONL": "alpaca_example.jsonl",
    "问答 JSONL": "qa_example.jsonl", "选择题 CSV": "choice_example.csv"}
EXAMPLE_MIME = {".json": "application/json", ".jsonl": "application/jsonl", ".csv": "text/csv"}


def render_dataset_eval(settings: Settings) -> None:
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
                           if settings.default_endpoint in settings.endpoints else [], key="eval_endpoints",
                           format_func=endpoint_label, placeholder="请选择模型端点")
    d = ev.Sampling()
    with st.expander("采样参数", expanded=False):
        c1, c2, c3 = st.columns(3)
        sampling = ev.Sampling(
            temperature=c1.number_input("温度", 0.0, 2.0, d.temperature, 0.05, key="eval_temperature",
                                         help="temperature：越高越随机"),
            top_p=c2.number_input("核采样阈值", 0.0, 1.0, d.top_p, 0.05, key="eval_top_p", help="top_p"),
            top_k=int(c3.number_input("候选词数", 0, 200, d.top_k, key="eval_top_k", help="top_k；0 = 不限")),
            max_new_tokens=int(c1.number_input("最多生成词元数", 1, 8192, d.max_new_tokens, key="eval_max_new_tokens",
                                                 help="max_new_tokens")),
            repetition_penalty=c2.number_input("重复惩罚", 1.0, 2.0, d.repetition_penalty, 0.05,
                                               key="eval_repetition_penalty", help="repetition_penalty"),
            seed=int(c3.number_input("随机种子", 0, 2**31 - 1, d.seed, key="eval_seed", help="seed")))
        max_samples = int(c1.number_input("最多评测条数（0 = 全部）", 0, 100000, 50, key="eval_max_samples", help="max_samples")) or None
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
            st.error(chinese_part(str(e)))
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
            judge = st.selectbox("裁判端点", sorted(settings.endpoints), key="eval_judge",
                                 format_func=endpoint_label)
            rubric_text = st.text_area("评分维度（每行“维度：说明”）",
                                       "\n".join(f"{k}：{v}" for k, v in DEFAULT_RUBRIC.items()), key="eval_rubric")
            if st.button(f"让裁判比较 {a} 与 {b}", key="eval_judge_run"):
                bar = st.progress(0.0, text="评审中…")
                try:
                    verdicts = judge_predictions(ev.predictions_path(last["out"], a), ev.predictions_path(last["out"], b),
                                                 chat_client(judge), parse_rubric(rubric_text),
                                                 on_progress=lambda done, total: bar.progress(done / max(total, 1)))
                except (RagError, ServerError) as e:
                    st.error(chinese_part(str(e)))
                    st.stop()
                st.session_state.eval_verdicts = {"table": verdict_table(verdicts, a, b),
                                                  "errors": [v.error for v in verdicts if v.error]}
            verdicts = st.session_state.get("eval_verdicts")
            if verdicts:
                st.dataframe(pd.DataFrame(verdicts["table"]))
                if verdicts["errors"]:
                    st.warning(f"{len(verdicts['errors'])} 条裁判回复无法解析：{verdicts['errors'][0]}")
