"""Follow-up rewriting: does the standalone query keep the first question's facts?

    python bench/followups.py [--n 20] [--endpoint NAME] [--split dev] [--out FILE]

Two-turn cases: the first turn is a STARD question (../shared/data/eval/stard_lecoqa_dev.jsonl,
rows of --split; those with figures in them first), answered by nobody (its "answer" in the
history is the lawyer's reference answer, cut as the app cuts it); the second turn is one of
FOLLOW_UPS, short elliptical follow-ups written once, generically, never from these questions.
Each case goes through rag.answer.generate.rewrite_question with the served model (the
chat's own rewrite), and is scored:

- figures kept: every number of the first question (amounts, years, months) is in the rewrite;
- subject kept: at least half of the first question's content words (jieba, 2+ characters,
  no stopwords) are in the rewrite;
- fell back: the rewrite was refused by the guard and the concatenation was used.

Prints the rates and the p50 time per rewrite. Does not assert anything.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jieba  # noqa: E402

from rag.answer.generate import figures, rewrite_question  # noqa: E402
from rag.defaults import chat_client_from  # noqa: E402
from rag.eval.metrics import percentile  # noqa: E402
from settings import get_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FOLLOW_UPS = ("那我现在应该怎么办？", "这种情况需要准备哪些证据？", "如果对方不同意呢？", "多长时间内要提出？",
              "能要求多少钱？")
STOP = {"我们", "你们", "他们", "请问", "这个", "那个", "什么", "怎么", "如何", "可以", "是否", "应该", "没有",
        "现在", "已经", "因为", "所以", "但是", "如果", "的话", "这样", "那么", "还是", "一个", "时候"}


def content_words(text: str) -> set[str]:
    return {w for w in jieba.lcut(text) if len(w) >= 2 and w not in STOP and not re.fullmatch(r"[\d.]+", w)}


def cases(split: str, n: int) -> list[tuple[str, str, str]]:
    rows = [json.loads(line) for line in (SHARED / "eval" / "stard_lecoqa_dev.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    rows = [r for r in rows if r.get("stard_split") == split and len(r["question"]) <= 200]
    rows.sort(key=lambda r: not figures(r["question"]))  # stable: questions with figures first
    return [(r["question"], r.get("answer", "")[:200], FOLLOW_UPS[i % len(FOLLOW_UPS)])
            for i, r in enumerate(rows[:n])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--split", choices=("dev", "train"), default="dev")
    ap.add_argument("--endpoint", default=None)
    ap.add_argument("--out", type=Path, default=None, help="one JSON line per case")
    args = ap.parse_args()
    client = chat_client_from(get_settings(), args.endpoint)
    rows, seconds = [], []
    for first, reply, follow in cases(args.split, args.n):
        t0 = time.perf_counter()
        rewrite = rewrite_question([(first, reply)], follow, client)
        seconds.append(time.perf_counter() - t0)
        words = content_words(first)
        rows.append({"first": first, "follow_up": follow, "rewrite": rewrite,
                     "figures_kept": figures(first) <= figures(rewrite),
                     "subject_kept": len(words & content_words(rewrite)) >= len(words) / 2 if words else True,
                     "fell_back": rewrite == f"{first} {follow}"})
        print(f"{'✓' if rows[-1]['figures_kept'] else '✗'}{'✓' if rows[-1]['subject_kept'] else '✗'} "
              f"{follow} → {rewrite[:80]}", flush=True)
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    n = len(rows)
    with_figures = [r for r in rows if figures(r["first"])]
    print(f"\n{n} cases ({args.split}), model {client.endpoint.model}: "
          f"figures kept {sum(r['figures_kept'] for r in with_figures)}/{len(with_figures)} (cases with figures), "
          f"subject kept {sum(r['subject_kept'] for r in rows)}/{n}, "
          f"fell back to the concatenation {sum(r['fell_back'] for r in rows)}/{n}, "
          f"rewrite p50 {percentile(seconds, 50):.1f} s")


if __name__ == "__main__":
    main()
