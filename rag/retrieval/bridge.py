"""The term bridge: statute words that a question's lay words imply, learned from labelled pairs.

People ask in lay words (被开除, 借钱不还, 房东); statutes say 解除劳动合同, 借款, 出租人. The
bridge (term_bridge.json beside this module, mined by bench/term_bridge.py from STARD's train
questions and their gold articles; source and licence recorded in the file) maps a question
word to the statute words its gold articles hold far more often than articles in general.

`TermBridge.expand(tokens)` gives the expansion terms of a tokenised question, each with a
weight below the question's own terms (BM25 weights them: rag/retrieval/lexical.Bm25Index.search),
so a bridged word can lift an article that also matches the question, but cannot outrank one
that matches the question's own words better.

Does not: hold hand-written rules, or expand the dense query (the embedder learned its own
bridge from the same data).
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

BRIDGE_FILE = Path(__file__).with_name("term_bridge.json")
MAX_TERMS = 16  # expansion terms per question, best first (8 and 16 tried on the STARD train holdout)
WEIGHT = 0.3  # BM25 weight of the best expansion term (a question term weighs 1)


class TermBridge:
    """{question word: [(statute word, score), …]} → weighted expansion terms of a question."""

    def __init__(self, table: dict[str, list[tuple[str, float]]], max_terms: int = MAX_TERMS,
                 weight: float = WEIGHT):
        self.table = table
        self.max_terms = max_terms
        self.weight = weight

    @classmethod
    def load(cls, path: Path = BRIDGE_FILE, **options) -> "TermBridge":
        return cls(_read(path), **options)

    def expand(self, tokens: list[str]) -> list[tuple[str, float]]:
        """(term, weight) for the statute words the question's tokens imply and it does not
        contain: each term scored by its best source word, the best max_terms kept, weights
        scaled so the best is `weight`."""
        asked = set(tokens)
        best: dict[str, float] = {}
        for w in asked:
            for term, score in self.table.get(w, ()):
                if term not in asked and score > best.get(term, 0.0):
                    best[term] = score
        top = sorted(best.items(), key=lambda x: -x[1])[:self.max_terms]
        if not top:
            return []
        scale = self.weight / top[0][1]
        return [(term, round(score * scale, 4)) for term, score in top]


@cache
def _read(path: Path) -> dict[str, list[tuple[str, float]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {w: [(t, float(s)) for t, s in terms] for w, terms in data["bridge"].items()}
