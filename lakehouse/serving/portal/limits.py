"""Requests per client, limited in memory (pure): a token bucket per client address, nothing written.

A client may spend ``per_minute`` requests at once and gets them back at ``per_minute`` a minute.
Behind a reverse proxy every request comes from the proxy, so a proxy's address (``trusted``) is
replaced by the last address its ``X-Forwarded-For`` names; anyone else's header is ignored.
"""

from __future__ import annotations

import time
from typing import Callable

MAX_CLIENTS = 10_000  # buckets kept before full ones are forgotten


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, when counted)

    def retry_after(self, client: str) -> int:
        """0 when ``client`` may make this request (it is counted); else the seconds to wait."""
        if self.capacity <= 0:
            return 0
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            return max(1, int((1 - tokens) / self.rate + 0.999))
        self._buckets[client] = (tokens - 1, now)
        if len(self._buckets) > MAX_CLIENTS:
            full = [c for c, (t, a) in self._buckets.items() if t + (now - a) * self.rate >= self.capacity]
            for c in full:
                del self._buckets[c]
        return 0


def client_of(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The client a request counts for: the peer, or behind a trusted proxy the address it forwarded for."""
    if peer in trusted and forwarded_for:
        return forwarded_for.split(",")[-1].strip()[:64] or peer
    return peer or "?"
