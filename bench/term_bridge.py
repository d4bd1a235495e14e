"""Mine the lay-word → statute-word bridge (rag/retrieval/term_bridge.json) from labelled
question → article pairs.

    python bench/term_bridge.py [--out rag/retrieval/term_bridge.json] [--holdout-only-report]

Source: the `stard_split == "train"` rows of ../shared/data/eval/stard_lecoqa_dev.jsonl (STARD,
oneal2000/STARD, MIT: real consultation questions, gold articles annotated by a legal team),
minus the 10% (seed 0) that bench/train_retrieval.py holds out to choose settings on, so the
same questions can choose the bridge's weight here. Never the labour dev file
(stard_labor_dev.jsonl) and never dev rows.

How: each question and the text of its gold articles are tokenised with the product's
tokenizer (rag.text.LegalTokenizer, so the words are BM25's words). For every
question word w and gold-article word t the script counts the questions where w is in the
question and t in a gold article, and keeps t for w when
  - they co-occur in at least MIN_PAIRS questions and w is in at least MIN_QUESTIONS questions,
  - w is lay wording: it occurs in at most MAX_STATUTE_SHARE of the distinct gold articles
    (情况, 合同 or 可以 are statute words already; bridging from them only adds noise),
  - neither is a number, t is two characters or more and is not w,
  - the pointwise mutual information log(P(t in gold | w in question) / P(t in gold)) is at
    least MIN_PMI (t is that much likelier in the gold article when w is asked),
with its score s = PMI · P(t in gold | w in question) (how strong and how reliable), best
TOP_PER_WORD per word. rag/retrieval/bridge.py turns a question's words into weighted BM25
expansion terms with it.

Does not: learn from article texts alone, or from any question used to measure the
retriever (dev, labour dev).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.retrieval.bridge import BRIDGE_FILE  # noqa: E402
from rag.text import LegalTokenizer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
STARD = SHARED / "eval" / "stard_lecoqa_dev.jsonl"
HOLDOUT, SEED = 0.10, 0  # bench/train_retrieval.py's holdout: the rows kept out of mining
MIN_PAIRS = 3
MIN_QUESTIONS = 3
MIN_PMI = 1.0
MAX_STATUTE_SHARE = 0.05  # a question word in more of the gold articles than this is statute wording
TOP_PER_WORD = 8
_NUMBER = re.compile(r"^[\d.%％]+[年月日天周倍岁]?$")
SOURCE = ("STARD train split (oneal2000/STARD commit bae10e1f358685446c3af4b15e7b94724f83bc9e, MIT), "
          "rows with stard_split == 'train' of ../shared/data/eval/stard_lecoqa_dev.jsonl, minus "
          "bench/train_retrieval.py's 10% holdout (seed 0)")


def split_train(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(mining rows, holdout rows) of the train split, the holdout as bench/train_retrieval.py draws it."""
    train_ids = [r["query_id"] for r in rows if r["stard_split"] == "train"]
    holdout = set(random.Random(SEED).sample(train_ids, int(len(train_ids) * HOLDOUT)))
    train = [r for r in rows if r["stard_split"] == "train"]
    return [r for r in train if r["query_id"] not in holdout], [r for r in train if r["query_id"] in holdout]


def mine(pairs: list[tuple[str, list[str]]], tokenizer: LegalTokenizer, min_pairs: int = MIN_PAIRS,
         min_questions: int = MIN_QUESTIONS, min_pmi: float = MIN_PMI,
         max_statute_share: float = MAX_STATUTE_SHARE, top_per_word: int = TOP_PER_WORD) -> dict[str, list[tuple[str, float]]]:
    """(question, [gold article texts]) pairs → {question word: [(statute word, score), …]}."""
    n = len(pairs)
    in_q, in_gold, both = Counter(), Counter(), Counter()
    statute = Counter()  # distinct gold articles holding a word
    for text in {t for _, texts in pairs for t in texts}:
        statute.update(set(tokenizer.tokens(text)))
    n_articles = max(1, len({t for _, texts in pairs for t in texts}))
    for question, texts in pairs:
        q = {w for w in tokenizer.tokens(question) if not _NUMBER.match(w)}
        gold = {t for text in texts for t in tokenizer.tokens(text) if len(t) >= 2 and not _NUMBER.match(t)}
        in_q.update(q)
        in_gold.update(gold)
        both.update((w, t) for w in q for t in gold if t != w)
    bridge: dict[str, list[tuple[str, float]]] = {}
    for (w, t), c in both.items():
        if c < min_pairs or in_q[w] < min_questions or statute[w] / n_articles > max_statute_share:
            continue
        p_t_given_w = c / in_q[w]
        pmi = math.log(p_t_given_w / (in_gold[t] / n))
        if pmi >= min_pmi:
            bridge.setdefault(w, []).append((t, round(pmi * p_t_given_w, 4)))
    return {w: sorted(ts, key=lambda x: (-x[1], x[0]))[:top_per_word] for w, ts in sorted(bridge.items())}


def stard_pairs(rows: list[dict]) -> list[tuple[str, list[str]]]:
    return [(r["question"], [g["text"] for g in r["gold_articles"] if g.get("text")]) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=BRIDGE_FILE)
    args = ap.parse_args()
    rows = [json.loads(line) for line in STARD.read_text().splitlines() if line.strip()]
    train, holdout = split_train(rows)
    t0 = time.perf_counter()
    bridge = mine(stard_pairs(train), LegalTokenizer())
    out = {
        "about": "Lay-word → statute-word bridge for BM25 query expansion (rag/retrieval/bridge.py), mined by "
                 "bench/term_bridge.py: for a question word, the words its gold articles hold far more often "
                 "than articles in general (score = PMI · P(word in gold | question word)).",
        "source": SOURCE,
        "licence": "MIT (STARD); the statute texts themselves are not protected by copyright (Copyright Law art. 5)",
        "questions": len(train),
        "params": {"min_pairs": MIN_PAIRS, "min_questions": MIN_QUESTIONS, "min_pmi": MIN_PMI,
                   "max_statute_share": MAX_STATUTE_SHARE,
                   "top_per_word": TOP_PER_WORD},
        "bridge": bridge,
    }
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0) + "\n")
    pairs = sum(len(v) for v in bridge.values())
    print(f"{len(train)} questions ({len(holdout)} held out) → {len(bridge)} words, {pairs} pairs in "
          f"{time.perf_counter() - t0:.1f} s → {args.out} ({args.out.stat().st_size >> 10} KiB)")


if __name__ == "__main__":
    main()
