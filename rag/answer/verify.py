"""Checks of what the model wrote: each cited article by lookup, refusals, when to show the basis.

`verify_citations` checks every article the answer cites against the knowledge base, so the
UI can show what is grounded and what is not. When the model still refuses or cites nothing
it may rely on, `needs_basis` tells the caller to show the retrieved articles itself.

Does not: trust the model's citations (verification is by lookup, never by asking the model),
or judge whether a sentence is supported (attribution.py).
"""
from __future__ import annotations

import re

from rag.documents.statutes import find_article_mentions
from rag.kb import KnowledgeBase
from rag.text import resolve_law
from rag.types import Citation, VerifiedCitation

QUOTE_MIN_CHARS = 8  # a quoted span this long must appear in the cited article
# What a model says when it declines to answer from the articles (counted by the benchmark,
# and the app then shows the retrieved articles itself).
REFUSAL_RE = re.compile(
    r"不足以(回答|解答|判断)|无法(回答|解答)|无法(给出|提供)[^。\n]{0,6}(答案|回答|解答)|(没有|未)(提供|找到|检索到|包含)[^。\n]{0,12}(相关|有关)?的?(法条|条文|规定|法律)|"
    r"(法条|条文)[^。\n]{0,10}(没有|未)(涉及|规定|提及)|与(本|该|这个)?问题无关")
REFUSAL_WINDOW = 150  # a refusal shows in the conclusion; a caveat further down is not one


def is_refusal(answer_text: str) -> bool:
    """True when the answer declines ("不足以回答", "没有提供相关法条"…) or is empty."""
    head = answer_text.strip()[:REFUSAL_WINDOW]
    return not head or bool(REFUSAL_RE.search(head))


def needs_basis(answer_text: str, verified: list[VerifiedCitation], citations: list[Citation],
                abstain: bool = False) -> bool:
    """True when retrieval found articles but the answer refused or cites none of them as
    verified: the caller then shows the most relevant articles as the basis to read."""
    if abstain or not citations:
        return False
    return is_refusal(answer_text) or not any(v.status == "ok" for v in verified)


def verify_citations(answer_text: str, kb: KnowledgeBase, retrieved: list[Citation]) -> list[VerifiedCitation]:
    """Check each article the answer cites: ok | not_retrieved | not_in_kb | text_mismatch.

    A mention without a law (第47条, 本法第四十六条) takes the law named last before it in
    the answer, else the only law among the retrieved articles.
    """
    laws = kb.law_names()
    retrieved_ids = {c.article.article_id for c in retrieved}
    retrieved_laws = {c.article.law_short for c in retrieved if c.article.law_short}
    out: list[VerifiedCitation] = []
    seen: set[tuple[str, int, int]] = set()
    context_law = next(iter(retrieved_laws)) if len(retrieved_laws) == 1 else None
    mentions = find_article_mentions(answer_text)
    quoted_texts = [_squash(c.article.text) for c in retrieved]
    for n, m in enumerate(mentions):
        if _inside_quoted_article(answer_text, m.span, quoted_texts):
            continue  # 本法第三十八条 inside a copied article is the statute's own cross-reference
        written = m.law
        law = resolve_law(written, laws) if written else context_law
        if written and law:
            context_law = law
        key = (law or written or "?", m.article_no, m.suffix)
        if key in seen:
            continue
        seen.add(key)
        article = kb.lookup(law, m.article_no, m.suffix) if law else None
        if article is None:
            status = "not_in_kb"
        elif article.article_id not in retrieved_ids:
            status = "not_retrieved"
        elif _misquoted(answer_text[m.span[1]:mentions[n + 1].span[0] if n + 1 < len(mentions) else None],
                        article.text):
            status = "text_mismatch"
        else:
            status = "ok"
        out.append(VerifiedCitation(
            law=law or written or "", article_cn=m.article_cn, article_no=m.article_no, mention=m.raw,
            status=status, article=article, repealed=bool(article and "废止" in article.status)))
    return out


_QUOTE_RE = re.compile(r"[“「\"]([^”」\"]+)[”」\"]")


def _squash(text: str) -> str:
    return re.sub(r"[\s　，。；、,.;：:“”「」\"]", "", text)


def _misquoted(segment: str, article_text: str) -> bool:
    """True when the text after a mention (up to the next mention) quotes words that are not
    in the cited article: a quote of another article under this one's number."""
    article = _squash(article_text)
    return any(len(q) >= QUOTE_MIN_CHARS and _squash(q) not in article for q in _QUOTE_RE.findall(segment))


def _inside_quoted_article(text: str, span: tuple[int, int], article_texts: list[str]) -> bool:
    """True when the line holding the mention is copied from a retrieved article."""
    start = text.rfind("\n", 0, span[0]) + 1
    end = text.find("\n", span[1])
    line = _squash(text[start:end if end >= 0 else None])
    return len(line) >= QUOTE_MIN_CHARS and any(line in article for article in article_texts)

