"""An OpenAI-compatible loopback server that misbehaves on purpose, for faults a real one won't show.

    with FakeOpenAI(mode="die_mid_stream") as fake:
        ChatClient(fake.endpoint, "fake").chat(...)

Modes:
  ok              streams REASONING inside <think>…</think> then ANSWER, tags split across chunks
  refuse          nothing listens on the port (connection refused)
  loading         503 on /health and on completions
  slow            sleeps `delay` seconds before answering
  slow_answer     health answers at once; completions wait `delay` seconds (a CPU model's prefill)
  die_mid_stream  sends the first chunks, then closes the socket mid-body
  garbage         200 with an HTML body instead of JSON / SSE
  reasoning_field reasoning in `reasoning_content` deltas (vLLM/LightLLM reasoning parsers)
  flaky           drops the connection without a response `fail_times` times, then behaves as ok
  vision          decodes the image data URL it receives; answers "image bytes=N sha256=HEX"
Every completions request body is kept in `fake.requests`; decoded images in `fake.images`.
Serves only what a test needs; no tool calls, no legacy /v1/completions.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from settings import Endpoint

REASONING = "用户问的是加班费。"
ANSWER = "根据《劳动法》第四十四条，应支付不低于工资百分之一百五十的工资报酬。"
CHUNK_CHARS = 3  # small pieces so that <think> and </think> arrive split across chunks
MODES = {"ok", "refuse", "loading", "slow", "slow_answer", "die_mid_stream", "garbage", "reasoning_field",
         "flaky", "vision"}


class FakeOpenAI:
    def __init__(self, mode: str = "ok", delay: float = 2.0, fail_times: int = 2,
                 answer: str = ANSWER, reasoning: str = REASONING):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {sorted(MODES)}")
        self.mode, self.delay, self.fail_times = mode, delay, fail_times
        self.answer, self.reasoning = answer, reasoning
        self.requests: list[dict] = []
        self.images: list[bytes] = []
        self.connections = 0  # completions requests received, dropped ones included
        self._server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(base_url=f"http://127.0.0.1:{self.port}/v1", model="fake",
                        kind="vision" if self.mode == "vision" else "chat", label="fake")

    def __enter__(self) -> "FakeOpenAI":
        if self.mode == "refuse":
            with socket.socket() as s:  # a port that was free a moment ago; nobody listens
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def pieces(self, body: dict) -> list[tuple[str, str]]:
        """What the fake answers to `body`, as (delta field, text) pieces."""
        if self.mode == "vision":
            return _split("content", self._describe_image(body))
        if self.mode == "reasoning_field":
            return _split("reasoning_content", self.reasoning) + _split("content", self.answer)
        return _split("content", f"<think>\n{self.reasoning}\n</think>\n\n{self.answer}")

    def _describe_image(self, body: dict) -> str:
        for message in body.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else []:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    header, _, data = url.partition(",")
                    if not (header.startswith("data:") and header.endswith(";base64")):
                        return f"not a base64 data URL: {url[:40]}"
                    image = base64.b64decode(data, validate=True)
                    self.images.append(image)
                    return f"image bytes={len(image)} sha256={hashlib.sha256(image).hexdigest()}"
        return "no image received"


def _split(field: str, text: str) -> list[tuple[str, str]]:
    return [(field, text[i:i + CHUNK_CHARS]) for i in range(0, len(text), CHUNK_CHARS)]


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
             "model": "fake", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            if fake.mode == "loading":
                return self._json(503, {"error": {"message": "Loading model"}})
            if fake.mode == "slow":
                time.sleep(fake.delay)
            if self.path == "/health":
                return self._json(200, {"status": "ok"})
            if self.path == "/v1/models":
                return self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            fake.connections += 1
            if fake.mode == "flaky" and fake.connections <= fake.fail_times:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            fake.requests.append(body)
            if fake.mode == "loading":
                return self._json(503, {"error": {"message": "Loading model"}})
            if fake.mode in ("slow", "slow_answer"):
                time.sleep(fake.delay)
            if fake.mode == "garbage":
                return self._raw(200, "text/html", b"<html><body>502 Bad Gateway</body></html>")
            pieces = fake.pieces(body)
            if body.get("stream"):
                return self._stream(pieces)
            self._json(200, _completion(pieces))

        def _stream(self, pieces: list[tuple[str, str]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [_chunk({"role": "assistant"})] + [_chunk({f: t}) for f, t in pieces]
            if fake.mode == "die_mid_stream":
                for event in events[: len(events) // 2]:
                    self._send_chunk(event)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk, no [DONE]
                return
            for event in events + [_chunk({}, "stop"), b"data: [DONE]\n\n"]:
                self._send_chunk(event)
            self.wfile.write(b"0\r\n\r\n")

        def _send_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, payload: dict) -> None:
            self._raw(status, "application/json", json.dumps(payload, ensure_ascii=False).encode())

        def _raw(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _completion(pieces: list[tuple[str, str]]) -> dict:
    """The non-streaming form of the same answer (LlamaIndex's complete() uses it)."""
    message = {"role": "assistant", "content": "".join(t for f, t in pieces if f == "content")}
    reasoning = "".join(t for f, t in pieces if f == "reasoning_content")
    if reasoning:
        message["reasoning_content"] = reasoning
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(pieces),
                      "total_tokens": len(pieces) + 1}}
