"""The bus across processes: the same ``Bus`` as core.bus, on one Redis stream.

Chosen by ``[bus] engine = "redis"``; app.runtime builds it in place of the in-process bus.
Publishers append events (``Event.to_dict`` as JSON) to one stream, trimmed to about
``maxlen`` entries. Each subscription name is one consumer group, so every subscriber sees
every event; the processes that subscribe under one name share that group's events, one
consumer per process. An entry is acknowledged (XACK) after its handler returns, so delivery
is at least once: a consumer killed mid-handler gets its unacknowledged entries again when it
restarts (it re-reads its own pending list first), and entries idle too long on a consumer
that never comes back are claimed by a live one (XAUTOCLAIM). **Handlers must tolerate
redelivery**: key on ``event.event_id`` where acting twice would matter.

``publish`` never waits on Redis: events go to a bounded in-memory outbox that a task
flushes in order; while Redis is down the outbox holds them and is flushed when it is back.
Payloads are parsed back into typed events here, at the edge; handlers never see dicts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import socket
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.bus import BusStats, E, Handler
from core.events import Event, UnknownEvent, from_dict

log = logging.getLogger(__name__)

# Redis unreachable or gone mid-command: wait and retry, never give up.
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def default_consumer() -> str:
    """This process's consumer name: stable across restarts of the same host and pid slot."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _Subscription:
    def __init__(
        self, kind: type[Event], handler: Handler[Event], name: str, group: str, fanout: bool
    ) -> None:
        self.kind = kind
        self.handler = handler
        self.name = name
        self.group = group
        self.fanout = fanout
        self.seen = "0-0"  # fan-out: the last entry handled
        self.task: asyncio.Task[None] | None = None


class RedisStreamBus:
    """Bus on a Redis stream with one consumer group per subscription name."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = "hotline:events",
        group_prefix: str = "hotline:",
        consumer: str | None = None,
        maxlen: int = 100_000,
        outbox_limit: int = 100_000,
        claim_idle_seconds: float = 60.0,
        retry_seconds: float = 1.0,
        read_count: int = 100,
        block_ms: int = 1000,
    ) -> None:
        self._url = url
        self.stream = stream
        self.group_prefix = group_prefix
        self.consumer = consumer or default_consumer()
        self.maxlen = maxlen
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self.retry_seconds = retry_seconds
        self.read_count = read_count
        self.block_ms = block_ms
        self._subs: list[_Subscription] = []
        self._outbox: collections.deque[str] = collections.deque()
        self._outbox_limit = outbox_limit
        self._dropped = 0
        self._dropped_total = 0
        self._reachable = True  # until a write fails
        self._wake = asyncio.Event()
        self._emptied = asyncio.Event()
        self._emptied.set()
        self._flusher: asyncio.Task[None] | None = None
        self._redis: redis.Redis | None = None
        self._last_id = "0-0"  # the last entry this process appended
        self._running = False

    # --- the Bus protocol ---------------------------------------------------------------------

    def subscribe(
        self, kind: type[E], handler: Handler[E], *, name: str, fanout: bool = False
    ) -> None:
        sub = _Subscription(kind, handler, name, self.group_prefix + name, fanout)  # type: ignore[arg-type]
        self._subs.append(sub)
        if self._running:
            sub.task = asyncio.create_task(self._run(sub), name=f"bus:{name}")

    def _run(self, sub: _Subscription) -> Coroutine[Any, Any, None]:
        return self._follow(sub) if sub.fanout else self._consume(sub)

    def publish(self, event: Event) -> None:
        if len(self._outbox) >= self._outbox_limit:
            # Dropping is the last resort; say so loudly once per overflow, count the rest.
            if self._dropped == 0:
                log.error(
                    "bus outbox full (%d events, Redis unreachable?): dropping new events",
                    self._outbox_limit,
                )
            self._dropped += 1
            self._dropped_total += 1
            return
        self._outbox.append(json.dumps(event.to_dict(), ensure_ascii=False))
        self._emptied.clear()
        self._wake.set()

    async def start(self) -> None:
        self._redis = redis.Redis.from_url(
            self._url, socket_timeout=self.block_ms / 1000 + 5, socket_connect_timeout=5
        )
        # Groups exist before the first flush, so nothing published before start is missed.
        for sub in self._subs:
            if not sub.fanout:
                await self._ensure_group(sub)
        self._running = True
        self._flusher = asyncio.create_task(self._flush(), name="bus:outbox")
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.create_task(self._run(sub), name=f"bus:{sub.name}")

    async def stop(self) -> None:
        """Flush the outbox (briefly), then stop; an unfinished handler's entry stays pending."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox_empty(), timeout=5)
        self._running = False
        tasks = [t for t in (self._flusher, *(s.task for s in self._subs)) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._flusher = None
        for sub in self._subs:
            sub.task = None
        if self._outbox:
            log.error("bus stopped with %d events not yet in Redis", len(self._outbox))
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def stats(self) -> BusStats:
        return BusStats("redis", self._reachable, len(self._outbox), self._dropped_total)

    async def drain(self) -> None:
        """Wait until this process's events are in Redis and every local group has handled
        everything up to them (tests and shutdown)."""
        await self._outbox_empty()
        # Progress is in Redis (the groups' positions), so this polls it.
        while not all([await self._caught_up(s) for s in self._subs if s.task is not None]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    # --- publishing ---------------------------------------------------------------------------

    async def _outbox_empty(self) -> None:
        await self._emptied.wait()

    async def _flush(self) -> None:
        assert self._redis is not None
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            batch = list(itertools.islice(self._outbox, 500))
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for payload in batch:
                        pipe.xadd(self.stream, {"e": payload}, maxlen=self.maxlen, approximate=True)
                    ids = await pipe.execute()
            except (*_DOWN, ResponseError) as exc:
                if self._reachable:
                    log.warning("bus: Redis unreachable (%s); holding events in the outbox", exc)
                    self._reachable = False
                # A batch that half-reached Redis is sent again: at least once, never lost.
                await asyncio.sleep(self.retry_seconds)
                continue
            if not self._reachable:
                log.warning("bus: Redis is back; flushing %d held events", len(self._outbox))
                self._reachable = True
            if self._dropped:
                log.error("bus: %d events were dropped while the outbox was full", self._dropped)
                self._dropped = 0
            for _ in batch:
                self._outbox.popleft()
            self._last_id = _text(ids[-1])
            if not self._outbox:
                self._emptied.set()

    # --- consuming ----------------------------------------------------------------------------

    async def _ensure_group(self, sub: _Subscription) -> None:
        assert self._redis is not None
        try:
            # "$": a new subscriber starts with what is published from now on.
            await self._redis.xgroup_create(self.stream, sub.group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, sub: _Subscription) -> None:
        assert self._redis is not None
        r = self._redis
        # Start with our own pending entries (a restart catches up), then new ones.
        cursor: str | None = "0"
        next_claim = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if cursor is not None:
                    await self._ensure_group(sub)
                    reply: Any = await r.xreadgroup(
                        sub.group, self.consumer, {self.stream: cursor}, count=self.read_count
                    )
                    entries = _entries(reply)
                    if not entries:
                        cursor = None
                        continue
                    cursor = _text(entries[-1][0])
                elif loop.time() >= next_claim:
                    next_claim = loop.time() + self.claim_idle_ms / 2000
                    # Entries a dead consumer read but never acknowledged.
                    claimed: Any = await r.xautoclaim(
                        self.stream,
                        sub.group,
                        self.consumer,
                        min_idle_time=self.claim_idle_ms,
                        start_id="0-0",
                        count=self.read_count,
                    )
                    entries = list(claimed[1])
                else:
                    reply = await r.xreadgroup(
                        sub.group,
                        self.consumer,
                        {self.stream: ">"},
                        count=self.read_count,
                        block=self.block_ms,
                    )
                    entries = _entries(reply)
                for entry_id, fields in entries:
                    if fields:  # empty: trimmed from the stream before we handled it
                        await self._deliver(sub, fields)
                    await r.xack(self.stream, sub.group, entry_id)
            except _DOWN as exc:
                log.warning("bus subscriber %s: Redis unreachable (%s); retrying", sub.name, exc)
                cursor = "0"  # an ack may have been lost: re-read our pending entries
                await asyncio.sleep(self.retry_seconds)
            except ResponseError as exc:
                # NOGROUP: the stream was deleted (e.g. Redis lost its data); recreate and go on.
                log.warning("bus subscriber %s: %s; recreating its group", sub.name, exc)
                cursor = "0"
                await asyncio.sleep(self.retry_seconds)

    async def _follow(self, sub: _Subscription) -> None:
        """A fan-out subscription: plain XREAD from "now", no group and no acknowledgement.
        A screen wants what happens from now on; replaying old pops after a restart would
        pop stale calls, so a restarted process starts at the stream's end again."""
        assert self._redis is not None
        cursor = "$"
        while True:
            try:
                reply: Any = await self._redis.xread(
                    {self.stream: cursor}, count=self.read_count, block=self.block_ms
                )
                for entry_id, fields in _entries(reply):
                    cursor = _text(entry_id)
                    await self._deliver(sub, fields)
                    sub.seen = cursor
            except (*_DOWN, ResponseError) as exc:
                log.warning("bus subscriber %s: Redis unreachable (%s); retrying", sub.name, exc)
                await asyncio.sleep(self.retry_seconds)

    async def _deliver(self, sub: _Subscription, fields: dict[Any, Any]) -> None:
        raw: Any = fields.get(b"e", fields.get("e"))
        try:
            event = from_dict(json.loads(raw))
        except (UnknownEvent, TypeError, ValueError):
            # A payload this version cannot read: log it and move on (acknowledged).
            log.exception("bus subscriber %s: unreadable entry %r", sub.name, raw)
            return
        if not isinstance(event, sub.kind):
            return
        try:
            await sub.handler(event)
        except Exception:
            # One bad event must not kill the subscriber for every later call.
            log.exception("bus subscriber %s failed on %s", sub.name, event.name)

    async def _caught_up(self, sub: _Subscription) -> bool:
        assert self._redis is not None
        if sub.fanout:
            return _id_key(sub.seen) >= _id_key(self._last_id)
        try:
            groups = await self._redis.xinfo_groups(self.stream)
        except _DOWN:
            return False
        for g in groups:
            if _text(g["name"]) == sub.group:
                delivered = _text(g["last-delivered-id"])
                return int(g["pending"]) == 0 and _id_key(delivered) >= _id_key(self._last_id)
        return False


def _entries(reply: Any) -> list[tuple[Any, Any]]:
    """The (id, fields) pairs of an XREADGROUP reply on our one stream (RESP2 or RESP3)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0])
    return list(reply[0][1])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
