"""How long the model will read (rag/answer/reading.py): the default rate before any answer, the
rate learned from this server's first tokens, and the prompt size the Assistant reports being the
prompt it sends."""
from __future__ import annotations

import pytest

from rag.answer.budget import estimate_tokens
from rag.answer.reading import DEFAULT_SECONDS_PER_TOKEN, MIN_OBSERVED_TOKENS, ReadingClock
from rag.assistant import Articles
from rag.defaults import assistant_from
from server.client import ChatClient
from settings import Settings
from tests.fakes import FakeOpenAI

SETTINGS = Settings(endpoints={"fake": {"base_url": "http://127.0.0.1:9/v1"}}, rerank_model=None)
QUESTION = "加班费怎么算"
READ_S = 0.6  # the fake server's wait before its first token


def test_before_any_answer_the_default_rate_is_used():
    reading = ReadingClock().estimate(1000, articles=8)
    assert not reading.measured and reading.articles == 8
    assert reading.seconds == pytest.approx(1000 * DEFAULT_SECONDS_PER_TOKEN)
    # docs/latency.md: ~17 ms per real token; an 840-token prompt (~1,200 estimated) read in ~15 s
    assert 10 < ReadingClock().estimate(1200).seconds < 20


def test_the_rate_is_learned_from_first_tokens_and_one_outlier_does_not_swing_it():
    clock = ReadingClock()
    for first_token_s in (10.0, 12.0, 60.0):  # the third waited behind another answer
        clock.observe(1000, first_token_s)
    assert clock.measured
    assert clock.seconds_per_token() == pytest.approx(0.012)
    assert clock.estimate(500).seconds == pytest.approx(6.0)


def test_short_prompts_and_missing_first_tokens_teach_nothing():
    clock = ReadingClock()
    clock.observe(MIN_OBSERVED_TOKENS - 1, 5.0)  # mostly fixed overhead, not reading
    clock.observe(1000, 0.0)
    assert not clock.measured and clock.seconds_per_token() == DEFAULT_SECONDS_PER_TOKEN


def test_the_assistant_reports_the_prompt_it_sends_and_learns_from_its_first_token(labor_kb):
    clock = ReadingClock()
    with FakeOpenAI(mode="slow_answer", delay=READ_S) as fake:
        assistant = assistant_from(SETTINGS, labor_kb, ChatClient(fake.endpoint, "fake", timeout=10, retries=0),
                                   reading=clock)
        first = next(e for e in assistant.ask(QUESTION) if isinstance(e, Articles))
        for _ in assistant.ask(QUESTION):  # consumed to the end: the answer's first token is timed
            pass
        second = next(e for e in assistant.ask(QUESTION) if isinstance(e, Articles))
    sent = fake.requests[-1]["messages"]
    assert first.reading.tokens == estimate_tokens(sent)  # the prompt actually sent, not a guess at it
    n = first.reading.articles  # the articles in the prompt, numbered [1]..[n]
    assert 1 <= n <= len(first.citations) and f"[{n}]" in sent[1]["content"] and f"[{n + 1}]" not in sent[1]["content"]
    assert not first.reading.measured and second.reading.measured
    assert second.reading.seconds >= READ_S * 0.9  # learned from this server: it waits READ_S before answering


def test_without_a_model_there_is_no_reading_time(labor_kb):
    events = list(assistant_from(SETTINGS, labor_kb, None).ask(QUESTION))
    assert next(e for e in events if isinstance(e, Articles)).reading is None
