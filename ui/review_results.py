"""盲评结果 on the evaluation page: one review set's outcomes with Wilson 95% intervals, per topic
and per error tag, reviewer agreement, the LLM judge beside the humans (a button runs it),
and the evidence pack download. Every figure comes from rag/review/stats.py; this module
only draws tables (Markdown: they stay readable in the browser and in tests).
"""
from __future__ import annotations

from collections import Counter, defaultdict

import streamlit as st

from rag.errors import RagError
from rag.eval.judge import LEGAL_QA_RUBRIC
from rag.review.sets import ERROR_TAGS, OUTCOME_LABELS, OUTCOMES, JudgeStore, ReviewStore, judge_item
from rag.review.stats import CI_METHOD, evidence_markdown, fmt_share, summary
from server.errors import ServerError
from ui.compare import app_settings, chat_client
from ui.legal import library


def render_review_results() -> None:
    st.divider()
    st.header("盲评结果：RAG 与原始模型")
    logs = library().store
    store, judges = ReviewStore(logs.log("reviews")), JudgeStore(logs.log("review_judge"))
    reviews = store.reviews()
    if not reviews:
        st.info("还没有盲评记录。在「法律助手」页左侧打开“盲评模式”开始评审。")
        return
    sets: dict[str, list[dict]] = defaultdict(list)
    for r in reviews:
        sets[r["set_id"]].append(r)
    set_id = st.selectbox("评审集", list(sets), key="review_results_set", format_func=lambda s: (
        f"{sets[s][0]['name']} · {sets[s][0]['kb']} · {sets[s][0]['endpoint']}（{len(sets[s])} 票）"))
    chosen = sets[set_id]
    verdicts = judges.verdicts(set_id)
    s = summary(chosen, verdicts)
    first = chosen[0]
    st.caption(f"评审集 {set_id} · 知识库 {first['kb']}（内容哈希 {first['kb_hash'][:12]}…）· 模型 {first['endpoint']} "
               f"({first['model']}) · 提示词 {first['prompt_version']} · 评审人 {'、'.join(s['reviewers'])}")
    rag_win = s["outcomes"]["rag"]
    c1, c2, c3 = st.columns(3)
    c1.metric("RAG 胜率", f"{rag_win['p']:.0%}", help=f"{CI_METHOD}")
    c1.caption(f"95% 置信区间 {rag_win['low']:.0%}–{rag_win['high']:.0%}（Wilson 区间）")
    c2.metric("题数 / 票数", f"{s['items']} / {s['n']}")
    agree = s["agreement"]
    if agree:
        kappa = "—" if agree["kappa"] is None else f"{agree['kappa']:.2f}"
        c3.metric("评审人一致性", f"{agree['percent']:.0%}", help=f"{agree['method']} = {kappa}")
        c3.caption(f"{agree['method']} = {kappa}（{agree['items']} 题，{len(agree['reviewers'])} 人）")
    else:
        c3.metric("评审人一致性", "—")
        c3.caption("至少两位评审人评过同一题才能计算")
    st.markdown(f"**结果**（每票一计；区间为 {CI_METHOD}）")
    st.markdown(_table(["结果", "票数", "占比（95% CI）"],
                       [[OUTCOME_LABELS[o], v["k"], fmt_share(v)] for o, v in s["outcomes"].items()]))
    st.markdown("**按主题**（标准答案法条所属法律，无标准答案时取检索第一条）")
    st.markdown(_table(["主题", "票数", *(OUTCOME_LABELS[o] for o in OUTCOMES), "RAG 胜率（95% CI）"],
                       [[t, o["rag"]["n"], *(o[x]["k"] for x in OUTCOMES), fmt_share(o["rag"])]
                        for t, o in s["topics"].items()]))
    st.markdown("**按问题标签**（被标注该问题的票数占比）")
    st.markdown(_table(["问题", "RAG", "原始模型"],
                       [[ERROR_TAGS[t], fmt_share(v["rag"]), fmt_share(v["raw"])] for t, v in s["tags"].items()]))
    _judge_section(chosen, verdicts, s)
    st.download_button("下载证据包（.md 文件）", evidence_markdown(chosen, verdicts),
                       file_name=f"blind-review-{set_id}.md", key="review_export")


def _judge_section(reviews: list[dict], verdicts: dict[str, dict], s: dict) -> None:
    settings = app_settings()
    st.markdown("**LLM 评审与人工对照**")
    items = list({r["query_id"]: r for r in reviews}.values())
    name = settings.judge_endpoint or items[0]["endpoint"]
    todo = [i for i in items if i["query_id"] not in verdicts]
    if st.button(f"用评审模型 {name} 评这 {len(todo)} 题" if todo else "已全部评过；重新评审",
                 key="review_judge_run", help="rag.eval.judge.judge_swapped：每题 RAG 先、原始模型先各评一次"):
        bar = st.progress(0.0, text="评审中…")
        store = JudgeStore(library().store.log("review_judge"))
        try:
            judge = chat_client(name)
            for n, item in enumerate(todo or items, 1):
                store.append(judge_item(item, judge, name, LEGAL_QA_RUBRIC))
                bar.progress(n / len(todo or items), text=f"{n}/{len(todo or items)} 题")
        except (ServerError, RagError) as e:
            st.error(f"评审失败：{e}（已评的题目已保存）")
            return
        st.rerun()
    if not verdicts:
        st.caption("还没有 LLM 评审的结果。")
        return
    if s["judge"]:
        st.markdown(f"LLM 评审与人工投票一致：{fmt_share(s['judge'])}（“都不好”按平局计；两种顺序结论不同时按平局计）")
    votes = defaultdict(Counter)
    for r in reviews:
        votes[r["query_id"]][r["winner"]] += 1
    st.markdown(_table(["题目", "人工", "LLM 评审", "一致"], [
        [i["question"][:30], "、".join(f"{OUTCOME_LABELS[w]}×{c}" for w, c in votes[i["query_id"]].items()),
         OUTCOME_LABELS.get(verdicts[i["query_id"]]["winner"], "—"),
         "✅" if verdicts[i["query_id"]]["winner"] in {"tie" if w == "both_bad" else w for w in votes[i["query_id"]]}
         else "❌"] for i in items if i["query_id"] in verdicts]))


def _table(head: list[str], rows: list[list]) -> str:
    cells = lambda row: "| " + " | ".join(str(c).replace("|", "｜").replace("\n", " ") for c in row) + " |"  # noqa: E731
    return "\n".join([cells(head), "|" + "---|" * len(head), *map(cells, rows)])
