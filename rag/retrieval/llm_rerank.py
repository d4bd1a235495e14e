"""Listwise reranking by the served model: the top 20 candidate articles, numbered (law, article
number, text shortened to fit the endpoint's window), go to the model in one prompt
(LLM_RERANK_PROMPT in rag/prompts.py); it answers with the numbers in order of relevance.

Owns: the prompt's candidate list, parsing the answer (<think>…</think> stripped; [n] or bare
numbers; duplicates, out-of-range numbers and article numbers like 第47条 ignored), and the
fallback: numbers the model left out keep the retriever's order after the ones it gave, and
an answer with no usable number (or a failed request) keeps the retriever's order, with a
note saying so. No article is ever dropped.

Does not: decide whether to rerank (the endpoint's `llm_rerank` switch, rag/defaults.py),
or score with a cross-encoder (hybrid.py's optional reranker).
"""
from __future__ import annotations

import logging
import re
import time

from rag.prompts import LLM_RERANK_PROMPT, LLM_RERANK_SAMPLING
from rag.text import neutralize
from rag.retrieval.rewrite import Chatter, strip_think
from rag.types import Citation

log = logging.getLogger(__name__)
LLM_RERANK_TOP = 20  # candidates shown to the model
MIN_ARTICLE_CHARS = 60  # each candidate's text is cut to budget / n, within these bounds
MAX_ARTICLE_CHARS = 300
_BRACKETED = re.compile(r"[\[［【(（]\s*(\d{1,3})\s*[\]］】)）]")
_BARE = re.compile(r"(?<![第\d])(\d{1,3})(?![\d条款项])")


def parse_ranking(text: str, n: int) -> list[int]:
    """The 0-based candidate indices the model ranked, in its order: numbers 1..n, first
    occurrence only. Bracketed numbers ([3]) are read when the answer has any, bare ones
    otherwise; 第47条-like article numbers are not candidate numbers."""
    text = strip_think(text)
    found = _BRACKETED.findall(text) or _BARE.findall(text)
    order: list[int] = []
    for number in map(int, found):
        if 1 <= number <= n and number - 1 not in order:
            order.append(number - 1)
    return order


def candidates_text(citations: list[Citation], chars: int) -> str:
    """`[1] 《劳动合同法》第四十七条：text…` lines, each text at most `chars` characters."""
    lines = []
    for i, c in enumerate(citations, start=1):
        text = " ".join(neutralize(c.article.text).split())
        lines.append(f"[{i}] {c.label}：{text[:chars] + '…' if len(text) > chars else text}")
    return "\n".join(lines)


class LlmReranker:
    """`rerank(question, found)` reorders the top LLM_RERANK_TOP non-exact citations of a Retrieval."""

    def __init__(self, llm: Chatter, budget_chars: int, sampling: dict | None = None, top: int = LLM_RERANK_TOP):
        self.llm, self.top = llm, top
        self.article_chars = max(MIN_ARTICLE_CHARS, min(MAX_ARTICLE_CHARS, budget_chars // top))
        self.sampling = {**LLM_RERANK_SAMPLING, **(sampling or {})}

    def order(self, question: str, citations: list[Citation]) -> tuple[list[Citation], str]:
        """The citations in the model's order, and a note ("" when the model ranked them all)."""
        prompt = LLM_RERANK_PROMPT.format(n=len(citations), question=question,
                                          articles=candidates_text(citations, self.article_chars))
        try:
            result = self.llm.chat([{"role": "user", "content": prompt}], **self.sampling)
        except Exception as e:  # noqa: BLE001 - an optional step: keep the retriever's order, say why
            return citations, f"llm_rerank: failed ({type(e).__name__}: {e}); retriever order kept"
        text = getattr(result, "answer", result)
        ranked = parse_ranking(text, len(citations))
        if not ranked:
            return citations, f"llm_rerank: no usable number in {text[:80]!r}; retriever order kept"
        rest = [i for i in range(len(citations)) if i not in ranked]
        out = [citations[i] for i in ranked + rest]
        for c in out[:len(ranked)]:
            c.retrievers = [*c.retrievers, "llm_rerank"]
        note = f"llm_rerank: model ranked {len(ranked)} of {len(citations)}; the rest keep retriever order" if rest else ""
        return out, note

    def rerank(self, question: str, found):
        """`found` (a Retrieval) with its top candidates reordered; exact hits stay first."""
        t0 = time.perf_counter()
        exact = [c for c in found.citations if "exact" in c.retrievers]
        head = found.citations[len(exact):len(exact) + self.top]
        tail = found.citations[len(exact) + self.top:]
        if len(head) > 1:
            head, note = self.order(question, head)
            if note:
                log.warning(note)
                found.notes.append(note)
        found.citations = exact + head + tail
        found.timings_ms["llm_rerank"] = round((time.perf_counter() - t0) * 1000, 2)
        return found
