"""How long the model will read a RAG prompt before its first token: the prompt's size times
the seconds per prompt token measured on this server's earlier answers (time to first token /
prompt tokens), so the chat can say 「正在阅读 8 条法条（约 14 秒）」.

Prompt tokens are budget.estimate_tokens' count (the client has no tokenizer). Observed and
predicted in that same unit, its bias (it counts ~1.45x the real tokens of a RAG prompt)
cancels once one answer was measured; before that, DEFAULT_SECONDS_PER_TOKEN, converted from
the real-token rate in docs/latency.md.

Does not: time anything itself (rag/assistant.py reports each answer's first token), or
decide the wording (ui/chat.py).
"""
from __future__ import annotations

import statistics
import threading
from collections import deque
from dataclasses import dataclass

from rag.answer.budget import context_chars, estimate_tokens, fit_rag_messages
from rag.prompts import ANSWER_SAMPLING
from rag.types import Citation

# docs/latency.md: ~17 ms per real prompt token, the portable AVX2 build on 2 cores.
DEFAULT_MS_PER_TOKEN = 17.0
# estimate_tokens / real tokens, measured with the 1.5B GGUF's tokenizer on three RAG prompts of
# the test KB (1595/1108, 1562/1071, 970/704 on 2026-12-08): 1.38-1.46.
ESTIMATE_OVER_REAL = 1.45
DEFAULT_SECONDS_PER_TOKEN = DEFAULT_MS_PER_TOKEN / 1000 / ESTIMATE_OVER_REAL
SAMPLES = 5  # the median of the last answers: one that waited behind another does not swing it
MIN_OBSERVED_TOKENS = 200  # a shorter prompt's first token is mostly fixed overhead, not reading


@dataclass(frozen=True)
class Reading:
    """The RAG prompt about to be read: its articles, estimated tokens and reading time."""
    articles: int
    tokens: int
    seconds: float
    measured: bool  # from this server's answers; False: the default rate


class ReadingClock:
    """Seconds per prompt token of one server, learned from its answers in this process.
    Thread-safe: the app's sessions share one clock per endpoint."""

    def __init__(self, default: float = DEFAULT_SECONDS_PER_TOKEN, samples: int = SAMPLES):
        self.default = default
        self._rates: deque[float] = deque(maxlen=samples)
        self._lock = threading.Lock()

    @property
    def measured(self) -> bool:
        with self._lock:
            return bool(self._rates)

    def seconds_per_token(self) -> float:
        with self._lock:
            return statistics.median(self._rates) if self._rates else self.default

    def observe(self, tokens: int, first_token_s: float) -> None:
        """One answer: `tokens` prompt tokens read before the first token came `first_token_s`
        seconds after the request. Short prompts say little about reading speed: ignored."""
        if tokens >= MIN_OBSERVED_TOKENS and first_token_s > 0:
            with self._lock:
                self._rates.append(first_token_s / tokens)

    def estimate(self, tokens: int, articles: int = 0) -> Reading:
        measured = self.measured
        return Reading(articles, tokens, tokens * self.seconds_per_token(), measured)


def rag_prompt_size(question: str, citations: list[Citation], llm, abstain: bool = False,
                    budget: int = context_chars(4096), token_limit: int | None = None,
                    **sampling) -> tuple[int, int]:
    """(estimated tokens, articles kept) of the prompt that rag.answer.generate.answer sends for
    the same arguments (the same fit to the client's token limit)."""
    limit = token_limit if token_limit is not None else getattr(llm, "token_limit", None)
    max_tokens = sampling.get("max_tokens") or ANSWER_SAMPLING["max_tokens"]
    messages, kept, _ = fit_rag_messages(question, citations, abstain, budget, limit, max_tokens)
    return estimate_tokens(messages), kept
