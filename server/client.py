"""ChatClient: one OpenAI-compatible chat endpoint (LightLLM, llama.cpp, vLLM...), on the
`openai` SDK, over one server or several replicas of it.

The SDK sends the request, parses the Server-Sent Events and applies the timeouts (connect
and per read: no next token within `timeout` ends the answer). What stays the project's own:
splitting `<think>…</think>` (and a `reasoning_content` field) from the answer
(server/think.py), spreading requests over replicas with failover before the first token
(server/replicas.py), and turning every failure into a typed ServerError whose message says
what to do (server/errors.py). The SDK's own retries are off: they would re-send a request
that timed out (a second generation on a busy server) and cannot move to another replica.

Retries happen only before the first token, so no text is ever shown twice: a refused or
dropped connection is retried (another replica first, `retries` extra attempts in all), a
503 (loading) or a non-OpenAI answer moves on to another replica but never back to the same
one, a timeout or a rejected request (4xx) is raised at once. Once text has arrived, a broken
stream raises StreamInterrupted with the partial answer.

A client built with a `lifecycle` (the embedded server's starter) asks it, after a refused or
broken connection, whether the server died (ServerCrashed: its exit signal and log tail,
never "start it" advice). Before any text it restarts the server once and sends the request
again, the answer starting with a "note" Delta that says so; a second death in that request
raises ServerCrashed with again=True. After text, the partial answer is kept in the error and
the next request restarts the server.

Every request carries max_tokens (the endpoint's when the caller sets none: LightLLM's own
default is 16 tokens). Does not start servers (server/embedded.py does), does not resolve
endpoint names (server/endpoints.py does, and builds the client for a name: `client_for`) and
does not size prompts (rag/answer/ does).
Safe to share between threads: per-request state lives in the request's generator.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import httpx
import openai

from server.errors import (
    BadResponse,
    EndpointNotConfigured,
    NotAVisionModel,
    RequestRejected,
    ServerCrashed,
    ServerError,
    ServerLoading,
    ServerNotRunning,
    ServerTimeout,
    StreamInterrupted,
)
from server.replicas import Replicas
from server.think import THINK_CLOSE, THINK_OPEN, Delta, ThinkSplitter  # noqa: F401 (re-exported)
from settings import Endpoint

RETRY_BACKOFF_S = 0.5  # times the number of rounds over the replicas: 0.5 s, 1 s, ...
HEALTH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
NO_API_KEY = "not-needed"  # the SDK insists on a key; local servers ignore it
# Sampling keys the OpenAI API defines; anything else (top_k, repetition_penalty, min_p,
# chat_template_kwargs) is a server extension and travels in the SDK's extra_body.
OPENAI_SAMPLING = {"temperature", "top_p", "max_tokens", "seed", "stop", "presence_penalty",
                   "frequency_penalty", "n", "logit_bias"}
# The note an answer starts with when its server died before answering and was restarted.
RESTARTED_NOTE = "（提示：模型服务在回答前崩溃（{cause}），已自动重启并重新提问。）\n\n"


class ServerLifecycle(Protocol):
    """Who runs the server behind a client (server/embedded.py's EmbeddedStarter)."""

    def diagnose(self, url: str, during: str = "answering") -> ServerCrashed | None:
        """The server at url died: how; None when it did not (or nothing is known)."""

    def restart(self) -> Endpoint:
        """A live server for the same endpoint (possibly at another URL)."""


@dataclass(frozen=True)
class ChatResult:
    answer: str
    reasoning: str = ""


def image_message(text: str, image: bytes, mime: str) -> dict:
    """A user message with text and one image as a base64 data URL (OpenAI vision format)."""
    url = f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    return {"role": "user", "content": [{"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def with_image_tags(messages: list[dict], tag: str) -> list[dict]:
    """Messages whose image parts are announced by `tag` in their text (one per image, first):
    what LightLLM's qwen2_vl needs to place an image (see Endpoint.image_tag)."""
    out = []
    for m in messages:
        parts = m.get("content")
        n_images = sum(p.get("type") == "image_url" for p in parts) if isinstance(parts, list) else 0
        if n_images:
            texts = [p for p in parts if p.get("type") == "text"]
            first = texts[0]["text"] if texts else ""
            head = {"type": "text", "text": tag * n_images + first}
            rest = [p for p in parts if p is not (texts[0] if texts else None)]
            m = {**m, "content": [head, *rest]}
        out.append(m)
    return out


def _has_image(messages: list[dict]) -> bool:
    return any(isinstance(m.get("content"), list)
               and any(p.get("type") == "image_url" for p in m["content"]) for m in messages)


class _Crashed(Exception):
    """The server died before anything reached the caller."""

    def __init__(self, error: ServerCrashed):
        super().__init__(str(error))
        self.error = error


class _Failover(Exception):
    """Nothing reached the caller yet: another attempt cannot duplicate text.

    `error` is what the caller gets if no attempt succeeds; `cooldown`: skip this replica for
    a while; `again`: this replica may be retried within the same request."""

    def __init__(self, error: ServerError, cooldown: bool, again: bool):
        super().__init__(str(error))
        self.error, self.cooldown, self.again = error, cooldown, again


class ChatClient:
    """Chat with one endpoint. `name` is the endpoint's name in settings, used in messages."""

    def __init__(self, endpoint: Endpoint, name: str, timeout: float = 120.0, retries: int = 2,
                 lifecycle: ServerLifecycle | None = None):
        if not endpoint.replica_urls:
            raise EndpointNotConfigured(
                f"Endpoint '{name}' has no base_url. Build its client with "
                "server.endpoints.client_for (the embedded server starts on demand)."
            )
        self.name, self.timeout, self.retries, self.lifecycle = name, timeout, retries, lifecycle
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)))
        self._sdk: dict[str, openai.OpenAI] = {}
        self._lock = threading.Lock()  # a restart repoints the client for every thread at once
        self._point_at(endpoint)

    def _point_at(self, endpoint: Endpoint) -> None:
        urls = endpoint.replica_urls
        for url in urls:  # old URLs stay: a request in flight may still use them
            self._sdk.setdefault(url, openai.OpenAI(
                base_url=url, api_key=endpoint.api_key or NO_API_KEY, max_retries=0,
                timeout=self._http.timeout, http_client=self._http))
        self.endpoint = endpoint
        self.base_url = urls[0]  # the first replica: LlamaIndex and messages about the endpoint
        self.replicas = Replicas(urls)

    @property
    def token_limit(self) -> int:
        """Prompt + answer tokens one request may hold (rag/answer/ trims prompts to it)."""
        return self.endpoint.request_tokens

    # -- public API -------------------------------------------------------------------------
    def stream(self, messages: list[dict], **sampling: Any) -> Iterator[Delta]:
        """Yield reasoning and answer deltas as they arrive; raise a ServerError on failure."""
        if self.endpoint.kind != "vision" and _has_image(messages):
            raise NotAVisionModel(self.name)
        if self.endpoint.image_tag and _has_image(messages):
            messages = with_image_tags(messages, self.endpoint.image_tag)
        return self._stream(messages, *_request_options(sampling, self.endpoint.max_tokens))

    def chat(self, messages: list[dict], **sampling: Any) -> ChatResult:
        answer, reasoning = [], []
        for d in self.stream(messages, **sampling):
            if d.kind != "note":  # notes are for a reader (a restart), not part of the reply
                (answer if d.kind == "answer" else reasoning).append(d.text)
        return ChatResult("".join(answer), "".join(reasoning))

    def health(self) -> str:
        """"ok" when the server is ready; raises ServerNotRunning / ServerLoading / ServerTimeout.

        With replicas: "ok" when all answer, "ok (1 of 2 replicas ready; ...)" when some do,
        the first replica's error when none does."""
        errors: dict[str, ServerError] = {}
        for url in self.replicas.urls:
            try:
                self._health(url)
            except ServerNotRunning as e:
                crash = self.lifecycle.diagnose(url, "check") if self.lifecycle else None
                errors[url] = crash or e
            except ServerError as e:
                errors[url] = e
        if len(errors) == len(self.replicas.urls):
            raise next(iter(errors.values()))
        if not errors:
            return "ok"
        down = "; ".join(f"{url}: {type(e).__name__}" for url, e in errors.items())
        ready = len(self.replicas.urls) - len(errors)
        return f"ok ({ready} of {len(self.replicas.urls)} replicas ready; {down})"

    def as_llamaindex_llm(self, context_window: int = 4096, **sampling: Any):
        """The same endpoint as a LlamaIndex LLM (OpenAILike), for LlamaIndex pipelines.
        It talks to the first replica only: LlamaIndex has no failover of its own."""
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(model=self.endpoint.model, api_base=self.base_url,
                          api_key=self.endpoint.api_key or NO_API_KEY, is_chat_model=True,
                          context_window=context_window, timeout=self.timeout,
                          max_retries=self.retries, **sampling)

    def close(self) -> None:
        self._http.close()

    # -- internals --------------------------------------------------------------------------
    def _health(self, url: str) -> None:
        root = url.removesuffix("/v1")
        headers = {"Authorization": f"Bearer {self.endpoint.api_key}"} if self.endpoint.api_key else {}
        try:
            r = self._http.get(f"{root}/health", headers=headers, timeout=HEALTH_TIMEOUT_S)
            if r.status_code == 404:  # servers without /health (llama.cpp's Python server)
                r = self._http.get(f"{url}/models", headers=headers, timeout=HEALTH_TIMEOUT_S)
        except httpx.ConnectError:
            raise ServerNotRunning(url) from None
        except httpx.TimeoutException:
            raise ServerTimeout(url, HEALTH_TIMEOUT_S) from None
        except httpx.TransportError as e:
            raise BadResponse(url, f"health check failed: {e}") from None
        if r.status_code == 503:
            raise ServerLoading(url)
        if r.status_code != 200:
            raise RequestRejected(url, r.status_code, r.text[:200])

    def _stream(self, messages: list[dict], options: dict, extra_body: dict) -> Iterator[Delta]:
        """One request; with a lifecycle, a server that died before answering is restarted
        once and asked again."""
        first: ServerCrashed | None = None  # the death this request restarted the server for
        while True:
            replicas, answer, reasoning = self.replicas, [], []
            try:
                for d in self._stream_replicas(replicas, messages, options, extra_body):
                    (answer if d.kind == "answer" else reasoning).append(d.text)
                    yield d
                return
            except _Crashed as c:
                crash = c.error
            except (ServerNotRunning, StreamInterrupted) as e:
                crash = self.lifecycle.diagnose(e.url) if self.lifecycle else None
                if crash is None:
                    raise
            if first is not None or answer or reasoning:
                raise crash.during_request("".join(answer), "".join(reasoning),
                                           again=first is not None) from None
            first = crash
            self._restart(replicas)
            yield Delta("note", RESTARTED_NOTE.format(cause=crash.cause))

    def _restart(self, replicas: Replicas) -> None:
        """Restart the server unless another thread did already since `replicas` was current."""
        with self._lock:
            if self.replicas is replicas:
                started = self.lifecycle.restart()
                self._point_at(self.endpoint.model_copy(update={
                    "base_url": started.base_url, "base_urls": [], "model": started.model}))

    def _stream_replicas(self, replicas: Replicas, messages: list[dict], options: dict,
                         extra_body: dict) -> Iterator[Delta]:
        rotation = replicas.rotation()
        tried: set[str] = set()
        done_with: set[str] = set()  # replicas not to ask again in this request
        rounds = 0
        last: ServerError | None = None
        for _ in range(self.retries + len(rotation)):
            candidates = [u for u in replicas.rank(rotation) if u not in done_with]
            if not candidates:
                break
            fresh = [u for u in candidates if u not in tried]
            url = fresh[0] if fresh else candidates[0]
            if not fresh:  # every replica had its turn: wait a little before the next round
                rounds += 1
                time.sleep(RETRY_BACKOFF_S * rounds)
            tried.add(url)
            try:
                yield from self._attempt(url, messages, options, extra_body, replicas)
                return
            except _Failover as f:
                replicas.failed(url, f.cooldown)
                if self.lifecycle and isinstance(f.error, (ServerNotRunning, StreamInterrupted)):
                    if (crash := self.lifecycle.diagnose(url)) is not None:
                        raise _Crashed(crash) from None
                last = f.error
                if not f.again:
                    done_with.add(url)
        assert last is not None
        raise last

    def _attempt(self, url: str, messages: list[dict], options: dict,
                 extra_body: dict, replicas: Replicas) -> Iterator[Delta]:
        """One request to one replica; raises _Failover while nothing has been yielded."""
        try:
            stream = self._sdk[url].chat.completions.create(
                model=self.endpoint.model, messages=messages, stream=True,
                extra_body=extra_body or None, **options)
        except openai.APITimeoutError as e:
            if isinstance(e.__cause__, httpx.ConnectTimeout):  # host down: nobody is working on it
                raise _Failover(ServerTimeout(url, self.timeout), cooldown=True, again=True) from None
            raise ServerTimeout(url, self.timeout) from None  # busy: a re-send would double the load
        except openai.APIConnectionError as e:
            if isinstance(e.__cause__, httpx.ConnectError):
                raise _Failover(ServerNotRunning(url), cooldown=True, again=True) from None
            raise _Failover(StreamInterrupted(url, "", cause=str(e.__cause__ or e)),
                            cooldown=False, again=True) from None
        except openai.APIStatusError as e:
            if e.status_code == 503:
                raise _Failover(ServerLoading(url), cooldown=True, again=False) from None
            raise RequestRejected(url, e.status_code, _error_message(e)) from None
        with stream:
            kind = stream.response.headers.get("content-type", "")
            if not kind.startswith("text/event-stream"):
                error = BadResponse(url, f"expected an event stream, got {kind or 'no content type'}")
                raise _Failover(error, cooldown=True, again=False)
            yield from self._read(url, stream, replicas)

    def _read(self, url: str, stream, replicas: Replicas) -> Iterator[Delta]:
        splitter, answer, reasoning = ThinkSplitter(), [], []
        finished = False
        chunks = iter(stream)
        while True:
            try:
                chunk = next(chunks, None)
            except (httpx.TransportError, httpx.StreamError) as e:
                timed_out = isinstance(e, httpx.TimeoutException)
                if not answer and not reasoning:
                    if timed_out:
                        raise ServerTimeout(url, self.timeout) from None
                    raise _Failover(StreamInterrupted(url, "", cause=str(e)), cooldown=False,
                                    again=True) from None
                replicas.failed(url, cooldown=False)
                cause = "no next token in time" if timed_out else str(e)
                raise StreamInterrupted(url, "".join(answer), "".join(reasoning), cause) from None
            except ValueError as e:  # json.JSONDecodeError: an event that is not JSON
                raise BadResponse(url, f"event is not JSON: {e}") from None
            except openai.APIError as e:  # an {"error": ...} event
                raise RequestRejected(url, 500, e.message) from None
            if chunk is None:
                break
            deltas, done = _chunk_deltas(chunk, splitter, url)
            finished = finished or done
            for d in deltas:
                if not answer and not reasoning:
                    replicas.succeeded(url)
                (answer if d.kind == "answer" else reasoning).append(d.text)
                yield d
        for d in splitter.flush():
            (answer if d.kind == "answer" else reasoning).append(d.text)
            yield d
        if not finished:
            raise StreamInterrupted(url, "".join(answer), "".join(reasoning),
                                    "the stream ended without a finish reason")


def _request_options(sampling: dict, default_max_tokens: int) -> tuple[dict, dict]:
    """(SDK keyword arguments, extra_body) for the sampling a caller asked for."""
    body = {k: v for k, v in sampling.items() if v is not None}
    body.setdefault("max_tokens", default_max_tokens)
    if "repetition_penalty" in body:  # llama.cpp's server calls it repeat_penalty
        body.setdefault("repeat_penalty", body["repetition_penalty"])
    return ({k: v for k, v in body.items() if k in OPENAI_SAMPLING},
            {k: v for k, v in body.items() if k not in OPENAI_SAMPLING})


def _error_message(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        message = body.get("message", json.dumps(body, ensure_ascii=False))
    elif isinstance(body, str):
        message = body
    else:
        message = e.response.text
    return str(message)[:300]


def _chunk_deltas(chunk, splitter: ThinkSplitter, url: str) -> tuple[list[Delta], bool]:
    """Deltas in one chat.completion.chunk, and whether it carries a finish reason."""
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list):
        raise BadResponse(url, "a chunk has no 'choices'")
    deltas: list[Delta] = []
    done = False
    for choice in choices[:1]:
        delta = getattr(choice, "delta", None)
        extra = getattr(delta, "model_extra", None) or {}
        if extra.get("reasoning_content"):
            deltas.append(Delta("reasoning", extra["reasoning_content"]))
        if getattr(delta, "content", None):
            deltas.extend(splitter.feed(delta.content))
        done = getattr(choice, "finish_reason", None) is not None
    return deltas, done
