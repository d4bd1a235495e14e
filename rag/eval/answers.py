"""The answer benchmark's core: RAG vs raw vs oracle answers to questions with gold articles,
scored the same way for bench/answers.py and the evaluation page.

For each question `run_question` asks through the chat's own road (rag.assistant: the same
retriever, prompts, verification and attribution) in up to three modes, and `score_answer` turns each answer into
plain facts: refused?, cites any article?, cites a gold article?, the verify_citations
outcomes, fabricated citations (an article number that does not exist in a law the KB
holds), the attribution check (rag.answer.conversation.check_answer: which sentences the articles
support, figures and modal words that contradict them), ROUGE-L against the lawyer's answer,
latency. `summarize` aggregates rows: supported-claim rate, number mismatches and negation
flips per checked answer among them.

Modes: "rag" (retrieved articles), "raw" (no retrieval), "oracle" (the gold articles put in
the prompt instead of the retrieved ones: it separates retrieval errors from generation
errors).

Attribution is checked against the articles the answer's prompt held; the raw answer, whose
prompt held none, is checked against the same retrieved articles as the RAG answer, so the
two compare. Refusals and answers to questions where retrieval abstained are not checked.

Does not: start servers, pick endpoints or read settings (bench/answers.py and the page do).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from statistics import fmean

from rag.answer.verify import is_refusal, verify_citations
from rag.answer.conclusion import restates_question
from rag.answer.conversation import check_answer
from rag.eval.judge import LEGAL_QA_RUBRIC, judge_swapped
from rag.eval.metrics import percentile, similarity
from rag.text import resolve_law
from rag.documents.statutes import cn_to_int, find_article_mentions, normalize_law_name
from rag.types import Article, Citation

MODES = ("rag", "raw", "oracle")
VERIFY_STATUSES = ("ok", "not_retrieved", "not_in_kb", "text_mismatch")
GOLD_PREFIX_CHARS = 60
UNCHECKED = object()  # score_answer runs the attribution itself  # a retrieved article whose text holds the gold's first 60 chars is gold


# ------------------------------------------------------------------ gold articles

def gold_refs(gold_articles: Sequence[dict]) -> list[tuple[str, int, str]]:
    """(law short name, article number, text prefix) for each gold article of a question."""
    refs = []
    for g in gold_articles:
        m = re.match(r"第(.+?)条", g.get("article_cn", ""))
        refs.append((normalize_law_name(g.get("law", "")), cn_to_int(m.group(1)) if m else -1,
                     _squash(g.get("text", ""))[:GOLD_PREFIX_CHARS]))
    return refs


def is_gold(article: Article, refs: Sequence[tuple[str, int, str]]) -> bool:
    law = normalize_law_name(article.law_short or article.law_title)
    text = _squash(article.text)
    return any((law == g_law and article.article_no == g_no) or (prefix and prefix in text)
               for g_law, g_no, prefix in refs)


def gold_rank(citations: Sequence[Citation], refs) -> int | None:
    """1-based rank of the first gold article among the retrieved ones, None if absent."""
    return next((n for n, c in enumerate(citations, 1) if is_gold(c.article, refs)), None)


def gold_citations(gold_articles: Sequence[dict], kb) -> list[Citation]:
    """The gold articles as citations: the KB's own article when it holds it, else the
    gold text under the gold name (so the oracle prompt always has them)."""
    out = []
    for g, (law, no, _) in zip(gold_articles, gold_refs(gold_articles)):
        found = kb.lookup(resolve_law(law, kb.law_names()) or law, no) if no > 0 else None
        article = found or Article(text=g.get("text", "").strip(), law_title=g.get("law", ""), law_short=law,
                                   article_no=no if no > 0 else None, article_cn=g.get("article_cn", ""))
        out.append(Citation(article, 1.0, ["gold"]))
    return out


# ------------------------------------------------------------------ scoring one answer

def score_answer(text: str, refs, kb, retrieved: Sequence[Citation], reference: str = "",
                 against: Sequence[Citation] | None = None, abstain: bool = False, checked=UNCHECKED,
                 question: str = "") -> dict:
    """Facts about one answer. `retrieved` is what its prompt held (empty for raw); its
    sentences are attributed to `against` (default: `retrieved`; for raw: the RAG answer's
    retrieved articles), unless `checked` brings the attribution the Turn already holds.
    "attribution" is Attribution.to_dict(), or None when not checked."""
    laws = kb.law_names()
    if checked is UNCHECKED:
        checked = check_answer(text, list(retrieved if against is None else against), abstain)
    verified = verify_citations(text, kb, list(retrieved))
    statuses = {s: sum(v.status == s for v in verified) for s in VERIFY_STATUSES}
    cited = [(resolve_law(m.law, laws) or normalize_law_name(m.law or ""), m.article_no)
             for m in find_article_mentions(text)]
    gold = {(law, no) for law, no, _ in refs}
    # Fabricated: the law is in the KB but that article number is not (the KB holds the whole law).
    fabricated = [v.mention for v in verified if v.status == "not_in_kb" and v.law in laws]
    return {
        "refused": is_refusal(text),
        "cites_any": bool(verified),
        "cites_gold": any(c in gold for c in cited),
        "verified": statuses,
        "fabricated": fabricated,
        "attribution": checked.to_dict() if checked else None,
        "rouge_l": similarity(text, reference)["rouge-l"] if reference and text else 0.0,
        "restated": bool(text) and restates_question(text, question) if question else None,
    }


# ------------------------------------------------------------------ running one question

def judge_both_orders(question: str, rag_answer: str, raw_answer: str, judge, rubric: dict[str, str]) -> dict:
    """The judge's verdict with RAG as A and then as B (judge_swapped), in rag/raw terms."""
    try:
        v = judge_swapped(question, rag_answer, raw_answer, judge, rubric)
    except Exception as e:  # noqa: BLE001 - an unreadable verdict is counted, not fatal
        return {"error": str(e)}
    names = {"A": "rag", "B": "raw", "tie": "tie", "": ""}
    return {"rag": v.scores_a, "raw": v.scores_b, "winners": [names[w] for w in v.winners],
            "unreadable": len(v.errors)}


def run_question(row: dict, assistant, modes: Sequence[str] = MODES, judge=None,
                 rubric: dict[str, str] | None = None) -> dict:
    """Answer one question in each mode through the app's own road (rag.assistant: the chat's
    retriever, prompts and checks) and score each answer. RAG and raw share one retrieval;
    oracle answers from the gold articles. Modes are answered one after the other, each timed
    from its own request. With a judge, RAG and raw are compared in both orders."""
    question, refs, kb = row["question"], gold_refs(row.get("gold_articles", [])), assistant.kb
    turns: dict[str, tuple] = {}  # mode → (its Turn, its Reply)
    sides = [m for m in ("rag", "raw") if m in modes]
    turn = assistant.run(question, sides=sides or ["rag"], parallel=False)
    for mode in sides:
        turns[mode] = (turn, turn.rag if mode == "rag" else turn.raw)
    if "oracle" in modes:
        oracle = assistant.run(question, articles=gold_citations(row.get("gold_articles", []), kb), sides=["rag"])
        turns["oracle"] = (oracle, oracle.rag)
    out = {"query_id": row.get("query_id"), "question": question,
           "retrieval": {"gold_rank": gold_rank(turn.citations, refs), "abstain": turn.abstain,
                         "retrieved": [c.label for c in turn.citations]}}
    for mode in modes:
        t, reply = turns[mode]
        context = [] if mode == "raw" else t.citations  # the articles its prompt held
        out[mode] = {"answer": reply.answer, "ttft_s": reply.first_token_s, "total_s": round(reply.total_s, 3),
                     **score_answer(reply.answer, refs, kb, context, row.get("answer", ""), t.citations, t.abstain,
                                    checked=reply.attribution, question=question)}
        if reply.failure is not None:  # not stored: a rerun asks it again
            raise reply.failure
    if judge is not None and "rag" in out and "raw" in out:
        out["judge"] = judge_both_orders(question, out["rag"]["answer"], out["raw"]["answer"], judge,
                                         rubric or LEGAL_QA_RUBRIC)
    return out


def run(rows: Sequence[dict], assistant, out_file: Path, modes: Sequence[str] = MODES,
        on_progress: Callable[[int, int], None] | None = None,
        judge=None, rubric: dict[str, str] | None = None) -> list[dict]:
    """Every row answered and scored, appended to out_file as it finishes (a rerun resumes:
    rows already in the file are not asked again). Returns the rows of this question set."""
    done = {r["query_id"]: r for r in read_results(out_file)}
    todo = [r for r in rows if r.get("query_id") not in done]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    for n, row in enumerate(todo, 1):
        result = run_question(row, assistant, modes, judge, rubric)
        with out_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")
        done[result["query_id"]] = result
        if on_progress:
            on_progress(len(rows) - len(todo) + n, len(rows))
    return [done[r["query_id"]] for r in rows if r.get("query_id") in done]


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------ aggregation

def summarize(results: Sequence[dict], modes: Sequence[str] = MODES) -> dict:
    """Per mode: rates, verification counts, fabricated, ROUGE-L, latency; and retrieval."""
    summary: dict = {"n": len(results), "modes": {}}
    for mode in modes:
        rows = [r[mode] for r in results if mode in r]
        if not rows:
            continue
        ttft = [r["ttft_s"] for r in rows if r["ttft_s"] is not None]
        summary["modes"][mode] = {
            "n": len(rows),
            "refusal": _rate(r["refused"] for r in rows),
            "cites_any": _rate(r["cites_any"] for r in rows),
            "cites_gold": _rate(r["cites_gold"] for r in rows),
            "verified": {s: sum(r["verified"][s] for r in rows) for s in VERIFY_STATUSES},
            "fabricated": sum(len(r["fabricated"]) for r in rows),
            "answers_with_fabricated": _rate(bool(r["fabricated"]) for r in rows),
            **_attribution_summary(rows),
            "rouge_l": round(fmean(r["rouge_l"] for r in rows), 2),
            "restated": _rate(bool(r.get("restated")) for r in rows),
            "ttft_p50": _pct(ttft, 50), "ttft_p95": _pct(ttft, 95),
            "total_p50": _pct([r["total_s"] for r in rows], 50), "total_p95": _pct([r["total_s"] for r in rows], 95),
        }
    ranks = [r["retrieval"]["gold_rank"] for r in results]
    retrieved = [r for r in results if r["retrieval"]["gold_rank"] is not None]
    summary["retrieval"] = {
        "gold_retrieved": _rate(x is not None for x in ranks),
        "gold_at_1": _rate(x == 1 for x in ranks),
        "abstained": _rate(r["retrieval"]["abstain"] for r in results),
        "gold_retrieved_but_refused": sum(r["rag"]["refused"] for r in retrieved if "rag" in r),
        "gold_retrieved_not_cited": sum(not r["rag"]["cites_gold"] for r in retrieved if "rag" in r),
    }
    judged = [r["judge"] for r in results if "judge" in r]
    if judged:
        summary["judge"] = _judge_summary(judged)
    return summary


def _attribution_summary(rows: Sequence[dict]) -> dict:
    """Over the answers that were checked (rows from before the check have no "attribution"):
    how many, the share of their checked claims that the articles support, and number
    mismatches and negation flips per checked answer."""
    counts = [r["attribution"]["counts"] for r in rows if r.get("attribution")]
    claims, supported = sum(c["claims"] for c in counts), sum(c["supported"] for c in counts)
    per_answer = lambda key: round(sum(c[key] for c in counts) / len(counts), 2) if counts else None  # noqa: E731
    return {"attributed": len(counts), "claims": claims, "supported_claims": supported,
            "supported_rate": round(supported / claims, 4) if claims else None,
            "number_mismatches_per_answer": per_answer("number_mismatches"),
            "negation_flips_per_answer": per_answer("negation_flips")}


def _judge_summary(judged: Sequence[dict]) -> dict:
    """Wins over all judged orders, and each side's mean score per dimension."""
    ok = [j for j in judged if "error" not in j]
    winners = [w for j in ok for w in j["winners"]]
    out: dict = {"n": len(judged), "wins": {w: winners.count(w) for w in ("rag", "raw", "tie", "")},
                 "unreadable": sum(j.get("unreadable", 0) for j in ok) + 2 * (len(judged) - len(ok)),
                 "dimensions": {}}
    for dim in (ok[0]["rag"] if ok else {}):
        for side in ("rag", "raw"):
            vals = [j[side][dim] for j in ok if j[side].get(dim) is not None]
            out["dimensions"].setdefault(dim, {})[side] = round(fmean(vals), 2) if vals else None
    return out


def summary_table(summary: dict) -> str:
    """The summary as a Markdown table (one row per mode), then the retrieval line."""
    head = ("| mode | n | refusals | cites any | cites gold | ok / not_retrieved / not_in_kb / mismatch "
            "| fabricated (answers) | supported claims | number mismatches / answer | negation flips / answer "
            "| restated question | ROUGE-L | first token p50/p95 s | total p50/p95 s |")
    lines = [head, "|" + "---|" * 14]
    for mode, m in summary["modes"].items():
        v = m["verified"]
        lines.append(
            f"| {mode} | {m['n']} | {m['refusal']:.1%} | {m['cites_any']:.1%} | {m['cites_gold']:.1%} | "
            f"{v['ok']} / {v['not_retrieved']} / {v['not_in_kb']} / {v['text_mismatch']} | "
            f"{m['fabricated']} ({m['answers_with_fabricated']:.1%}) | {_supported(m)} | "
            f"{_fmt(m.get('number_mismatches_per_answer'), 2)} | {_fmt(m.get('negation_flips_per_answer'), 2)} | "
            f"{m.get('restated', 0):.1%} | {m['rouge_l']:.2f} | "
            f"{_fmt(m['ttft_p50'])} / {_fmt(m['ttft_p95'])} | {_fmt(m['total_p50'])} / {_fmt(m['total_p95'])} |")
    lines.append("")
    lines.append("Attribution (rag.answer.attribution): claims of each checked answer traced to the articles of its prompt; "
                 "raw is checked against the RAG answer's retrieved articles; refusals and abstentions are not "
                 "checked (" + ", ".join(f"{mode} {m.get('attributed', 0)}/{m['n']}"
                                          for mode, m in summary["modes"].items()) + " answers checked).")
    r = summary["retrieval"]
    if "judge" in summary:
        j = summary["judge"]
        lines.append("")
        w = j["wins"]
        lines.append(f"Judge, {j['n']} questions × 2 orders: RAG preferred {w['rag']}, raw preferred {w['raw']}, "
                     f"tie {w['tie']}, no winner said {w['']}, unreadable {j['unreadable']}.")
        lines.append("")
        lines.append("| dimension | RAG | raw |")
        lines.append("|---|---|---|")
        lines += [f"| {d} | {_fmt(sc['rag'])} | {_fmt(sc['raw'])} |" for d, sc in j["dimensions"].items()]
    lines.append("")
    lines.append(f"Retrieval on the same questions: gold article retrieved {r['gold_retrieved']:.1%}, ranked first "
                 f"{r['gold_at_1']:.1%}, abstained {r['abstained']:.1%}; gold retrieved but RAG refused: "
                 f"{r['gold_retrieved_but_refused']}; gold retrieved but not cited: {r['gold_retrieved_not_cited']}.")
    return "\n".join(lines)


def _rate(flags: Iterable[bool]) -> float:
    flags = list(flags)
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def _pct(values: Sequence[float], p: float) -> float | None:
    return round(percentile(values, p), 2) if values else None


def _fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _supported(m: dict) -> str:
    """"62.5% (25/40)": the share of checked claims that the articles support."""
    if m.get("supported_rate") is None:
        return "—"
    return f"{m['supported_rate']:.1%} ({m['supported_claims']}/{m['claims']})"


def _squash(text: str) -> str:
    return re.sub(r"\s", "", text or "")
