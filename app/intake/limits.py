"""A small in-process rate limiter for the public pages (per client address, per phone).

Sliding window: at most ``count`` events per key in any ``seconds``. It lives in this
process: several app nodes behind one address would each count on their own (a shared store,
e.g. the database or Redis, would be needed there; README).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from core.intake import Limit

MAX_KEYS = 100_000  # forget the oldest keys beyond this (memory stays bounded)


class RateLimiter:
    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def _window(self, key: str) -> deque[float]:
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= MAX_KEYS:
                self._hits.pop(next(iter(self._hits)))
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.limit.seconds:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None: it may now (nothing is counted)."""
        hits = self._window(key)
        if len(hits) < self.limit.count:
            return None
        return max(1.0, hits[0] + self.limit.seconds - self._clock())

    def hit(self, key: str) -> None:
        self._window(key).append(self._clock())


class PublicLimits:
    """The public pages' three limiters, built from ``[intake]``."""

    def __init__(
        self,
        form_address: Limit,
        form_phone: Limit,
        track_failures: Limit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.form_address = RateLimiter(form_address, clock)
        self.form_phone = RateLimiter(form_phone, clock)
        self.track_failures = RateLimiter(track_failures, clock)
