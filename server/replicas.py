"""Which replica of an endpoint a request tries first, second, …: the client side of scale.

An endpoint may list several base URLs serving the same model (LightLLM replicas on several
GPUs or hosts). Requests take turns (round-robin), a replica that failed recently goes to
the back of the line: one that refused a connection, answered 503 (still loading) or spoke
garbage sits out a short cooldown, and among replicas that all failed the least recently
failed comes first. A replica that answers again is back in the rotation at once.

Does not send requests or decide what a failure is (server/client.py does), and keeps no
health-check thread: a replica's state is learnt from the requests themselves.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

COOLDOWN_S = 10.0  # long enough to skip a dead replica for a burst of requests, short enough
# that a restarted one is back within a few questions


class Replicas:
    """Round-robin with cooldowns over a fixed list of URLs. Thread-safe."""

    def __init__(self, urls: list[str], cooldown_s: float = COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic):
        if not urls:
            raise ValueError("at least one URL")
        self.urls = list(urls)
        self.cooldown_s, self._clock = cooldown_s, clock
        self._next = 0
        self._failed_at: dict[str, float] = {}
        self._cool_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def rotation(self) -> list[str]:
        """The URLs in this request's turn order (advances the round-robin)."""
        with self._lock:
            start, self._next = self._next, (self._next + 1) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    def rank(self, urls: list[str]) -> list[str]:
        """`urls` with the ones cooling down moved to the back, least recently failed first."""
        now = self._clock()
        with self._lock:
            ready = [u for u in urls if self._cool_until.get(u, 0.0) <= now]
            cooling = sorted((u for u in urls if u not in ready), key=lambda u: self._failed_at[u])
        return ready + cooling

    def failed(self, url: str, cooldown: bool) -> None:
        """Record a failure; with cooldown the replica is tried last for `cooldown_s`."""
        now = self._clock()
        with self._lock:
            self._failed_at[url] = now
            if cooldown:
                self._cool_until[url] = now + self.cooldown_s

    def succeeded(self, url: str) -> None:
        with self._lock:
            self._failed_at.pop(url, None)
            self._cool_until.pop(url, None)

    def cooling(self) -> list[str]:
        """The replicas sitting out a cooldown now."""
        now = self._clock()
        with self._lock:
            return [u for u in self.urls if self._cool_until.get(u, 0.0) > now]
