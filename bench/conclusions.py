"""How often rag.answer.conclusion calls a lawyer's answer a restatement of the question.

    python bench/conclusions.py

The lawyers' reference answers of STARD (../shared/data/eval/stard_lecoqa_dev.jsonl) answer
their questions, so every one flagged is a false flag. RESTATE_SHARE and VERDICT were picked on
the train rows; the dev rows are reported. Also prints the share of the conclusion's character
pairs that come from the question, at several thresholds, for the record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answer.conclusion import conclusion_of, pairs, restated_share, restates_question  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
GREETINGS = ("您好，", "你好，")


def lawyer_answer(row: dict) -> str:
    text = row["answer"]
    for g in GREETINGS:
        text = text.replace(g, "", 1)
    return text


def main() -> None:
    rows = [json.loads(line) for line in (SHARED / "eval" / "stard_lecoqa_dev.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    for split in ("train", "dev"):
        part = [r for r in rows if r.get("stard_split") == split and isinstance(r.get("answer"), str)]
        flagged = [r for r in part if restates_question(lawyer_answer(r), r["question"])]
        shares = [restated_share(c, r["question"]) for r in part
                  if len(pairs(c := conclusion_of(lawyer_answer(r)))) >= 4]
        above = "  ".join(f"≥{t}: {sum(s >= t for s in shares) / len(shares):.1%}" for t in (0.6, 0.7, 0.8, 0.9))
        print(f"{split}: {len(flagged)}/{len(part)} lawyer answers called restatements "
              f"({len(flagged) / len(part):.2%}); share of pairs from the question {above}")
        for r in flagged:
            print(f"   {r['question'][:40]} → {conclusion_of(lawyer_answer(r))[:40]}")


if __name__ == "__main__":
    main()
