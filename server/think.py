"""Reasoning apart from the answer: Qwen3's `<think>…</think>` in streamed text.

`ThinkSplitter` turns text chunks (tags may be cut anywhere between chunks) into `Delta`s of
kind "reasoning" or "answer"; server/client.py feeds it the `content` of every chunk and
passes a `reasoning_content` field (vLLM/LightLLM reasoning parsers) through as reasoning.
A "note" Delta is the project's own word to the reader beside the model's (rag/answer/
says so when it left articles out of a prompt); no server sends one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Delta:
    kind: Literal["reasoning", "answer", "note"]
    text: str


class ThinkSplitter:
    """Splits streamed text into reasoning (inside <think>…</think>) and answer.

    Tags may arrive split across chunks (`<thi` + `nk>`): a possible tag prefix at the end of
    a chunk is held back until the next chunk decides it. Whitespace at the start and end of
    each section is dropped (Qwen puts "\\n\\n" after </think>). Does not handle templates that open
    <think> in the prompt and stream only the closing tag.
    """

    def __init__(self) -> None:
        self._in_think = False
        self._pending = ""
        self._held = ""
        self._section_started = False

    def feed(self, text: str) -> list[Delta]:
        out: list[Delta] = []
        buf = self._pending + text
        while True:
            tag = THINK_CLOSE if self._in_think else THINK_OPEN
            i = buf.find(tag)
            if i < 0:
                break
            self._emit(buf[:i], out)
            buf = buf[i + len(tag):]
            self._in_think = not self._in_think
            self._section_started, self._held = False, ""
        keep = _tag_prefix_len(buf, THINK_CLOSE if self._in_think else THINK_OPEN)
        self._emit(buf[: len(buf) - keep], out)
        self._pending = buf[len(buf) - keep:]
        return out

    def flush(self) -> list[Delta]:
        out: list[Delta] = []
        self._emit(self._pending, out)
        self._pending = ""
        return out

    def _emit(self, text: str, out: list[Delta]) -> None:
        # Trailing whitespace waits until more text follows in the same section.
        text = self._held + (text if self._section_started else text.lstrip())
        body = text.rstrip()
        self._held = text[len(body):]
        if body:
            self._section_started = True
            out.append(Delta("reasoning" if self._in_think else "answer", body))


def _tag_prefix_len(buf: str, tag: str) -> int:
    """Length of the longest suffix of buf that is a proper prefix of tag."""
    for n in range(min(len(buf), len(tag) - 1), 0, -1):
        if buf.endswith(tag[:n]):
            return n
    return 0
