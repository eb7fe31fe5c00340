"""Originate pacing: at most N callback channels at once and at most R originates per second.

Call flow: the dialer ``await``s ``Pacer.acquire()`` before each AMI Originate and calls
``release()`` when the call is over (OriginateResponse failure, or hang-up of an answered call),
so the carrier trunk never carries more than ``max_channels`` survey calls and never sees
originates closer together than ``1 / max_rate`` seconds.

Starts are spaced strictly (no bursts after an idle spell), so the achieved rate under load is
the configured one. Waiters are served first come, first served: only the head of the queue
may start, so a later caller never overtakes an earlier one. A waiter that is cancelled leaves
the queue without taking a channel. The clock and the sleep are injected, so tests run on a
fake clock. Single event loop only; not thread-safe.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

# Spacing below this counts as met, so float rounding in (last + interval - now) cannot make
# the head sleep for 1e-17 s forever.
_EPSILON = 1e-6


class Pacer:
    """Concurrency and rate limit for outbound originates (see the module docstring)."""

    def __init__(
        self,
        max_channels: int,
        max_rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._check(max_channels, max_rate)
        self._max_channels = max_channels
        self._interval = 1.0 / max_rate
        self._clock = clock
        self._sleep = sleep
        self._in_use = 0
        self._last_start: float | None = None
        # One event per waiter, oldest first; only the head's event is ever set.
        self._queue: collections.deque[asyncio.Event] = collections.deque()

    @staticmethod
    def _check(max_channels: int, max_rate: float) -> None:
        if max_channels < 1:
            raise ValueError(f"max_channels must be at least 1, got {max_channels}")
        if not max_rate > 0:
            raise ValueError(f"max_rate must be above 0 originates per second, got {max_rate}")

    @property
    def in_use(self) -> int:
        """Channels acquired and not yet released."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Callers queued in ``acquire``."""
        return len(self._queue)

    @property
    def max_channels(self) -> int:
        return self._max_channels

    @property
    def max_rate(self) -> float:
        return 1.0 / self._interval

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until the rate allows the next start (channels not counted)."""
        if self._last_start is None:
            return 0.0
        wait = self._last_start + self._interval - now
        return wait if wait > _EPSILON else 0.0

    def update(self, max_channels: int, max_rate: float) -> None:
        """Change the limits live; queued callers are re-evaluated at once.

        Lowering ``max_channels`` below ``in_use`` ends no call: new starts wait until enough
        channels are released. The new rate applies from the last start.
        """
        self._check(max_channels, max_rate)
        self._max_channels = max_channels
        self._interval = 1.0 / max_rate
        self._wake_head()

    async def acquire(self) -> None:
        """Wait for a free channel and the rate spacing, then take the channel."""
        ready = asyncio.Event()
        self._queue.append(ready)
        try:
            while True:
                if self._queue[0] is ready and self._in_use < self._max_channels:
                    now = self._clock()
                    wait = self.wait_time(now)
                    if wait == 0.0:
                        # No await between the check and taking the channel: a cancellation
                        # cannot land in between, so a channel is never taken and lost.
                        self._queue.popleft()
                        self._in_use += 1
                        self._last_start = now
                        self._wake_head()
                        return
                    ready.clear()
                    await self._sleep_or_wake(wait, ready)
                else:
                    ready.clear()
                    await ready.wait()
        except BaseException:
            # Cancelled (or the sleep failed) while queued: leave the queue, let the next go.
            was_head = bool(self._queue) and self._queue[0] is ready
            self._queue.remove(ready)
            if was_head:
                self._wake_head()
            raise

    async def _sleep_or_wake(self, seconds: float, ready: asyncio.Event) -> None:
        # The head sleeps for the rate but wakes early on update() (a higher rate) too.
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(ready.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        if sleeper.done() and not sleeper.cancelled():
            error = sleeper.exception()
            if error is not None:
                raise error

    def release(self) -> None:
        """Give a channel back (the call is over)."""
        if self._in_use == 0:
            raise ValueError("release() without a matching acquire(): no channel is in use")
        self._in_use -= 1
        self._wake_head()

    def _wake_head(self) -> None:
        if self._queue:
            self._queue[0].set()

    async def __aenter__(self) -> Pacer:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
