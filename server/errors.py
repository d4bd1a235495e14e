"""Errors the server package raises; every message names the server and what to do about it.

The CLI prints them as one line and exits non-zero; pages show them with st.error.
"""
from __future__ import annotations

START_HINT = "Start it with `python -m server embedded` or set LEGAL_RAG_ENDPOINTS."


class ServerError(Exception):
    """Base class: the message is written for the person who sees it."""


class EndpointNotConfigured(ServerError):
    """An endpoint name that settings do not know, or one without a URL where one is needed."""


class ServerNotRunning(ServerError):
    """Nothing listens at the URL (connection refused)."""

    def __init__(self, url: str):
        super().__init__(f"LLM server at {url} is not answering (connection refused). {START_HINT}")
        self.url = url


class ServerLoading(ServerError):
    """The server answers 503: it is still loading its model."""

    def __init__(self, url: str):
        super().__init__(
            f"LLM server at {url} is still loading its model (HTTP 503). "
            "Wait a moment and try again; large models take a minute or two."
        )
        self.url = url


class ServerTimeout(ServerError):
    """No answer (or no next token) within the timeout."""

    def __init__(self, url: str, timeout: float):
        super().__init__(
            f"LLM server at {url} did not answer within {timeout:g} s. It may be overloaded "
            "or the model too large for this machine; raise LEGAL_RAG_REQUEST_TIMEOUT_S or use "
            "a smaller model."
        )
        self.url = url


class StreamInterrupted(ServerError):
    """The answer stopped mid-stream; `.partial` keeps the answer text received so far."""

    def __init__(self, url: str, partial: str, reasoning: str = "", cause: str = ""):
        got = f"after {len(partial)} characters of answer" if partial or reasoning else "before answering"
        why = f" ({cause})" if cause else ""
        super().__init__(
            f"LLM server at {url} stopped {got}{why}. The answer is incomplete; "
            "check the server's log and try again."
        )
        self.url = url
        self.partial = partial
        self.reasoning = reasoning


class BadResponse(ServerError):
    """The server answered, but not with an OpenAI-compatible chat completion."""

    def __init__(self, url: str, detail: str):
        super().__init__(
            f"LLM server at {url} sent a response that is not an OpenAI chat completion "
            f"({detail}). Check that the URL points at an OpenAI-compatible /v1 endpoint."
        )
        self.url = url


class RequestRejected(ServerError):
    """The server refused the request (HTTP 4xx/5xx other than 503), e.g. a prompt too long."""

    def __init__(self, url: str, status: int, message: str):
        super().__init__(f"LLM server at {url} rejected the request (HTTP {status}): {message}")
        self.url = url
        self.status = status


class PromptTooLong(ServerError):
    """Even the shortest prompt the project can build does not fit the server's request limit."""

    def __init__(self, prompt_tokens: int, max_tokens: int, limit: int):
        super().__init__(
            f"The question is too long for this model server: about {prompt_tokens} prompt tokens "
            f"plus {max_tokens} answer tokens exceed its limit of {limit} tokens per request. "
            "Shorten the question, or raise the limit (LightLLM's --max_req_total_len and the "
            "endpoint's max_req_total_len)."
        )
        self.limit = limit


class NotAVisionModel(ServerError):
    """An image was sent to an endpoint whose kind is "chat"."""

    def __init__(self, name: str):
        super().__init__(
            f"Endpoint '{name}' is a text-only chat model and cannot read images. Choose an "
            'endpoint with "kind": "vision" in LEGAL_RAG_ENDPOINTS.'
        )


class ModelUnavailable(ServerError):
    """The embedded server's model file cannot be found, assembled, verified or downloaded."""


class EmbeddedStartFailed(ServerError):
    """The embedded llama.cpp server exited or did not become healthy; carries its log tail."""


class ServerCrashed(ServerError):
    """The server behind a URL died (it did not just refuse): how it died, its log's last lines.

    `cause` is the exit as a phrase ("killed by SIGILL (illegal instruction)"); `signal` the
    signal's name when known; `hint` what to do when restarting cannot help (a SIGILL: the
    llama.cpp build uses instructions this CPU does not run). `partial`/`reasoning`: the
    answer that arrived before the death; `again`: it died again after a restart in the same
    request; `during`: "answering" for a request, "check" for a health check. The message
    never suggests starting the server by hand: the project restarts it, and a broken build
    would crash the same way.
    """

    def __init__(self, url: str, cause: str, log_path: str = "", log_tail: str = "",
                 signal: str | None = None, hint: str = "", partial: str = "",
                 reasoning: str = "", again: bool = False, during: str = "answering",
                 restart_note: str = "The server is restarted for the next question."):
        self.url, self.cause, self.signal, self.hint = url, cause, signal, hint
        self.log_path, self.log_tail = log_path, log_tail
        self.partial, self.reasoning, self.again, self.during = partial, reasoning, again, during
        self.restart_note = restart_note
        if again:
            head = f"The LLM server at {url} crashed again after a restart: {cause}."
        elif during == "check":
            head = f"The LLM server at {url} crashed: {cause}. It is restarted at the next question."
        else:
            head = f"The LLM server at {url} crashed while answering: {cause}."
        if partial or reasoning:
            head += (f" The answer stopped after {len(partial)} characters; what arrived is kept."
                     + ("" if again else f" {restart_note}"))
        text = head + (f" {hint}" if hint else "")
        if log_tail:
            text += f"\nLast lines of its log ({log_path}):\n{log_tail}"
        super().__init__(text)

    def during_request(self, partial: str = "", reasoning: str = "", again: bool = False) -> "ServerCrashed":
        """The same death, as seen by a request that had received `partial`."""
        return ServerCrashed(self.url, self.cause, self.log_path, self.log_tail, self.signal,
                             self.hint, partial, reasoning, again, "answering", self.restart_note)

    @property
    def illegal_instruction(self) -> bool:
        return self.signal == "SIGILL"
