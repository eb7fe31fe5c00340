"""The in-process event bus: every part publishes typed events here and subscribes to others.

Each subscription gets its own queue and worker task, so a slow subscriber (a database write,
a WebSocket send) never stalls the publisher (the AMI reader) nor the other subscribers, and
each subscriber still sees events in publication order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from core.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]


class Bus(Protocol):
    """What publishers and subscribers rely on; an implementation across processes fits too."""

    def publish(self, event: Event) -> None: ...

    def subscribe(
        self, kind: type[E], handler: Handler[E], *, name: str, fanout: bool = False
    ) -> None:
        """``fanout``: every process gets every event from now on (a view kept in this
        process's memory, e.g. its WebSockets); otherwise the processes subscribing under one
        ``name`` share its events, each handled once (a database write)."""
        ...


@dataclass(frozen=True)
class BusStats:
    """The bus as health reports it: whether events can leave this process, and how many
    wait here for the engine or a handler (an operator's first look when Redis is down)."""

    engine: str
    reachable: bool  # the last write to the engine succeeded (always true in-process)
    held: int  # events published here and not yet handed on (outbox or local queues)
    dropped: int  # events given up because the outbox was full (should stay 0)


class RunningBus(Bus, Protocol):
    """A bus with its lifecycle, as the runtime holds it (in-process or core.redis_bus)."""

    def stats(self) -> BusStats: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def drain(self) -> None: ...


class _Subscription:
    def __init__(self, kind: type[Event], handler: Handler[Event], name: str) -> None:
        self.kind = kind
        self.handler = handler
        self.name = name
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while (event := await self.queue.get()) is not None:
            try:
                await self.handler(event)
            except Exception:
                # One bad event must not kill the subscriber for every later call.
                log.exception("bus subscriber %s failed on %s", self.name, event.name)
            finally:
                self.queue.task_done()
        self.queue.task_done()


class InProcessBus:
    """Bus for one process and one event loop (the embedded default)."""

    def __init__(self) -> None:
        self._subs: list[_Subscription] = []
        self._running = False

    def subscribe(
        self, kind: type[E], handler: Handler[E], *, name: str, fanout: bool = False
    ) -> None:
        # One process: every subscription already sees every event.
        sub = _Subscription(kind, handler, name)  # type: ignore[arg-type]
        self._subs.append(sub)
        if self._running:
            sub.task = asyncio.create_task(sub.run(), name=f"bus:{name}")

    def publish(self, event: Event) -> None:
        for sub in self._subs:
            if isinstance(event, sub.kind):
                sub.queue.put_nowait(event)

    async def start(self) -> None:
        self._running = True
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.create_task(sub.run(), name=f"bus:{sub.name}")

    async def stop(self) -> None:
        """Deliver what is queued, then stop every worker."""
        self._running = False
        for sub in self._subs:
            sub.queue.put_nowait(None)
        for sub in self._subs:
            if sub.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await sub.task
                sub.task = None

    def stats(self) -> BusStats:
        return BusStats("memory", True, sum(s.queue.qsize() for s in self._subs), 0)

    async def drain(self) -> None:
        """Wait until every queued event has been handled (tests and shutdown)."""
        await asyncio.gather(*(s.queue.join() for s in self._subs if s.task is not None))
