"""Query rewriting by the served model (HyDE): the user's everyday question turned into a short
statute-like passage in legal terms; retrieval runs on the original and on the rewrite and the
two ranked lists are merged by reciprocal-rank fusion (as hybrid.py merges BM25 and dense).

Owns: the rewrite request (QUERY_REWRITE_PROMPT in rag/prompts.py), cleaning what the
model wrote (<think>…</think>, quotes, labels, length), and the fusion of the two lists, where
the original's exact hits stay first and every article the original found stays in the list.
A failed or empty rewrite leaves the original retrieval as it was, with a note saying why.

Does not: decide whether to rewrite (the endpoint's `query_rewrite` switch, rag/defaults.py),
or rewrite a follow-up into a standalone question (rag/answer/generate.rewrite_question).
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable, Protocol

from rag.prompts import QUERY_REWRITE_PROMPT, QUERY_REWRITE_SAMPLING
from rag.retrieval.hybrid import RRF_K
from rag.types import Citation

log = logging.getLogger(__name__)
REWRITE_WEIGHT = 1.0  # the rewrite's list against the original's 1
MAX_REWRITE_CHARS = 300  # longer output is cut here (the prompt asks for 100 characters)
_THINK_RE = re.compile(r"<think>.*?</think>", re.S)
_LABEL_RE = re.compile(r"^\s*(条文式表述|改写|改写后|表述|答)\s*[:：]\s*")


class Chatter(Protocol):
    """What the step needs from a client: server.client.ChatClient satisfies it."""

    def chat(self, messages: list[dict], **sampling): ...


def strip_think(text: str) -> str:
    """Model output without reasoning: <think>…</think> blocks, and anything before a lone
    </think> (templates that open <think> in the prompt)."""
    text = _THINK_RE.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.replace("<think>", "").strip()


def clean_rewrite(text: str) -> str:
    """The passage the model wrote, or "" when there is none."""
    text = _LABEL_RE.sub("", strip_think(text)).strip().strip("“”\"'「」")
    return " ".join(text.split())[:MAX_REWRITE_CHARS]


class QueryRewriter:
    """`rewrite(question)` asks the model once; `expand` retrieves with the rewrite too and fuses."""

    def __init__(self, llm: Chatter, sampling: dict | None = None):
        self.llm = llm
        self.sampling = {**QUERY_REWRITE_SAMPLING, **(sampling or {})}

    def rewrite(self, question: str) -> str:
        """The rewrite; raises what the client raises (ServerError)."""
        prompt = QUERY_REWRITE_PROMPT.format(question=question)
        result = self.llm.chat([{"role": "user", "content": prompt}], **self.sampling)
        return clean_rewrite(getattr(result, "answer", result))

    def expand(self, question: str, found, search: Callable[[str], object]):
        """`found`: the original's Retrieval; `search(query)` retrieves another query from the
        same snapshot. Returns `found` with fused citations, the rewrite and its timing noted."""
        t0 = time.perf_counter()
        try:
            rewritten = self.rewrite(question)
        except Exception as e:  # noqa: BLE001 - an optional step: keep the original, say why
            return _note(found, f"query_rewrite: failed ({type(e).__name__}: {e}); original query only", t0)
        found.timings_ms["rewrite"] = _ms(t0)
        if not rewritten or rewritten == question:
            return _note(found, "query_rewrite: empty or unchanged rewrite; original query only")
        found.rewritten = rewritten
        other = search(rewritten)
        for c in other.citations:
            c.retrievers = [*c.retrievers, "rewrite"]
        found.citations = fuse([found.citations, other.citations], [1.0, REWRITE_WEIGHT])
        found.notes.append(f"query_rewrite: {rewritten}")
        return found


def fuse(lists: list[list[Citation]], weights: list[float]) -> list[Citation]:
    """Reciprocal-rank fusion of citation lists by article id. The first list's exact hits lead,
    in their order and with their score, outside the fusion (the rest of it ranks from 1);
    ties keep the article seen first (the first list's); a fused citation carries every
    retriever that found it."""
    exact = [c for c in lists[0] if "exact" in c.retrievers]
    scores: dict[str, float] = {}
    merged = {c.article.article_id: Citation(c.article, c.score, list(c.retrievers)) for c in exact}
    first = set(merged)  # insertion order below: the tie-break
    for n, (citations, weight) in enumerate(zip(lists, weights)):
        ranked = [c for c in citations if c.article.article_id not in first] if n == 0 else citations
        for rank, c in enumerate(ranked, start=1):
            key = c.article.article_id
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + rank)
            if key in merged:
                merged[key].retrievers = list(dict.fromkeys([*merged[key].retrievers, *c.retrievers]))
            else:
                merged[key] = Citation(c.article, 0.0, list(c.retrievers))
    seen = {key: i for i, key in enumerate(merged)}
    rest = sorted((k for k in merged if k not in first), key=lambda k: (-scores[k], seen[k]))
    for k in rest:
        merged[k].score = scores[k]
    return [merged[k] for k in first_in_order(exact)] + [merged[k] for k in rest]


def first_in_order(citations: list[Citation]) -> list[str]:
    return list(dict.fromkeys(c.article.article_id for c in citations))


def _note(found, note: str, t0: float | None = None):
    log.warning(note)
    found.notes.append(note)
    if t0 is not None:
        found.timings_ms["rewrite"] = _ms(t0)
    return found


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
