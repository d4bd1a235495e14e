"""What fits the endpoint's window: the article budget, clipping, token estimates, the messages.

The prompt always fits the server's per-request limit (`token_limit`: prompt + answer tokens,
LightLLM's --max_req_total_len): when the articles would overflow it, the lowest-ranked ones
are left out (the caller says so), instead of letting the server refuse or cut the prompt.
Retrieved text goes in as data: chat-template control tokens are removed first.

Does not: hold the prompt texts (prompts.py) or call a model (generate.py).
"""
from __future__ import annotations

import re

from rag.documents.directives import addresses_reader
from rag.text import neutralize
from rag.prompts import (ANSWER_SAMPLING, DIRECTIVE_PROMPT_NOTE, NO_BASIS_PROMPT, RAG_SYSTEM_PROMPT,
                         RAG_USER_PROMPT, RAW_SYSTEM_PROMPT)
from rag.types import Citation
from server.errors import PromptTooLong

# Context budget: half of what the endpoint's window leaves beside the answer and the prompt's
# own words, in characters (Qwen's tokenizer spends about one token per 1.3 Chinese characters;
# 1.2 errs short). Half, because prefill time grows with the prompt (on 2 CPU cores the 4k
# embedded model reads roughly 50-100 tokens/s) and small models lose the thread in long
# contexts; a 32k window still gets MAX_ARTICLES articles whole.
CHARS_PER_TOKEN = 1.2
PROMPT_OVERHEAD_TOKENS = 400  # system prompt, instructions, question
WINDOW_SHARE = 0.5
MIN_CONTEXT_CHARS = 600
MAX_ARTICLES = 10  # articles in one prompt, however large the window
ARTICLE_SHARE = 3  # a long article takes at most budget/ARTICLE_SHARE characters
CLIP_MARK = "……（下略）"
# The hard limit is counted in tokens, estimated from characters (the client has no tokenizer).
# Measured with Qwen's tokenizer (Qwen2.5 and Qwen3 share it; the 0.5B GGUF's vocabulary) on
# the 757 labor-statute articles: 1.8 Chinese characters per token on average, digits one
# token each. The estimate (0.75 token per Chinese character, 1 per digit, 0.35 per other
# character, times TOKEN_SAFETY, plus the chat template's tokens per message) came out at 1.5x
# the real count on the statutes on average and never below it on anything measured (statutes,
# the prompts, an English question, a line of dates, amounts and a URL: at most 0.98 of it):
# it costs articles only when the server's limit binds.
TOKENS_PER_CJK, TOKENS_PER_DIGIT, TOKENS_PER_OTHER = 0.75, 1.0, 0.35
TOKEN_SAFETY = 1.15
TEMPLATE_TOKENS_PER_MESSAGE = 8
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
_DIGIT_RE = re.compile(r"[0-9]")

def context_chars(context_tokens: int, max_tokens: int = ANSWER_SAMPLING["max_tokens"]) -> int:
    """Characters of article text that fit an endpoint's window beside the answer."""
    free = context_tokens - max_tokens - PROMPT_OVERHEAD_TOKENS
    return max(MIN_CONTEXT_CHARS, int(free * CHARS_PER_TOKEN * WINDOW_SHARE))


def clip_article(text: str, limit: int) -> str:
    """The article's first 款 that fit in `limit` characters, cut at a 款 boundary.

    When even the first 款 is longer, it is cut after its last full sentence within the
    limit (or after its first sentence), never mid-sentence.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for para in (p.strip() for p in text.split("\n")):
        if not para:
            continue
        if sum(len(k) + 1 for k in kept) + len(para) > limit:
            break
        kept.append(para)
    if not kept:
        first = text.split("\n", 1)[0]
        ends = [m.end() for m in re.finditer(r"[。；;！？]", first)]
        within = [e for e in ends if e <= limit]
        kept = [first[:within[-1] if within else (ends[0] if ends else limit)]]
    return "\n".join(kept) + CLIP_MARK


def estimate_tokens(messages: list[dict]) -> int:
    """Prompt tokens of chat messages, estimated on the high side (see TOKENS_PER_CJK)."""
    total = 0.0
    for m in messages:
        text = m["content"] if isinstance(m["content"], str) else ""
        cjk, digits = len(_CJK_RE.findall(text)), len(_DIGIT_RE.findall(text))
        total += (cjk * TOKENS_PER_CJK + digits * TOKENS_PER_DIGIT
                  + (len(text) - cjk - digits) * TOKENS_PER_OTHER) * TOKEN_SAFETY
        total += TEMPLATE_TOKENS_PER_MESSAGE
    return int(total) + 1


def format_articles(citations: list[Citation], budget: int) -> str:
    """Numbered articles, most relevant first, within `budget` characters of article text."""
    return "\n\n".join(_article_blocks(citations, budget))


def _article_blocks(citations: list[Citation], budget: int) -> list[str]:
    parts, used = [], 0
    per_article = max(MIN_CONTEXT_CHARS // 2, budget // ARTICLE_SHARE)
    for n, c in enumerate(citations[:MAX_ARTICLES], start=1):
        a = c.article
        text = DIRECTIVE_PROMPT_NOTE if addresses_reader(a.text) else clip_article(neutralize(a.text), per_article)
        status = f"（{a.status}）" if a.status and a.status not in ("现行有效", "已被修改") else ""
        if parts and used + len(text) > budget:
            break
        parts.append(f"[{n}] {neutralize(c.label)}{status}\n{text}")
        used += len(text)
    return parts


def rag_messages(question: str, citations: list[Citation], abstain: bool = False,
                 budget: int = context_chars(4096), token_limit: int | None = None,
                 max_tokens: int = ANSWER_SAMPLING["max_tokens"]) -> list[dict]:
    """The grounded prompt; with nothing relevant retrieved, a prompt that says so.
    With token_limit, the prompt plus max_tokens fits it (see fit_rag_messages)."""
    return fit_rag_messages(question, citations, abstain, budget, token_limit, max_tokens)[0]


def fit_rag_messages(question: str, citations: list[Citation], abstain: bool = False,
                     budget: int = context_chars(4096), token_limit: int | None = None,
                     max_tokens: int = ANSWER_SAMPLING["max_tokens"]) -> tuple[list[dict], int, int]:
    """(messages, articles kept, articles left out to fit token_limit).

    Articles within the character budget are dropped from the lowest-ranked up until the
    estimated prompt tokens plus max_tokens fit token_limit. Raises PromptTooLong when not
    even the most relevant article (or, without articles, the question) fits.
    """
    def fits(messages: list[dict]) -> bool:
        return token_limit is None or estimate_tokens(messages) + max_tokens <= token_limit

    if abstain or not citations:
        messages = [{"role": "system", "content": RAG_SYSTEM_PROMPT},
                    {"role": "user", "content": NO_BASIS_PROMPT.format(question=question)}]
        if not fits(messages):
            raise PromptTooLong(estimate_tokens(messages), max_tokens, token_limit)
        return messages, 0, 0
    blocks = _article_blocks(citations, budget)
    shown = len(blocks)
    while True:
        articles = "\n\n".join(blocks)
        messages = [{"role": "system", "content": RAG_SYSTEM_PROMPT},
                    {"role": "user", "content": RAG_USER_PROMPT.format(articles=articles, question=question)}]
        if fits(messages):
            return messages, len(blocks), shown - len(blocks)
        if len(blocks) == 1:
            raise PromptTooLong(estimate_tokens(messages), max_tokens, token_limit)
        blocks.pop()


def raw_messages(question: str) -> list[dict]:
    return [{"role": "system", "content": RAW_SYSTEM_PROMPT}, {"role": "user", "content": question}]

