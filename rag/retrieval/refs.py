"""Cross-references between articles: 第四十六条 → 第四十七条, 依照本法第三十九条, 《劳动法》第四十四条.

When an article shown to the model points at another one for the rule it applies (the
amount, the conditions, the procedure), the answer needs that article too. `references`
reads the 第X条 mentions of an article's text (Chinese or Arabic numerals, 之一 articles,
、/和/至 lists, 第X条第X款第X项; rag.documents.statutes.find_article_mentions does the parsing) and
resolves them: 本法 or no law named → the article's own law; a named law → a law of the KB.
`follow_references` adds, after the retrieved articles, the ones the top retrieved articles
point at, each once, marked with the retriever name "ref".

Does not: follow 前款/前两款 (the same article, already shown), references to laws the KB
lacks, or references of referenced articles (one hop).
"""
from __future__ import annotations

import re

from rag.documents.statutes import find_article_mentions
from rag.types import Article, Citation

FOLLOW_FROM = 3  # references are read from the best FOLLOW_FROM retrieved articles
MAX_FOLLOWED = 2  # at most this many articles are added
REF = "ref"  # Citation.retrievers entry of a followed article
MAX_RANGE = 10  # 第三十六条至第四十条: the articles in between too, when the range is this short
_RANGE_GAP = re.compile(r"^[\s　]*(?:至|到|—|－|-|~)[\s　]*$")


def references(article: Article, laws: set[str]) -> list[tuple[str, int, int]]:
    """(law_short, article_no, suffix) of each article this one points at, in text order,
    without itself and without laws outside `laws` (the KB's law short names)."""
    from rag.text import resolve_law

    out: list[tuple[str, int, int]] = []
    mentions = find_article_mentions(article.text)
    for n, m in enumerate(mentions):
        law = article.law_short if m.law is None else resolve_law(m.law, laws)
        if not law:
            continue
        keys = [(law, m.article_no, m.suffix)]
        prev = mentions[n - 1] if n else None
        if (prev and not m.suffix and not prev.suffix and (prev.law or article.law_short) == (m.law or article.law_short)
                and _RANGE_GAP.match(article.text[prev.span[1]:m.span[0]])
                and 0 < m.article_no - prev.article_no <= MAX_RANGE):
            keys = [(law, no, 0) for no in range(prev.article_no + 1, m.article_no + 1)]
        for key in keys:
            if key != (article.law_short, article.article_no, article.article_suffix) and key not in out:
                out.append(key)
    return out


def follow_references(citations: list[Citation], snap, from_top: int = FOLLOW_FROM,
                      limit: int = MAX_FOLLOWED) -> list[Citation]:
    """Articles the best `from_top` citations point at and that are not among them, in the
    order found (the best citation's references first), at most `limit`; `snap` is the KB
    snapshot the citations came from (its `laws` and `lookup`)."""
    top = citations[:from_top]
    have = {c.article.article_id for c in top}
    out: list[Citation] = []
    for c in top:
        if c.article.article_no is None:
            continue
        for law, no, suffix in references(c.article, snap.laws):
            target = snap.lookup(law, no, suffix)
            if target is None or target.article_id in have:
                continue
            have.add(target.article_id)
            out.append(Citation(target, 0.0, [REF]))
            if len(out) >= limit:
                return out
    return out
