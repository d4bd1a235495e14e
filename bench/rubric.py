"""Correctness rubric (issue 33 item 1): are the answers right, not only cited?

    python bench/rubric.py blind  ANSWERS.jsonl --items ITEMS.jsonl --key KEY.json
    python bench/rubric.py judge  ANSWERS.jsonl --out JUDGE.jsonl [--limit N]
    python bench/rubric.py report ANSWERS.jsonl --ratings bench/rubric_ratings.jsonl [--judge JUDGE.jsonl]

ANSWERS is bench/answers.py's output (modes rag,raw). `blind` writes every RAG and raw answer
as one item in a shuffled order (seed 0) without its side, beside the question and the gold
articles' text; the side of each item goes to a separate KEY file, opened only after rating.
A rater gives each item a verdict:
  (a) relies on a governing article (gold, or one the rater shows governs);
  (b) its conclusion answers the question asked and agrees with that article;
  (c) no wrong figure, rate, deadline or party.
  acceptable = a, b and c hold; partly = b holds but a or c fails, or the conclusion is
  right but hedged or incomplete; wrong = b fails (wrong conclusion, no conclusion, or the
  question not answered).
`judge` runs rag/eval/judge.py on each RAG/raw pair in both orders (judge_swapped) with the
default endpoint. `report` prints acceptable/partly/wrong per side with Wilson 95% intervals,
the false-confidence rate (answers rated wrong that the page shows with neither a ❌ nor a
warning: every answer re-checked through the chat's own checks) and, with --judge, Cohen's
kappa between the human verdicts and the judge's 结论正确 score (fixed before looking: ≥ 7
acceptable, ≥ 4 partly, else wrong).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer.conversation import Reply, Turn, check_answers  # noqa: E402
from rag.answer.verify import needs_basis, verify_citations  # noqa: E402
from rag.review.stats import cohen_kappa, wilson  # noqa: E402

SIDES = ("rag", "raw")
VERDICTS = ("acceptable", "partly", "wrong")
SHARED = ROOT.parent / "shared" / "data"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gold_of(questions: Path) -> dict[str, list[dict]]:
    return {str(r["query_id"]): r.get("gold_articles", []) for r in read_jsonl(questions)}


def blind(rows: list[dict], gold: dict[str, list[dict]], items: Path, key: Path) -> None:
    pool = [(r, side) for r in rows for side in SIDES if r.get(side, {}).get("answer")]
    random.Random(0).shuffle(pool)
    with items.open("w", encoding="utf-8") as out:
        for n, (r, side) in enumerate(pool, start=1):
            out.write(json.dumps({"item": n, "query_id": r["query_id"], "question": r["question"],
                                  "gold": [f"《{g['law']}》{g['article_cn']}：{g.get('text', '')}"
                                           for g in gold.get(str(r["query_id"]), [])],
                                  "answer": r[side]["answer"]}, ensure_ascii=False) + "\n")
    key.write_text(json.dumps({n: side for n, (_, side) in enumerate(pool, start=1)}), encoding="utf-8")
    print(f"{len(pool)} items → {items}; sides → {key}")


def page_warnings(row: dict, assistant) -> dict[str, list[str]]:
    """What the chat page would show beside each answer of `row`: the question retrieved again
    through the same retriever, the answers checked by the chat's own checks."""
    found = assistant.retriever.retrieve(row["question"], k=assistant.top_k)
    turn = Turn(question=row["question"], citations=found.citations, abstain=found.abstain,
                rag=Reply(answer=row["rag"]["answer"]), raw=Reply(answer=row.get("raw", {}).get("answer", "")))
    turn.verified = verify_citations(turn.rag.answer, assistant.kb, turn.citations)
    check_answers(turn, assistant.kb.embedder)
    shown: dict[str, list[str]] = {}
    for side, reply in (("rag", turn.rag), ("raw", turn.raw)):
        marks = []
        if found.abstain:
            marks.append("abstain")
        if reply.restated:
            marks.append("restated")
        counts = reply.attribution.counts() if reply.attribution else {}
        if counts.get("number_mismatches") or counts.get("negation_flips"):
            marks.append("❌ figure/negation")
        if side == "rag":
            if any(v.status != "ok" for v in turn.verified):
                marks.append("❌ citation")
            if reply.relevance and reply.relevance.weak:
                marks.append("weak articles")
            if reply.answer and needs_basis(reply.answer, turn.verified, turn.citations, turn.abstain):
                marks.append("no basis")
        shown[side] = marks
    return shown


def judge_rows(rows: list[dict], out: Path, limit: int) -> None:
    from rag.defaults import chat_client_from
    from rag.eval.judge import LEGAL_QA_RUBRIC, judge_swapped
    from settings import get_settings

    done = {r["query_id"] for r in read_jsonl(out)} if out.exists() else set()
    client = chat_client_from(get_settings())
    todo = [r for r in rows if r["query_id"] not in done and r["rag"].get("answer") and r.get("raw", {}).get("answer")]
    for r in todo[:limit or None]:
        try:
            v = judge_swapped(r["question"], r["rag"]["answer"], r["raw"]["answer"], client, LEGAL_QA_RUBRIC)
            rec = {"query_id": r["query_id"], "rag": v.scores_a, "raw": v.scores_b, "winners": v.winners,
                   "errors": v.errors}
        except Exception as e:  # noqa: BLE001 - an unreadable judge reply is recorded, the run goes on
            rec = {"query_id": r["query_id"], "error": str(e)[:300]}
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(r["query_id"], rec.get("rag", {}).get("结论正确"), rec.get("raw", {}).get("结论正确"), rec.get("error", ""))


def judge_verdict(score: float | None) -> str | None:
    if score is None:
        return None
    return "acceptable" if score >= 7 else "partly" if score >= 4 else "wrong"


def report(rows: list[dict], ratings: list[dict], judged: list[dict] | None) -> None:
    from rag.defaults import assistant_from, chat_client_from, open_kb, library_from
    from settings import Settings, get_settings

    by = {(str(r["query_id"]), r["side"]): r["verdict"] for r in ratings}
    print(f"{len(by)} answers rated by hand ({len({q for q, _ in by})} questions)\n")
    print("| side | n | acceptable | 95% CI | partly | wrong |")
    print("|---|---|---|---|---|---|")
    share = {}
    for side in SIDES:
        v = Counter(verdict for (q, s), verdict in by.items() if s == side)
        n = sum(v.values())
        lo, hi = wilson(v["acceptable"], n)
        share[side] = v["acceptable"] / n if n else 0.0
        print(f"| {side} | {n} | {v['acceptable']} ({share[side]:.0%}) | {lo:.0%}–{hi:.0%} | {v['partly']} | {v['wrong']} |")
    if share["raw"]:
        print(f"\nRAG acceptable / raw acceptable = {share['rag'] / share['raw']:.2f}×")
    else:
        print(f"\nRAG acceptable / raw acceptable: — (raw has none acceptable; RAG {share['rag']:.0%})")

    base = get_settings()
    s = Settings(data_dir=base.data_dir / "bench" / "app", models_dir=base.models_dir)
    kb = open_kb(library_from(s), s.default_kb, s.default_kb)
    assistant = assistant_from(s, kb, chat_client_from(s))  # the chat's own retriever and checks
    wrong, silent, fine, flagged = Counter(), Counter(), Counter(), Counter()
    for r in rows:
        if not any((str(r["query_id"]), side) in by for side in SIDES):
            continue
        marks = page_warnings(r, assistant)
        for side in SIDES:
            verdict = by.get((str(r["query_id"]), side))
            if verdict == "wrong":
                wrong[side] += 1
                silent[side] += not marks[side]
            elif verdict:
                fine[side] += 1
                flagged[side] += bool(marks[side])
            if verdict:
                print(f"  {verdict:10} {side} {r['query_id']}: page shows {marks[side] or 'nothing'}")
    for side in SIDES:
        print(f"false confidence, {side}: {silent[side]} of {wrong[side]} wrong answers shown with neither ❌ nor a "
              f"warning ({silent[side] / wrong[side]:.0%})" if wrong[side] else f"false confidence, {side}: no wrong answer")
    for side in SIDES:
        if fine[side]:
            print(f"warned although not wrong, {side}: {flagged[side]} of {fine[side]} acceptable or partly answers "
                  f"({flagged[side] / fine[side]:.0%})")
    total = sum(wrong.values())
    if total:
        print(f"false confidence, both sides: {sum(silent.values())} of {total} ({sum(silent.values()) / total:.0%})")
    if judged:
        human, machine = [], []
        for j in judged:
            for side in SIDES:
                h = by.get((str(j["query_id"]), side))
                m = judge_verdict((j.get(side) or {}).get("结论正确"))
                if h and m:
                    human.append(h), machine.append(m)
        kappa = cohen_kappa(human, machine)
        agree = sum(a == b for a, b in zip(human, machine))
        print(f"\njudge vs human on {len(human)} answers: agreement {agree}/{len(human)}, Cohen's kappa "
              f"{'—' if kappa is None else f'{kappa:.2f}'}")
        print("confusion (human → judge):", dict(Counter(zip(human, machine))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("blind", "judge", "report"))
    ap.add_argument("answers", type=Path)
    ap.add_argument("--questions", type=Path, default=SHARED / "eval" / "stard_labor_dev.jsonl")
    ap.add_argument("--items", type=Path)
    ap.add_argument("--key", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--ratings", type=Path, default=ROOT / "bench" / "rubric_ratings.jsonl")
    ap.add_argument("--judge", type=Path)
    args = ap.parse_args()
    rows = read_jsonl(args.answers)
    if args.step == "blind":
        blind(rows, gold_of(args.questions), args.items, args.key)
    elif args.step == "judge":
        judge_rows(rows, args.out, args.limit)
    else:
        report(rows, read_jsonl(args.ratings), read_jsonl(args.judge) if args.judge else None)


if __name__ == "__main__":
    main()
