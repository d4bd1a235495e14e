"""Two levers on the hybrid's lists, measured on three grounds in one run (issue 32):

1. **The fusion function.** Today: reciprocal-rank fusion, k = 60, dense : BM25 = 1 : 1 for KBs
   under 20,000 articles (rag/retrieval/hybrid.py). Rows: RRF with other k and dense weights,
   and a convex combination of min–max normalised scores (dense weight a), over the same
   rescored BM25 top 50 and dense top 50 the product fuses.
2. **Dense → BM25 feedback.** Terms of the dense list's top m articles (tf · idf, two or more
   characters, not in the question) added to the BM25 query, the best t at weight w scaled by
   their score, then the product's coverage rescoring and fusion.

    python bench/fusion.py [--corpus DIR|FILE …]

Grounds, each question's lists computed once per process:
- **holdout** (where a setting may be chosen): the 116 STARD train questions that neither the
  shipped embedder nor the term bridge was trained on (bench/train_retrieval.py's seeded 10%),
  the 92 of them with a gold law in the topical KB;
- **labour**: the default 劳动法规 KB as the app builds it, ../shared/data/eval/stard_labor_dev.jsonl
  (measure only);
- **topical dev**: STARD dev questions with a gold law in the topical KB (bench/retrieval.py
  --trained-only --topical builds it; with `--vectors` from bench/gpu_embed.py in 30 s).

A row wins only if it beats the shipped row on all three at Hit@1 and MRR without losing at
Hit@5 or Hit@10.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import SHARED, default_kb_and_rows, score_run, topical_kb_and_rows  # noqa: E402
from train_retrieval import HOLDOUT, SEED  # noqa: E402

from rag.retrieval.coverage import coverage_rescore  # noqa: E402
from rag.retrieval.hybrid import CANDIDATES, RRF_K, HybridRetriever  # noqa: E402
from rag.retrieval.lexical import bm25_of  # noqa: E402

QUESTIONS = SHARED / "eval" / "stard_lecoqa_dev.jsonl"
LABOUR = SHARED / "eval" / "stard_labor_dev.jsonl"
TOPICAL = [SHARED / "lawrefbook" / p for p in ("民法典", "民法商法", "社会法", "刑法/刑法.md")]
K = 10
FEEDBACK = [(m, t, w) for m in (3, 5) for t in (5, 10, 20) for w in (0.1, 0.2, 0.4)]


def rrf(bm25: list[tuple[int, float]], dense: list[tuple[int, float]], k: float = RRF_K,
        dense_weight: float = 1.0) -> list[int]:
    fused: dict[int, float] = {}
    for hits, weight in ((bm25[:CANDIDATES], 1.0), (dense[:CANDIDATES], dense_weight)):
        for rank, (row, _) in enumerate(hits, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return sorted(fused, key=lambda r: -fused[r])


def minmax(hits: list[tuple[int, float]]) -> dict[int, float]:
    if not hits:
        return {}
    hi, lo = hits[0][1], hits[-1][1]
    return {row: (s - lo) / ((hi - lo) or 1.0) for row, s in hits}


def convex(bm25: list[tuple[int, float]], dense: list[tuple[int, float]], a: float) -> list[int]:
    nb, nd = minmax(bm25[:CANDIDATES]), minmax(dense[:CANDIDATES])
    return sorted(set(nb) | set(nd), key=lambda r: -(a * nd.get(r, 0.0) + (1 - a) * nb.get(r, 0.0)))


FUSIONS = {"RRF k60, dense 1 (shipped)": lambda b, d: rrf(b, d)}
FUSIONS |= {f"RRF k{k}, dense 1": (lambda k: lambda b, d: rrf(b, d, k=k))(k) for k in (5, 10, 20, 30)}
FUSIONS |= {f"RRF k{k}, dense {w:g}": (lambda k, w: lambda b, d: rrf(b, d, k=k, dense_weight=w))(k, w)
            for w in (1.5, 2.0) for k in (10, 60)}
FUSIONS |= {f"convex, dense {a:g}": (lambda a: lambda b, d: convex(b, d, a))(a) for a in (0.3, 0.4, 0.5, 0.6, 0.7)}
FUSIONS |= {"dense alone": lambda b, d: [r for r, _ in d], "BM25 + bridge + coverage alone": lambda b, d: [r for r, _ in b]}


def holdout_ids() -> set[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    train = [r["query_id"] for r in rows if r["stard_split"] == "train"]
    return set(random.Random(SEED).sample(train, int(len(train) * HOLDOUT)))


def grounds(corpus: list[Path]) -> dict:
    kb, rows, golds = topical_kb_and_rows(corpus, QUESTIONS, "train")
    held = holdout_ids()
    keep = [i for i, r in enumerate(rows) if r["query_id"] in held]
    out = {"holdout": (kb, [rows[i] for i in keep], [golds[i] for i in keep])}
    out["labour"] = default_kb_and_rows(LABOUR)
    out["topical dev"] = topical_kb_and_rows(corpus, QUESTIONS, "dev")
    return out


def feedback_terms(dense: list[tuple[int, float]], tokens: list[list[str]], idf: dict[str, float],
                   question: set[str], m: int, t: int, w: float) -> list[tuple[str, float]]:
    score: Counter = Counter()
    for row, _ in dense[:m]:
        counts = Counter(x for x in tokens[row] if len(x) >= 2 and not x.isdigit())
        total = sum(counts.values()) or 1
        for term, n in counts.items():
            score[term] += n / total * idf.get(term, 0.0)
    top = [(term, s) for term, s in score.most_common() if term not in question][:t]
    return [(term, w * s / top[0][1]) for term, s in top] if top else []


def measure(kb, rows: list[dict], golds) -> tuple[dict, dict]:
    snap = kb.snapshot()
    articles = snap.articles
    retriever = HybridRetriever(kb, kb.embedder)  # the shipped bridge and coverage weights
    tokens = [kb.tokenizer.tokens(a.text) for a in articles]
    df = Counter(t for row in tokens for t in set(row))
    idf = {t: math.log(1 + (len(articles) - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    bm25 = bm25_of(snap)
    fusion = {name: [] for name in FUSIONS}
    fed = {s: [] for s in FEEDBACK}

    def keyed(rows_: list[int]) -> list[tuple[str, int | None, str]]:
        return [(articles[r].law_title, articles[r].article_no, articles[r].text) for r in rows_[:K]]

    for row in rows:
        q = row["question"]
        q_tokens = kb.tokenizer.tokens(q)
        bridge = retriever.bridge.expand(q_tokens)
        dense = [(int(r), float(s)) for r, s in snap.dense_search(kb.embedder.get_query_embedding(q), CANDIDATES)]

        def lexical(extra: list[tuple[str, float]]) -> list[tuple[int, float]]:
            found, scores, _ = bm25.search_with_best(q_tokens, CANDIDATES, extra)
            return coverage_rescore(q, q_tokens, list(zip(found.tolist(), scores.tolist())), articles)

        shipped = lexical(bridge)
        for name, fuse in FUSIONS.items():
            fusion[name].append(keyed(fuse(shipped, dense)))
        for s in FEEDBACK:
            extra = bridge + feedback_terms(dense, tokens, idf, set(q_tokens), *s)
            fed[s].append(keyed(rrf(lexical(extra), dense)))
    return ({n: score_run(v, golds) for n, v in fusion.items()},
            {f"feedback m={m} t={t} w={w:g}": score_run(v, golds) for (m, t, w), v in fed.items()})


def table(title: str, results: dict[str, dict[str, dict]]) -> None:
    names = list(next(iter(results.values())))
    print(f"\n{title}\n{'row':34s}" + "".join(f"{g + ' H@1/5/10 MRR':>32s}" for g in results))
    for n in names:
        cells = [results[g][n] for g in results]
        print(f"{n:34s}" + "".join(f"{c['hit@1']:.3f}/{c['hit@5']:.3f}/{c['hit@10']:.3f} {c['mrr']:.3f}".rjust(32)
                                   for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, nargs="+", default=TOPICAL)
    args = ap.parse_args()
    fusion, fed = {}, {}
    for name, (kb, rows, golds) in grounds(args.corpus).items():
        print(f"{name}: {len(rows)} questions, KB {kb.name} ({len(kb.articles)} articles)", flush=True)
        fusion[name], fed[name] = measure(kb, rows, golds)
    table("Fusion functions (same rescored BM25 and dense lists)", fusion)
    for g in fed:
        fed[g] = {"no feedback (shipped)": fusion[g]["RRF k60, dense 1 (shipped)"], **fed[g]}
    table("Dense → BM25 feedback, then the shipped fusion", fed)


if __name__ == "__main__":
    main()
