"""ChatClient: one OpenAI-compatible chat endpoint (LightLLM, llama.cpp, vLLM...) over httpx.

Streams Server-Sent Events, splits Qwen3 `<think>…</think>` (or a `reasoning_content` field)
from the answer, builds image messages for vision models, retries a refused connection a
bounded number of times before the first token, and turns every failure into a typed
ServerError (server/errors.py). Does not start servers (server/embedded.py does) and does not
resolve endpoint names (server/endpoints.py does). Safe to share between threads: it keeps
no per-request state.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import httpx

from server.errors import (
    BadResponse,
    EndpointNotConfigured,
    NotAVisionModel,
    RequestRejected,
    ServerLoading,
    ServerNotRunning,
    ServerTimeout,
    StreamInterrupted,
)
from settings import Endpoint

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
RETRY_BACKOFF_S = 0.5  # times the attempt number: 0.5 s, 1 s, ...
HEALTH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
# Sampling keys the OpenAI API defines; anything else (top_k, repetition_penalty, min_p) is a
# server extension and travels in the same JSON body, as the openai package's extra_body does.
OPENAI_SAMPLING = {"temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty",
                   "frequency_penalty", "n", "logit_bias"}


@dataclass(frozen=True)
class Delta:
    kind: Literal["reasoning", "answer"]
    text: str


@dataclass(frozen=True)
class ChatResult:
    answer: str
    reasoning: str = ""


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


def image_message(text: str, image: bytes, mime: str) -> dict:
    """A user message with text and one image as a base64 data URL (OpenAI vision format)."""
    url = f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    return {"role": "user", "content": [{"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def _has_image(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list)
               and any(p.get("type") == "image_url" for p in m["content"]) for m in messages)


class ChatClient:
    """Chat with one endpoint. `name` is the endpoint's name in settings, used in messages."""

    def __init__(self, endpoint: Endpoint, name: str, timeout: float = 120.0, retries: int = 2):
        if not endpoint.base_url:
            raise EndpointNotConfigured(
                f"Endpoint '{name}' has no base_url. Resolve it first with "
                "server.endpoints.resolve (the embedded server starts on demand)."
            )
        self.endpoint, self.name = endpoint, name
        self.timeout, self.retries = timeout, retries
        self.base_url = endpoint.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(
            timeout, connect=min(timeout, CONNECT_TIMEOUT_S)))

    # -- public API -------------------------------------------------------------------------
    def stream(self, messages: list[dict], **sampling: Any) -> Iterator[Delta]:
        """Yield reasoning and answer deltas as they arrive; raise a ServerError on failure."""
        if self.endpoint.kind != "vision" and _has_image(messages):
            raise NotAVisionModel(self.name)
        body = {"model": self.endpoint.model, "messages": messages, "stream": True,
                **_sampling_body(sampling)}
        return self._stream(body)

    def chat(self, messages: list[dict], **sampling: Any) -> ChatResult:
        answer, reasoning = [], []
        for d in self.stream(messages, **sampling):
            (answer if d.kind == "answer" else reasoning).append(d.text)
        return ChatResult("".join(answer), "".join(reasoning))

    def health(self) -> str:
        """"ok" when the server is ready; raises ServerNotRunning / ServerLoading / ServerTimeout."""
        root = self.base_url.removesuffix("/v1")
        try:
            r = self._http.get(f"{root}/health", timeout=HEALTH_TIMEOUT_S)
            if r.status_code == 404:  # servers without /health (llama.cpp's Python server)
                r = self._http.get(f"{self.base_url}/models", timeout=HEALTH_TIMEOUT_S)
        except httpx.ConnectError:
            raise ServerNotRunning(self.base_url) from None
        except httpx.TimeoutException:
            raise ServerTimeout(self.base_url, HEALTH_TIMEOUT_S) from None
        except httpx.TransportError as e:
            raise BadResponse(self.base_url, f"health check failed: {e}") from None
        if r.status_code == 503:
            raise ServerLoading(self.base_url)
        if r.status_code != 200:
            raise RequestRejected(self.base_url, r.status_code, r.text[:200])
        return "ok"

    def as_llamaindex_llm(self, context_window: int = 4096, **sampling: Any):
        """The same endpoint as a LlamaIndex LLM (OpenAILike), for LlamaIndex pipelines."""
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(model=self.endpoint.model, api_base=self.base_url,
                          api_key=self.endpoint.api_key or "not-needed", is_chat_model=True,
                          context_window=context_window, timeout=self.timeout,
                          max_retries=self.retries, **sampling)

    def close(self) -> None:
        self._http.close()

    # -- internals --------------------------------------------------------------------------
    def _stream(self, body: dict) -> Iterator[Delta]:
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            try:
                with self._http.stream("POST", url, json=body) as response:
                    _check_status(response, self.base_url)
                    yield from self._read_events(response)
                return
            except (httpx.ConnectError, httpx.RemoteProtocolError, _NothingReceived) as e:
                # Nothing was yielded yet, so a retry cannot duplicate text.
                if attempt == self.retries:
                    if isinstance(e, httpx.ConnectError):
                        raise ServerNotRunning(self.base_url) from None
                    raise StreamInterrupted(self.base_url, "", cause=str(e.__cause__ or e)) from None
                time.sleep(RETRY_BACKOFF_S * (attempt + 1))
            except httpx.TimeoutException:
                raise ServerTimeout(self.base_url, self.timeout) from None

    def _read_events(self, response: httpx.Response) -> Iterator[Delta]:
        splitter, answer, reasoning = ThinkSplitter(), [], []
        finished = False
        lines = response.iter_lines()
        while True:
            try:
                line = next(lines, None)
            except (httpx.TransportError, httpx.StreamError) as e:
                timed_out = isinstance(e, httpx.TimeoutException)
                if not answer and not reasoning:
                    if timed_out:
                        raise ServerTimeout(self.base_url, self.timeout) from None
                    raise _NothingReceived() from e
                cause = "no next token in time" if timed_out else str(e)
                raise StreamInterrupted(self.base_url, "".join(answer), "".join(reasoning),
                                        cause) from None
            if line is None:
                break
            chunk = _parse_event(line, self.base_url)
            if chunk is None:
                continue
            if chunk == "[DONE]":
                finished = True
                break
            deltas, done = _chunk_deltas(chunk, splitter, self.base_url)
            finished = finished or done
            for d in deltas:
                (answer if d.kind == "answer" else reasoning).append(d.text)
                yield d
        for d in splitter.flush():
            (answer if d.kind == "answer" else reasoning).append(d.text)
            yield d
        if not finished:
            raise StreamInterrupted(self.base_url, "".join(answer), "".join(reasoning),
                                    "the stream ended without a finish reason")


class _NothingReceived(Exception):
    """The connection broke before the first token: safe to retry."""


def _sampling_body(sampling: dict) -> dict:
    body = {k: v for k, v in sampling.items() if v is not None}
    if "repetition_penalty" in body:  # llama.cpp's server calls it repeat_penalty
        body.setdefault("repeat_penalty", body["repetition_penalty"])
    return body


def _check_status(response: httpx.Response, url: str) -> None:
    if response.status_code == 200:
        return
    if response.status_code == 503:
        raise ServerLoading(url)
    response.read()
    try:
        err = response.json().get("error", response.text)
        message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        message = response.text
    raise RequestRejected(url, response.status_code, message[:300])


def _parse_event(line: str, url: str) -> dict | str | None:
    """One SSE line → a JSON chunk, "[DONE]", or None for blank lines, comments and fields."""
    if not line.strip() or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
        return None
    if not line.startswith("data:"):
        raise BadResponse(url, f"expected a 'data:' event, got {line[:80]!r}")
    data = line[5:].strip()
    if data == "[DONE]":
        return data
    try:
        chunk = json.loads(data)
    except ValueError:
        raise BadResponse(url, f"event is not JSON: {data[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise BadResponse(url, f"event is not a JSON object: {data[:80]!r}")
    return chunk


def _chunk_deltas(chunk: dict, splitter: ThinkSplitter, url: str) -> tuple[list[Delta], bool]:
    """Deltas in one chat.completion.chunk, and whether it carries a finish reason."""
    if "error" in chunk:
        err = chunk["error"]
        raise RequestRejected(url, 500, err.get("message", str(err)) if isinstance(err, dict) else str(err))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise BadResponse(url, "a chunk has no 'choices'")
    deltas: list[Delta] = []
    done = False
    for choice in choices[:1]:
        delta = choice.get("delta") or {}
        if delta.get("reasoning_content"):
            deltas.append(Delta("reasoning", delta["reasoning_content"]))
        if delta.get("content"):
            deltas.extend(splitter.feed(delta["content"]))
        done = choice.get("finish_reason") is not None
    return deltas, done


# -- CLI: python -m server health|chat [--endpoint NAME] ------------------------------------
def add_cli(subparsers) -> None:
    h = subparsers.add_parser("health", help="check that an LLM endpoint answers")
    h.add_argument("--endpoint", help="endpoint name in settings (default: default_endpoint)")
    h.set_defaults(run=_cli_health)
    c = subparsers.add_parser("chat", help="stream one answer from an LLM endpoint")
    c.add_argument("question")
    c.add_argument("--endpoint", help="endpoint name in settings (default: default_endpoint)")
    c.add_argument("--max-tokens", type=int, default=512)
    c.add_argument("--temperature", type=float, default=None)
    c.add_argument("--show-reasoning", action="store_true")
    c.set_defaults(run=_cli_chat)


def _cli_health(args) -> int:
    from server import embedded
    from server.endpoints import resolve
    from server.errors import ServerError
    from settings import get_settings

    s = get_settings()

    def embedded_if_running() -> Endpoint:  # health reports; it does not start servers
        found = embedded.running(s.embedded_model, embedded.state_dir(s))
        if found is None:
            raise ServerError(f"The embedded LLM server ({s.embedded_model}) is not running. "
                              "Start it with `python -m server embedded`.")
        return found

    name = args.endpoint or s.default_endpoint
    endpoint = resolve(name, s.endpoints, embedded_if_running)
    print(f"{name} ({endpoint.base_url}, model {endpoint.model}): "
          f"{ChatClient(endpoint, name, timeout=s.request_timeout_s).health()}")
    return 0


def _cli_chat(args) -> int:
    from server import embedded
    from server.endpoints import resolve
    from settings import get_settings

    s = get_settings()
    name = args.endpoint or s.default_endpoint
    client = ChatClient(resolve(name, s.endpoints, embedded.starter(s)), name,
                        timeout=s.request_timeout_s)
    kind = None
    for d in client.stream([{"role": "user", "content": args.question}],
                           max_tokens=args.max_tokens, temperature=args.temperature):
        if d.kind == "reasoning" and not args.show_reasoning:
            continue
        if d.kind != kind and args.show_reasoning:
            print(f"\n[{d.kind}]", flush=True)
        kind = d.kind
        print(d.text, end="", flush=True)
    print()
    return 0
