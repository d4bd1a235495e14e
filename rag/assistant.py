"""One road for a question: rewrite a follow-up → retrieve → answer (RAG, and the raw model
beside it when comparing) → verify citations and attribute sentences → a finished `Turn`.

The chat page, `python -m rag ask`, the answer benchmark (rag/eval/answers.py, bench/answers.py,
the evaluation page) and the blind-review generator all ask through `Assistant.ask`, so they
send the same messages to the same model and see the same retriever. rag/defaults.py builds
the one Assistant from settings and an endpoint (`assistant_from`); nobody else builds a
retriever or a client for answering.

`ask` yields events in order: `Query` (the standalone query retrieval used), `Articles` (what
was retrieved), `Delta`s per side as they stream (the sides' streams are read in threads and
interleaved), then `Done` with the `Turn`. `run` consumes them and returns the Turn.

Does not: render anything, read settings, or pick endpoints (the edges do).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from rag.answer.conversation import Reply, Turn, check_answers
from rag.answer.generate import answer, raw, rewrite_question
from rag.answer.reading import Reading, ReadingClock, rag_prompt_size
from rag.answer.verify import verify_citations
from rag.types import Citation
from server.errors import PromptTooLong, ServerError
from server.think import Delta

SIDES = ("rag", "raw")
NO_MODEL = "没有可用的模型服务，只显示检索结果。 / No model server is available; only the retrieved articles are shown."


@dataclass(frozen=True)
class Query:
    """The standalone query retrieval used (a follow-up rewritten with its history)."""
    text: str


@dataclass(frozen=True)
class Articles:
    """What retrieval returned for the query (shown before the model starts reading), and how
    long the model will read the RAG prompt (None without a model or a RAG side)."""
    citations: list[Citation]
    abstain: bool
    notes: list[str] = field(default_factory=list)
    reading: Reading | None = None


@dataclass(frozen=True)
class Streamed:
    """One piece of one side's answer ("rag" or "raw"): a server.think.Delta, or the error
    that ended that side's stream (the text so far is kept)."""
    side: str
    delta: Delta | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class Done:
    turn: Turn


Event = Query | Articles | Streamed | Done


@dataclass(frozen=True)
class Sampling:
    """Keyword arguments for one answer: RAG (with its article budget) and raw (without)."""
    rag: dict
    raw: dict


class Assistant:
    """Finished parts in: a KB, its retriever, a chat client (None when no server could be
    reached: retrieval still runs), the sampling per <think> switch, top_k; `reading`, the
    server's prefill speed learned from earlier answers (the app keeps one per endpoint)."""

    def __init__(self, kb, retriever, llm, sampling: Callable[[bool], Sampling], top_k: int,
                 endpoint_name: str = "", llm_error: str = "",
                 describe_error: Callable[[Exception], str] = str, reading: ReadingClock | None = None):
        self.kb, self.retriever, self.llm, self.top_k = kb, retriever, llm, top_k
        self.reading = reading or ReadingClock()
        self.sampling, self.endpoint_name = sampling, endpoint_name
        self.llm_error = llm_error or NO_MODEL
        self.describe_error = describe_error  # the page's words for a server error (a crash in Chinese)

    def run(self, question: str, history: Sequence[tuple[str, str]] = (), compare: bool = False,
            **kwargs) -> Turn:
        """`ask` consumed: the finished Turn."""
        return next(e.turn for e in self.ask(question, history, compare, **kwargs) if isinstance(e, Done))

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), compare: bool = False,
            thinking: bool = False, articles: Sequence[Citation] | None = None,
            sides: Sequence[str] | None = None, parallel: bool = True) -> Iterator[Event]:
        """Events of one question. `history` holds (query, answer) of earlier turns on this KB.
        `articles` replaces retrieval (the benchmark's oracle mode: the gold articles);
        `sides` defaults to ("rag", "raw") when comparing, else ("rag",). `parallel=False`
        answers the sides one after the other, each timed from its own start (benchmarks)."""
        sides = tuple(sides or (SIDES if compare else SIDES[:1]))
        turn = Turn(question=question, query=question, kb=self.kb.name, endpoint=self.endpoint_name)
        t0 = time.perf_counter()
        if self.llm is not None and history:
            try:
                turn.query = rewrite_question(list(history), question, self.llm)
            except ServerError:  # the last question keeps the follow-up's context for retrieval
                turn.query = f"{history[-1][0]} {question}"
        turn.seconds["rewrite"] = round(time.perf_counter() - t0, 3)
        yield Query(turn.query)
        t0 = time.perf_counter()
        if articles is None:
            found = self.retriever.retrieve(turn.query, k=self.top_k)
            turn.citations, turn.abstain, notes = found.citations, found.abstain, list(found.notes)
        else:
            turn.citations, turn.abstain, notes = list(articles), False, []
        turn.seconds["retrieve"] = round(time.perf_counter() - t0, 3)
        reading = self._reading(turn, thinking) if self.llm is not None and "rag" in sides else None
        yield Articles(turn.citations, turn.abstain, notes, reading)
        replies = {side: Reply() for side in sides}
        if self.llm is None:
            for reply in replies.values():
                reply.error = self.llm_error
        else:
            starts = self._starts(turn, thinking)
            if parallel:
                yield from self._stream(starts, replies)
            else:
                for side, reply in replies.items():
                    yield from self._stream(starts, {side: reply})
        turn.rag = replies.get("rag", Reply())
        turn.raw = replies.get("raw")
        if reading and not thinking and turn.rag.first_token_s and not turn.rag.error:
            self.reading.observe(reading.tokens, turn.rag.first_token_s)
        turn.verified = verify_citations(turn.rag.answer, self.kb, turn.citations)
        check_answers(turn, self.kb.embedder)
        yield Done(turn)

    def _reading(self, turn: Turn, thinking: bool) -> Reading | None:
        """How long the RAG prompt will take to read (None when it cannot fit: answer() says so)."""
        try:
            tokens, kept = rag_prompt_size(turn.query, turn.citations, self.llm, turn.abstain,
                                           **self.sampling(thinking).rag)
        except PromptTooLong:
            return None
        return self.reading.estimate(tokens, kept)

    def _starts(self, turn: Turn, thinking: bool) -> dict[str, Callable[[], Iterator[Delta]]]:
        options = self.sampling(thinking)
        # Both sides answer the standalone question: a follow-up rewritten with its history.
        return {"rag": lambda: answer(turn.query, turn.citations, self.llm, turn.abstain, **options.rag),
                "raw": lambda: raw(turn.query, self.llm, **options.raw)}

    def _stream(self, starts: dict[str, Callable[[], Iterator[Delta]]],
                replies: dict[str, Reply]) -> Iterator[Streamed]:
        """The sides' streams, each read in its own thread (only network work there), their
        deltas interleaved as they come; each Reply filled and timed."""
        events, t0 = queue.Queue(), time.perf_counter()

        def pump(side: str) -> None:
            try:
                for delta in starts[side]():
                    events.put(Streamed(side, delta))
                events.put(Streamed(side))
            except Exception as e:  # noqa: BLE001 - kept in the Reply, never a traceback
                events.put(Streamed(side, error=e))

        for side in replies:
            threading.Thread(target=pump, args=(side,), daemon=True).start()
        running = len(replies)
        while running:
            event: Streamed = events.get()
            reply = replies[event.side]
            if event.delta is None:
                running -= 1
                reply.total_s = round(time.perf_counter() - t0, 3)
                if event.error is not None:
                    reply.failure = event.error
                    reply.error = self.describe_error(event.error) if isinstance(event.error, ServerError) \
                        else f"意外错误 / unexpected error: {event.error!r}"
                yield event
                continue
            add(reply, event.delta, t0)
            yield event


def add(reply: Reply, delta: Delta, t0: float) -> None:
    """One delta into a reply: answer text (timing the first token), reasoning, or a note."""
    if delta.kind == "note":
        reply.note += delta.text
    elif delta.kind == "reasoning":
        reply.reasoning += delta.text
    elif delta.text:
        if reply.first_token_s is None:
            reply.first_token_s = round(time.perf_counter() - t0, 3)
        reply.answer += delta.text
