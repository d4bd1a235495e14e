"""Streams the grounded answer, the raw answer, and the standalone rewrite of a follow-up.

Retrieval (rag/retrieval/) and generation are separate steps: the caller passes citations in,
and any chat client (server/client.py) streams the messages that budget.py builds.

Does not: retrieve, or check what the model wrote (verify.py, attribution.py).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import Protocol

from rag.answer.budget import context_chars, fit_rag_messages, raw_messages
from rag.prompts import ANSWER_SAMPLING, REWRITE_PROMPT, TRIMMED_NOTE
from rag.types import Citation
from server.think import Delta

HISTORY_TURNS = 3  # earlier turns used to rewrite a follow-up question
MAX_REWRITE_CHARS = 200


class ChatStreamer(Protocol):
    """What generation needs from a client: server.client.ChatClient satisfies it."""

    def stream(self, messages: list[dict], **sampling) -> Iterator: ...




def answer(question: str, citations: list[Citation], llm: ChatStreamer, abstain: bool = False,
           budget: int = context_chars(4096), token_limit: int | None = None, **sampling) -> Iterator:
    """Stream the grounded answer (Delta objects from the client). `question` is the
    standalone one: a follow-up rewritten by `rewrite_question`.

    token_limit: prompt + answer tokens the server takes (default: the client's
    `token_limit`, from its endpoint); articles that would overflow it are left out, and the
    stream then starts with a "note" Delta (TRIMMED_NOTE) for the reader."""
    sampling = {**ANSWER_SAMPLING, **sampling}
    limit = token_limit if token_limit is not None else getattr(llm, "token_limit", None)
    max_tokens = sampling.get("max_tokens") or ANSWER_SAMPLING["max_tokens"]
    messages, kept, dropped = fit_rag_messages(question, citations, abstain, budget, limit, max_tokens)
    stream = llm.stream(messages, **sampling)
    if not dropped:
        return stream
    return chain([Delta("note", TRIMMED_NOTE.format(limit=limit, dropped=dropped, kept=kept))], stream)


def raw(question: str, llm: ChatStreamer, **sampling) -> Iterator:
    """Stream what the model says without retrieval."""
    return llm.stream(raw_messages(question), **{**ANSWER_SAMPLING, **sampling})



def figures(text: str) -> set[str]:
    """The numbers a question states (amounts, years, months, days), as written in digits."""
    return set(re.findall(r"\d+(?:\.\d+)?", re.sub(r"(?<=\d)[,，](?=\d{3})", "", text)))


def rewrite_question(history: list[tuple[str, str]], question: str, llm: ChatStreamer) -> str:
    """A follow-up ("那如果是试用期呢？") rewritten into a standalone query for retrieval.

    history holds (question, answer) pairs. Without history, or when the model's rewrite is
    unusable (empty, too long, or it drops a figure the user gave: an amount, a date), the
    question is returned with the last question prepended, which still retrieves the right
    context and keeps the user's facts.
    """
    if not history:
        return question
    turns = "\n".join(f"用户：{q}\n助手：{a[:200]}" for q, a in history[-HISTORY_TURNS:])
    prompt = REWRITE_PROMPT.format(history=turns, question=question)
    text = "".join(d.text for d in llm.stream([{"role": "user", "content": prompt}],
                                               temperature=0.0, max_tokens=120)
                   if getattr(d, "kind", "answer") == "answer")
    text = text.strip().strip("“”\"'「」").splitlines()[0].strip() if text.strip() else ""
    if not text or len(text) > MAX_REWRITE_CHARS or not figures(history[-1][0]) | figures(question) <= figures(text):
        return f"{history[-1][0]} {question}"
    return text

