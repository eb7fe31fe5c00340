"""The Redis Streams bus against a real redis-server: typed round trip, fan-out to groups,
work shared in a group, catch-up after a consumer dies before XACK, no event lost when Redis
is killed with -9 and restarted, and a failing handler that does not stop its consumer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import pytest

from core.bus import BusStats
from core.events import (
    AgentStateChanged,
    ChannelHungUp,
    Event,
    ScreenPop,
    TicketDispatched,
    TicketSummary,
    from_dict,
)
from core.redis_bus import RedisStreamBus
from tests.e2e.peers.redis_server import RedisServer
from tests.unit.test_bus import hangup


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_streams = iter(range(10**6))


def make_bus(server: RedisServer, stream: str, consumer: str, **kw: float) -> RedisStreamBus:
    return RedisStreamBus(
        server.url,
        stream=stream,
        consumer=consumer,
        retry_seconds=0.1,
        block_ms=200,
        **kw,  # type: ignore[arg-type]
    )


def new_stream() -> str:
    return f"test:{next(_streams)}:{time.monotonic_ns()}"


async def wait_for(cond: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


def collector(into: list[Event]) -> Callable[[Event], Awaitable[None]]:
    async def handle(event: Event) -> None:
        into.append(event)

    return handle


async def test_typed_round_trip(redis_server: RedisServer) -> None:
    bus = make_bus(redis_server, new_stream(), "p1")
    got: list[Event] = []
    bus.subscribe(Event, collector(got), name="all")
    await bus.start()
    sent: list[Event] = [
        hangup(1),
        AgentStateChanged(
            node_id="n", agent_id="1001", state="paused", reason="小休", source="desk"
        ),
        ScreenPop(
            agent_id="1001",
            ticket_id=7,
            call_id="n:1",
            caller="13800000000",
            dialled="12345",
            category=None,
            earlier_tickets=(
                TicketSummary(
                    id=3,
                    state="closed",
                    category="供水",
                    created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                    summary="停水",
                ),
            ),
        ),
        TicketDispatched(ticket_id=7, department="d1", mode="grab", eligible=("d1", "d2")),
    ]
    for event in sent:
        bus.publish(event)
    await bus.drain()
    await bus.stop()
    assert got == sent
    assert [type(e) for e in got] == [type(e) for e in sent]
    assert [e.event_id for e in got] == [e.event_id for e in sent]
    assert len({e.event_id for e in sent}) == len(sent)
    assert from_dict(sent[2].to_dict()) == sent[2]


async def test_every_group_gets_every_event_and_only_its_kind(redis_server: RedisServer) -> None:
    bus = make_bus(redis_server, new_stream(), "p1")
    a: list[Event] = []
    b: list[Event] = []
    links: list[Event] = []
    bus.subscribe(ChannelHungUp, collector(a), name="a")
    bus.subscribe(ChannelHungUp, collector(b), name="b")
    bus.subscribe(AgentStateChanged, collector(links), name="states")
    await bus.start()
    for i in range(50):
        bus.publish(hangup(i))
    await bus.drain()
    await bus.stop()
    expected = [str(i) for i in range(50)]
    assert [e.uniqueid for e in a] == expected  # type: ignore[attr-defined]
    assert [e.uniqueid for e in b] == expected  # type: ignore[attr-defined]
    assert links == []


async def test_consumers_of_one_group_share_the_work(redis_server: RedisServer) -> None:
    stream = new_stream()
    one = make_bus(redis_server, stream, "p1", read_count=2)
    two = make_bus(redis_server, stream, "p2", read_count=2)
    got1: list[Event] = []
    got2: list[Event] = []

    def slow(into: list[Event]) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            await asyncio.sleep(0.01)
            into.append(event)

        return handle

    one.subscribe(ChannelHungUp, slow(got1), name="work")
    two.subscribe(ChannelHungUp, slow(got2), name="work")
    await one.start()
    await two.start()
    for i in range(60):
        one.publish(hangup(i))
        await asyncio.sleep(0.002)
    await wait_for(lambda: len(got1) + len(got2) >= 60)
    await one.drain()
    await one.stop()
    await two.stop()
    ids = sorted(int(e.uniqueid) for e in got1 + got2)  # type: ignore[attr-defined]
    assert ids == list(range(60))  # each event once in the group
    assert got1 and got2


async def test_a_fanout_subscription_gets_every_event_in_every_process(
    redis_server: RedisServer,
) -> None:
    """Screens (a process's own WebSockets) subscribe with fanout: both processes see all 30
    events although they share the name; a process started later sees only what comes after
    it (no stale pops), and a shared-name subscription beside them still splits the work."""
    stream = new_stream()
    one = make_bus(redis_server, stream, "p1")
    two = make_bus(redis_server, stream, "p2")
    seen1: list[Event] = []
    seen2: list[Event] = []
    shared: list[Event] = []
    one.subscribe(ChannelHungUp, collector(seen1), name="ws.screen_pop", fanout=True)
    two.subscribe(ChannelHungUp, collector(seen2), name="ws.screen_pop", fanout=True)
    one.subscribe(ChannelHungUp, collector(shared), name="writer")
    two.subscribe(ChannelHungUp, collector(shared), name="writer")
    await one.start()
    await two.start()
    await asyncio.sleep(0.3)  # both XREADs are blocking at the stream's end
    for i in range(30):
        one.publish(hangup(i))
    await wait_for(lambda: len(seen1) == 30 and len(seen2) == 30 and len(shared) == 30)
    late: list[Event] = []
    three = make_bus(redis_server, stream, "p3")
    three.subscribe(ChannelHungUp, collector(late), name="ws.screen_pop", fanout=True)
    await three.start()
    await asyncio.sleep(0.3)
    two.publish(hangup(99))
    await wait_for(lambda: len(late) == 1 and len(seen1) == 31)
    await two.drain()
    for bus in (one, two, three):
        await bus.stop()
    assert [e.uniqueid for e in late] == ["99"]  # type: ignore[attr-defined]
    assert sorted(int(e.uniqueid) for e in shared) == [*range(30), 99]  # type: ignore[attr-defined]
    assert len(seen2) == 31


# A consumer process that takes one event and hangs in its handler (never acknowledging).
HANGING_CONSUMER = """
import asyncio, sys
from core.events import ChannelHungUp
from core.bus import BusStats
from core.redis_bus import RedisStreamBus

async def main():
    bus = RedisStreamBus(sys.argv[1], stream=sys.argv[2], consumer="p1")
    async def hangs(event):
        print(event.uniqueid, flush=True)
        await asyncio.Event().wait()
    bus.subscribe(ChannelHungUp, hangs, name="desk")
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_consumer_killed_before_ack_catches_up_on_restart(
    redis_server: RedisServer,
) -> None:
    stream = new_stream()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HANGING_CONSUMER, redis_server.url, stream, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert await child.stdout.readline() == b"ready\n"
        publisher = make_bus(redis_server, stream, "pub")
        await publisher.start()
        for i in range(5):
            publisher.publish(hangup(i))
        await publisher.drain()  # in Redis; the child reads them and hangs on the first
        assert await child.stdout.readline() == b"0\n"
    finally:
        child.kill()  # SIGKILL inside the handler
        await child.wait()
    for i in range(5, 8):
        publisher.publish(hangup(i))  # published while the consumer is down
    await publisher.drain()
    await publisher.stop()

    got: list[Event] = []
    again = make_bus(redis_server, stream, "p1")  # same consumer name: the restarted process
    again.subscribe(ChannelHungUp, collector(got), name="desk")
    await again.start()
    await wait_for(lambda: len(got) == 8)
    await again.drain()
    await again.stop()
    assert [e.uniqueid for e in got] == [str(i) for i in range(8)]  # type: ignore[attr-defined]


async def test_dead_consumer_entries_are_claimed_by_another(redis_server: RedisServer) -> None:
    stream = new_stream()
    seen: list[Event] = []

    async def hangs(event: Event) -> None:
        seen.append(event)
        await asyncio.Event().wait()

    dead = make_bus(redis_server, stream, "gone")
    dead.subscribe(ChannelHungUp, hangs, name="desk")
    await dead.start()
    for i in range(3):
        dead.publish(hangup(i))
    await wait_for(lambda: len(seen) == 1)
    await dead.stop()  # never comes back

    got: list[Event] = []
    live = make_bus(redis_server, stream, "alive", claim_idle_seconds=0.3)
    live.subscribe(ChannelHungUp, collector(got), name="desk")
    await live.start()
    await wait_for(lambda: len(got) == 3)
    await live.stop()
    assert sorted(e.uniqueid for e in got) == ["0", "1", "2"]  # type: ignore[attr-defined]


async def test_no_event_lost_when_redis_is_killed_and_restarted(
    redis_server: RedisServer,
) -> None:
    bus = make_bus(redis_server, new_stream(), "p1")
    handled: set[str] = set()
    calls = 0

    async def handle(event: ChannelHungUp) -> None:
        nonlocal calls
        calls += 1
        handled.add(event.uniqueid)

    bus.subscribe(ChannelHungUp, handle, name="store")
    await bus.start()
    for i in range(300):
        bus.publish(hangup(i))  # never blocks, Redis up or down
        if i == 100:
            await wait_for(lambda: len(handled) >= 50)
            redis_server.kill()
        if i == 200:
            down = bus.stats()  # what health shows an operator while Redis is gone
            await asyncio.to_thread(redis_server.start)
        await asyncio.sleep(0.002)
    await wait_for(lambda: len(handled) == 300, seconds=30)
    await bus.drain()
    assert not down.reachable and down.held > 0 and down.engine == "redis"
    assert bus.stats() == BusStats("redis", reachable=True, held=0, dropped=0)
    await bus.stop()
    assert handled == {str(i) for i in range(300)}
    assert calls >= 300  # at least once; a redelivery after the crash is allowed


async def test_failing_handler_does_not_stop_its_consumer(redis_server: RedisServer) -> None:
    bus = make_bus(redis_server, new_stream(), "p1")
    ok: list[str] = []

    async def sometimes(event: ChannelHungUp) -> None:
        if int(event.uniqueid) % 2:
            raise RuntimeError("boom")
        ok.append(event.uniqueid)

    bus.subscribe(ChannelHungUp, sometimes, name="flaky")
    await bus.start()
    for i in range(10):
        bus.publish(hangup(i))
    await bus.drain()
    await bus.stop()
    assert ok == ["0", "2", "4", "6", "8"]


async def test_outbox_is_bounded_and_says_so(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RedisStreamBus(redis_server.url, stream=new_stream(), consumer="p1", outbox_limit=100)
    got: list[Event] = []
    bus.subscribe(ChannelHungUp, collector(got), name="store")
    for i in range(150):
        bus.publish(hangup(i))  # not started: held, as while Redis is down
    assert "bus outbox full (100 events" in caplog.text
    await bus.start()
    await bus.drain()
    await bus.stop()
    assert [e.uniqueid for e in got] == [str(i) for i in range(100)]  # type: ignore[attr-defined]
    assert "50 events were dropped" in caplog.text
    assert bus.stats().dropped == 50
