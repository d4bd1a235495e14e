"""Endpoint names → reachable endpoints and their clients: the one place that turns a name from
settings into a URL, and the one way to build a ChatClient for it (`client_for`).

A configured endpoint with a base_url (or replicas in base_urls) is returned as it is;
base_url None means the embedded llama.cpp server, started on demand through the callable the
caller passes in (so this module does not know how the embedded server is started, and tests
can hand in a fake). Does not check that the server answers: ChatClient.health does.
"""
from __future__ import annotations

from typing import Callable

from server.client import ChatClient, ServerLifecycle
from server.errors import EndpointNotConfigured
from settings import Endpoint


def resolve(name: str, endpoints: dict[str, Endpoint],
            start_embedded: Callable[[], Endpoint]) -> Endpoint:
    if name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise EndpointNotConfigured(
            f"No LLM endpoint named '{name}' (known: {known}). Add it to LEGAL_RAG_ENDPOINTS, "
            'e.g. {"' + name + '": {"base_url": "http://127.0.0.1:8000/v1", "model": "qwen3-8b"}}.'
        )
    configured = endpoints[name]
    if configured.base_url:
        return configured
    started = start_embedded()
    # Keep what settings say about the endpoint (label, kind); take the address and the
    # window from the server.
    return configured.model_copy(update={"base_url": started.base_url, "model": started.model,
                                         "context_tokens": started.context_tokens})


def client_for(name: str, endpoints: dict[str, Endpoint], start_embedded: Callable[[], Endpoint],
               timeout: float, watch: bool = True) -> ChatClient:
    """The ChatClient for the endpoint `name` (from settings: endpoints, request_timeout_s).

    The embedded endpoint (base_url None) is started on demand by start_embedded. With
    `watch`, start_embedded is also the client's ServerLifecycle (server/embedded.py's
    EmbeddedStarter is both): after a failed request the client asks whether the server died
    and restarts it. watch=False (a health check, which only reports): failures as they are.
    """
    endpoint = resolve(name, endpoints, start_embedded)
    ours = not endpoints[name].base_url  # the embedded server: the only one we can restart
    lifecycle: ServerLifecycle | None = start_embedded if ours and watch else None  # type: ignore[assignment]
    return ChatClient(endpoint, name, timeout=timeout, lifecycle=lifecycle)
