"""Originate pacing: channel and rate limits, FIFO order, cancellation, live changes.

Runs on virtual time (``FakeClock``): nothing here really sleeps, so the limits are checked
exactly rather than with timing slack.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Iterable

import pytest

from callbacks import Pacer


class FakeClock:
    """Virtual time for asyncio code: ``sleep`` parks the caller until ``run`` reaches its
    deadline; time only moves when every task is idle, to the earliest pending deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), wake))
        await wake

    @staticmethod
    async def settle() -> None:
        """Let every runnable task run until all wait (on a timer or an event)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, tasks: Iterable[asyncio.Task[None]]) -> None:
        """Advance virtual time until ``tasks`` are done; fail on a deadlock."""
        pending = list(tasks)
        while True:
            await self.settle()
            if all(task.done() for task in pending):
                break
            while self._timers and self._timers[0][2].done():  # cancelled sleeps
                heapq.heappop(self._timers)
            if not self._timers:
                raise AssertionError("deadlock: tasks wait but no timer is pending")
            deadline, _, wake = heapq.heappop(self._timers)
            self.now = deadline
            wake.set_result(None)
        await asyncio.gather(*pending)


class Calls:
    """Simulated survey calls through one pacer, recording starts and concurrency."""

    def __init__(self, pacer: Pacer, clock: FakeClock) -> None:
        self.pacer, self.clock = pacer, clock
        self.starts: list[tuple[float, int]] = []  # (time, caller index)
        self.active = 0
        self.peak = 0

    async def call(self, index: int, hold: float) -> None:
        await self.pacer.acquire()
        self.starts.append((self.clock.now, index))
        self.active += 1
        self.peak = max(self.peak, self.active)
        assert self.pacer.in_use == self.active <= self.pacer.max_channels
        await self.clock.sleep(hold)
        self.active -= 1
        self.pacer.release()

    async def run(self, holds: list[float]) -> None:
        tasks = []
        for index, hold in enumerate(holds):
            tasks.append(asyncio.create_task(self.call(index, hold)))
        await self.clock.run(tasks)

    def gaps(self) -> list[float]:
        times = [t for t, _ in self.starts]
        return [b - a for a, b in itertools.pairwise(times)]


def make(max_channels: int, max_rate: float) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    return Pacer(max_channels, max_rate, clock=clock, sleep=clock.sleep), clock


async def test_rate_limit_spaces_starts_strictly_and_achieves_the_configured_rate() -> None:
    pacer, clock = make(max_channels=4, max_rate=2.0)
    calls = Calls(pacer, clock)
    await calls.run([0.1] * 50)
    assert len(calls.starts) == 50
    assert min(calls.gaps()) >= 0.5 - 1e-9  # never a burst
    achieved = (len(calls.starts) - 1) / (calls.starts[-1][0] - calls.starts[0][0])
    assert achieved == pytest.approx(2.0, rel=1e-6)
    assert calls.peak == 1  # 0.1 s calls never overlap at one start per 0.5 s
    assert pacer.in_use == 0


async def test_channel_limit_is_never_exceeded_and_is_used_fully() -> None:
    pacer, clock = make(max_channels=3, max_rate=10.0)
    calls = Calls(pacer, clock)
    await calls.run([1.0] * 30)
    assert calls.peak == 3
    assert min(calls.gaps()) >= 0.1 - 1e-9
    # Channels, not the rate, are the limit here: three starts per second of calls.
    assert calls.starts[-1][0] == pytest.approx(9.2)
    assert pacer.in_use == 0


async def test_many_concurrent_acquirers_are_served_in_order_within_both_limits() -> None:
    rng = random.Random(12345)
    pacer, clock = make(max_channels=5, max_rate=4.0)
    calls = Calls(pacer, clock)
    await calls.run([rng.uniform(0.0, 3.0) for _ in range(200)])
    assert [index for _, index in calls.starts] == list(range(200))  # FIFO
    assert calls.peak == 5
    assert min(calls.gaps()) >= 0.25 - 1e-9
    assert pacer.in_use == 0
    assert pacer.waiting == 0


async def test_cancelled_waiter_takes_no_channel_and_keeps_the_order() -> None:
    pacer, clock = make(max_channels=1, max_rate=100.0)
    await pacer.acquire()
    got: list[str] = []

    async def wait(name: str) -> None:
        await pacer.acquire()
        got.append(name)

    first, second, third = (asyncio.create_task(wait(n)) for n in ("first", "second", "third"))
    await clock.settle()
    assert pacer.waiting == 3
    second.cancel()
    await clock.settle()
    assert second.cancelled()
    assert pacer.waiting == 2
    assert pacer.in_use == 1

    pacer.release()
    await clock.run([first])
    assert got == ["first"]
    pacer.release()
    await clock.run([third])
    assert got == ["first", "third"]
    assert pacer.in_use == 1
    pacer.release()
    assert pacer.in_use == 0
    assert pacer.waiting == 0


async def test_cancelling_the_head_during_its_rate_sleep_lets_the_next_one_go() -> None:
    pacer, clock = make(max_channels=3, max_rate=1.0)
    await pacer.acquire()  # t=0
    head = asyncio.create_task(pacer.acquire())
    follower = asyncio.create_task(pacer.acquire())
    await clock.settle()
    assert pacer.waiting == 2
    head.cancel()
    await clock.run([follower])
    assert head.cancelled()
    assert clock.now == pytest.approx(1.0)  # the follower kept the rate spacing
    assert pacer.in_use == 2  # the first caller and the follower; the cancelled head none
    assert pacer.waiting == 0


async def test_update_applies_new_limits_to_queued_callers_at_once() -> None:
    pacer, clock = make(max_channels=1, max_rate=0.01)  # one start per 100 s
    await pacer.acquire()
    pacer.release()
    waiter = asyncio.create_task(pacer.acquire())
    await clock.settle()  # sleeping for the 100 s spacing
    pacer.update(max_channels=1, max_rate=10.0)
    await clock.run([waiter])
    assert clock.now == pytest.approx(0.1)  # not 100 s

    # More channels let a caller waiting for a channel start without a release.
    blocked = asyncio.create_task(pacer.acquire())
    await clock.settle()
    assert pacer.waiting == 1
    pacer.update(max_channels=2, max_rate=10.0)
    await clock.run([blocked])
    assert pacer.in_use == 2
    assert pacer.max_channels == 2
    assert pacer.max_rate == pytest.approx(10.0)


async def test_lower_channel_limit_waits_for_releases() -> None:
    pacer, clock = make(max_channels=3, max_rate=1000.0)
    for _ in range(3):
        await clock.run([asyncio.create_task(pacer.acquire())])
    pacer.update(max_channels=1, max_rate=1000.0)
    late = asyncio.create_task(pacer.acquire())
    pacer.release()
    pacer.release()
    await clock.settle()
    assert not late.done()  # still one in use, the new limit
    pacer.release()
    await clock.run([late])
    assert pacer.in_use == 1


def test_wait_time_is_the_rest_of_the_spacing() -> None:
    clock = FakeClock()
    clock.now = 10.0
    pacer = Pacer(1, 2.0, clock=clock, sleep=clock.sleep)
    assert pacer.wait_time(10.0) == 0.0  # nothing started yet

    async def start() -> None:
        await pacer.acquire()

    asyncio.run(start())
    assert pacer.wait_time(10.0) == pytest.approx(0.5)
    assert pacer.wait_time(10.2) == pytest.approx(0.3)
    assert pacer.wait_time(10.5) == 0.0
    assert pacer.wait_time(12.0) == 0.0


def test_bad_limits_and_extra_release_are_errors() -> None:
    with pytest.raises(ValueError, match="max_channels"):
        Pacer(0, 1.0)
    with pytest.raises(ValueError, match="max_rate"):
        Pacer(1, 0.0)
    pacer = Pacer(1, 1.0)
    with pytest.raises(ValueError, match="without a matching acquire"):
        pacer.release()
    with pytest.raises(ValueError, match="max_rate"):
        pacer.update(1, -1.0)


async def test_real_clock_and_context_manager() -> None:
    # The defaults (monotonic clock, asyncio.sleep): 5 starts 5 ms apart take at least 20 ms.
    pacer = Pacer(2, 200.0)
    began = time.monotonic()
    for _ in range(5):
        async with pacer:
            assert pacer.in_use == 1
    assert time.monotonic() - began >= 4 * 0.005 * 0.99
    assert pacer.in_use == 0
