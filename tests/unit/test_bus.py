"""The in-process bus: typed delivery, per-subscriber order, isolation of failures."""

from __future__ import annotations

import asyncio

from core.bus import BusStats, InProcessBus
from core.events import AmiLinkChanged, ChannelHungUp, Event


def hangup(n: int) -> ChannelHungUp:
    return ChannelHungUp(
        node_id="n",
        uniqueid=str(n),
        linkedid=str(n),
        channel="c",
        cause=16,
        cause_text="Normal Clearing",
    )


async def test_delivers_by_type_in_order() -> None:
    bus = InProcessBus()
    hangups: list[str] = []
    everything: list[str] = []

    async def on_hangup(e: ChannelHungUp) -> None:
        hangups.append(e.uniqueid)

    async def on_any(e: Event) -> None:
        everything.append(e.name)

    bus.subscribe(ChannelHungUp, on_hangup, name="h")
    bus.subscribe(Event, on_any, name="all")
    await bus.start()
    for i in range(50):
        bus.publish(hangup(i))
    bus.publish(AmiLinkChanged(node_id="n", connected=True))
    await bus.drain()
    await bus.stop()
    assert hangups == [str(i) for i in range(50)]
    assert everything == ["channel.hangup"] * 50 + ["ami.link"]


async def test_failing_or_slow_subscriber_does_not_block_others() -> None:
    bus = InProcessBus()
    fast: list[str] = []
    gate = asyncio.Event()

    async def broken(e: ChannelHungUp) -> None:
        raise RuntimeError("boom")

    async def slow(e: ChannelHungUp) -> None:
        await gate.wait()

    async def ok(e: ChannelHungUp) -> None:
        fast.append(e.uniqueid)

    bus.subscribe(ChannelHungUp, broken, name="broken")
    bus.subscribe(ChannelHungUp, slow, name="slow")
    bus.subscribe(ChannelHungUp, ok, name="ok")
    await bus.start()
    bus.publish(hangup(1))
    bus.publish(hangup(2))
    for _ in range(100):
        if len(fast) == 2:
            break
        await asyncio.sleep(0.01)
    assert fast == ["1", "2"]
    # The slow subscriber holds the first event; its second waits in its queue.
    assert bus.stats() == BusStats("memory", reachable=True, held=1, dropped=0)
    gate.set()
    await bus.stop()


def test_event_json_payload() -> None:
    payload = hangup(7).to_dict()
    assert payload["event"] == "channel.hangup"
    assert payload["uniqueid"] == "7"
    assert isinstance(payload["at"], str) and payload["at"].endswith("+00:00")
