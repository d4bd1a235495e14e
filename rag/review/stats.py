"""Results of a blind review set (rag/review/sets.py): outcome shares with 95% Wilson intervals,
per topic and per error tag, agreement between reviewers (percent agreement; Cohen's kappa
for two reviewers, Fleiss' kappa for more), the LLM judge against the humans, and the
Markdown evidence pack.

The unit is one vote (a reviewer on an item). Several reviewers' votes on the same item are
not independent, so with many reviewers per item the intervals are too narrow; the
agreement figures show how much that matters. Does not: draw anything, read files.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import combinations

from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

from rag.answer.conversation import ATTRIBUTION_LABEL, STATUS_TEXT
from rag.review.sets import ERROR_TAGS, OUTCOME_LABELS, OUTCOMES, SIDE_LABELS, VOTE_LABELS

CONFIDENCE = 0.95
CI_METHOD = "Wilson 置信区间，95%"


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (scipy); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def share(k: int, n: int) -> dict:
    low, high = wilson(k, n)
    return {"k": k, "n": n, "p": k / n if n else None, "low": low, "high": high}


def outcomes(reviews: Sequence[dict]) -> dict[str, dict]:
    """Per outcome (rag, raw, tie, both_bad): its share of the votes with a Wilson interval."""
    counts = Counter(r["winner"] for r in reviews)
    return {o: share(counts[o], len(reviews)) for o in OUTCOMES}


def by_topic(reviews: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """topic → outcomes() of its votes."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in reviews:
        groups[r["topic"]].append(r)
    return {t: outcomes(rs) for t, rs in sorted(groups.items())}


def by_tag(reviews: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """error tag → for each side, the share of votes that gave that side this tag."""
    n = len(reviews)
    return {tag: {side: share(sum(tag in r["tags"][side] for r in reviews), n) for side in ("rag", "raw")}
            for tag in ERROR_TAGS}


# ------------------------------------------------------------------ agreement

def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (scikit-learn); None when chance
    agreement is 1 (both raters gave one and the same label throughout)."""
    if not a or len(a) != len(b) or len(set(a) | set(b)) == 1:
        return None
    return float(cohen_kappa_score(list(a), list(b)))


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa; table[item][category] = raters who chose it (same rater count per item)."""
    if not table:
        return None
    m = sum(table[0])
    if m < 2 or any(sum(row) != m for row in table):
        return None
    n_items = len(table)
    p_item = [(sum(c * c for c in row) - m) / (m * (m - 1)) for row in table]
    p_cat = [sum(row[j] for row in table) / (n_items * m) for j in range(len(table[0]))]
    p_bar, p_e = sum(p_item) / n_items, sum(p * p for p in p_cat)
    return None if p_e == 1 else (p_bar - p_e) / (1 - p_e)


def agreement(reviews: Sequence[dict]) -> dict | None:
    """How often reviewers agree on the outcome of the same item. Percent agreement is the mean
    over items of the share of agreeing reviewer pairs; kappa is Cohen's for two reviewers (their
    shared items), Fleiss' for more (the items every reviewer voted on). None below 2 reviewers
    on a shared item."""
    votes: dict[str, dict[str, str]] = defaultdict(dict)
    for r in reviews:
        votes[r["query_id"]][r["reviewer"]] = r["winner"]
    shared = {q: v for q, v in votes.items() if len(v) >= 2}
    if not shared:
        return None
    pair_shares = [sum(x == y for x, y in combinations(v.values(), 2)) / math.comb(len(v), 2)
                   for v in shared.values()]
    reviewers = sorted({name for v in shared.values() for name in v})
    out = {"reviewers": reviewers, "items": len(shared), "percent": sum(pair_shares) / len(pair_shares)}
    if len(reviewers) == 2:
        a, b = reviewers
        out |= {"method": "Cohen's kappa", "kappa": cohen_kappa([v[a] for v in shared.values()],
                                                                  [v[b] for v in shared.values()])}
    else:
        full = [v for v in shared.values() if len(v) == len(reviewers)]
        out |= {"method": "Fleiss' kappa", "kappa_items": len(full),
                "kappa": fleiss_kappa([[list(v.values()).count(o) for o in OUTCOMES] for v in full])}
    return out


# ------------------------------------------------------------------ the judge beside the humans

def human_as_judge(winner: str) -> str:
    """A human outcome in the judge's terms: the judge has no 'both bad', it says tie."""
    return "tie" if winner == "both_bad" else winner


def judge_agreement(reviews: Sequence[dict], verdicts: dict[str, dict]) -> dict | None:
    """Share of human votes the judge's verdict on the same item matches (both bad = tie)."""
    pairs = [(human_as_judge(r["winner"]), verdicts[r["query_id"]]["winner"])
             for r in reviews if r["query_id"] in verdicts]
    if not pairs:
        return None
    return {**share(sum(h == j for h, j in pairs), len(pairs)),
            "judge": Counter(v["winner"] for v in verdicts.values())}


def summary(reviews: Sequence[dict], verdicts: dict[str, dict] | None = None) -> dict:
    return {"n": len(reviews), "items": len({r["query_id"] for r in reviews}),
            "reviewers": sorted({r["reviewer"] for r in reviews}), "outcomes": outcomes(reviews),
            "topics": by_topic(reviews), "tags": by_tag(reviews), "agreement": agreement(reviews),
            "judge": judge_agreement(reviews, verdicts or {}), "ci_method": CI_METHOD}


def fmt_share(s: dict) -> str:
    """"67% (2/3; 95% CI 21–94%)"."""
    if not s["n"]:
        return "—"
    return f"{s['p']:.0%}（{s['k']}/{s['n']}；95% CI {s['low']:.0%}–{s['high']:.0%}）"


# ------------------------------------------------------------------ evidence pack

def evidence_markdown(reviews: Sequence[dict], verdicts: dict[str, dict] | None = None) -> str:
    """A review set as a Markdown document the experts can keep: settings, KB hash, results,
    then per item the question, both answers with labels revealed, votes, tags, notes and the
    cited and retrieved articles verbatim with their verification."""
    if not reviews:
        return "# 盲评证据包\n\n（没有评审记录）\n"
    verdicts, first = verdicts or {}, reviews[0]
    s = summary(reviews, verdicts)
    lines = ["# 盲评证据包：RAG vs 原始模型", "",
             f"- 评审集：{first['name']}（set id `{first['set_id']}`；问题文件 sha256 `{first['questions_hash']}`）",
             f"- 知识库：{first['kb']}（内容哈希 `{first['kb_hash']}`）",
             f"- 模型：{first['endpoint']} · {first['model']} · {first['base_url']}",
             f"- 采样：{first['sampling']}；检索 top_k={first['top_k']}；提示词版本 {first['prompt_version']}",
             f"- 评审人：{'、'.join(s['reviewers'])}；{s['items']} 题，{s['n']} 票", "",
             f"## 结果（{CI_METHOD}）", ""]
    lines += [f"- {OUTCOME_LABELS[o]}：{fmt_share(v)}" for o, v in s["outcomes"].items()]
    if s["agreement"]:
        a = s["agreement"]
        kappa = "—" if a["kappa"] is None else f"{a['kappa']:.2f}"
        lines.append(f"- 评审人一致性：{a['percent']:.0%}（{a['items']} 题），{a['method']} = {kappa}")
    if s["judge"]:
        lines.append(f"- LLM 评审与人工一致：{fmt_share(s['judge'])}")
    by_item: dict[str, list[dict]] = defaultdict(list)
    for r in reviews:
        by_item[r["query_id"]].append(r)
    for n, (query_id, votes) in enumerate(by_item.items(), 1):
        item = votes[0]
        a, b = item["a_side"], "raw" if item["a_side"] == "rag" else "rag"
        lines += ["", f"## {n}. {item['question']}", "",
                  f"- 编号 {query_id} · 主题 {item['topic']} · 生成于 {item['generated_at']} · "
                  f"A = {SIDE_LABELS[a]}，B = {SIDE_LABELS[b]}（种子 {item['seed']}）"]
        for v in votes:
            tags = "；".join(f"{SIDE_LABELS[side]}：{'、'.join(ERROR_TAGS[t] for t in v['tags'][side])}"
                            for side in ("rag", "raw") if v["tags"][side])
            lines.append(f"- **{v['reviewer']}**（{v['reviewed_at']}）：选 {VOTE_LABELS[v['vote']]} → "
                         f"**{OUTCOME_LABELS[v['winner']]}**" + (f"；问题标签：{tags}" if tags else "")
                         + (f"；备注：{v['note']}" if v["note"] else ""))
        if query_id in verdicts:
            j = verdicts[query_id]
            lines.append(f"- LLM 评审（{j['judge']}，两种顺序）：{OUTCOME_LABELS.get(j['winner'], j['winner'])}"
                         f"（各次：{'、'.join(j['winners']) or '—'}）")
        for side, letter in ((a, "A"), (b, "B")):
            lines += ["", f"### {letter}：{SIDE_LABELS[side]}", ""]
            checked = item[side].get("attribution")  # absent in items generated before issue 21
            if checked:
                lines += [f"> {ATTRIBUTION_LABEL}：{checked['summary']}（对照本题检索到的法条）", ""]
            lines += [item[side]["answer"] or "（无回答）", ""]
            for c in item[side]["verified"]:
                lines.append(f"- {c['mention']}：{STATUS_TEXT[c['status']]}" + ("（该法已废止）" if c["repealed"] else ""))
                if c["article"]:
                    lines.append(f"  > {c['article']['label']}：{c['article']['text']}")
            if not item[side]["verified"]:
                lines.append("- （回答没有引用具体条文）")
        lines += ["", "### 检索到的法条", ""]
        lines += [f"- **{c['label']}**（{c['status'] or '状态未知'}；分数 {c['score']}）：{c['text']}"
                  for c in item["retrieved"]] or ["- （无）"]
    return "\n".join(lines) + "\n"
