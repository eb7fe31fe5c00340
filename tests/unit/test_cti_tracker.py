"""CallTracker: recorded AMI traffic in, core bus events out."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core.bus import Handler, InProcessBus
from core.events import (
    AgentCallEnded,
    AgentConnected,
    AgentRinging,
    CallerAbandoned,
    CallQueued,
    CentreJoined,
    ChannelHungUp,
    Event,
)
from cti.ami_events import (
    AgentConnect,
    AmiEvent,
    BridgeEnter,
    FullyBooted,
    Hangup,
    Newchannel,
    QueueCallerJoin,
    VarSet,
    load_ami_recording,
    parse_event,
)
from cti.tracker import CallTracker, parse_ticket_id

DATA = Path(__file__).parent / "data" / "ami"
NODE = "node1"
CALLER_UID = "1795330000.0"
AGENT_UID = "1795330012.1"
E = TypeVar("E", bound=AmiEvent)
EV = TypeVar("EV", bound=Event)


class RecordingBus:
    """A core.bus.Bus that keeps what is published (the tracker never subscribes)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def subscribe(
        self, kind: type[EV], handler: Handler[EV], *, name: str, fanout: bool = False
    ) -> None:
        raise AssertionError("the tracker only publishes")


def recording(name: str) -> list[AmiEvent]:
    events = [parse_event(fields) for fields in load_ami_recording(DATA / name)]
    return [e for e in events if e is not None]


async def replay(name: str) -> tuple[CallTracker, list[Event]]:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    for event in recording(name):
        await tracker.handle(event)
    return tracker, bus.events


def without_time(event: Event) -> dict[str, object]:
    data = event.to_dict()
    del data["at"], data["event_id"]
    return data


async def test_answered_call_publishes_the_call_story() -> None:
    tracker, published = await replay("answered_call.ami")
    assert [without_time(e) for e in published] == [
        without_time(e)
        for e in [
            CallQueued(
                node_id=NODE,
                uniqueid=CALLER_UID,
                linkedid=CALLER_UID,
                queue="main",
                caller="13800000001",
                dialled="12345",
                position=1,
                ticket_id=42,
            ),
            AgentRinging(
                node_id=NODE,
                uniqueid=CALLER_UID,
                queue="main",
                agent_id="1001",
                caller="13800000001",
            ),
            AgentConnected(
                node_id=NODE,
                uniqueid=CALLER_UID,
                linkedid=CALLER_UID,
                queue="main",
                agent_id="1001",
                agent_channel="PJSIP/1001-00000001",
                caller="13800000001",
                dialled="12345",
                hold_seconds=12,
                ticket_id=42,
                caller_channel="PJSIP/carrier-00000000",
            ),
            AgentCallEnded(
                node_id=NODE,
                uniqueid=CALLER_UID,
                queue="main",
                agent_id="1001",
                talk_seconds=187,
                reason="caller",
            ),
            ChannelHungUp(
                node_id=NODE,
                uniqueid=CALLER_UID,
                linkedid=CALLER_UID,
                channel="PJSIP/carrier-00000000",
                cause=16,
                cause_text="Normal Clearing",
            ),
            ChannelHungUp(
                node_id=NODE,
                uniqueid=AGENT_UID,
                linkedid=CALLER_UID,
                channel="PJSIP/1001-00000001",
                cause=16,
                cause_text="Normal Clearing",
            ),
        ]
    ]
    assert tracker.active_channels == 0


async def test_abandoned_call_publishes_abandon_and_hangups() -> None:
    tracker, published = await replay("abandoned_call.ami")
    assert [type(e) for e in published] == [
        CallQueued,
        AgentRinging,
        ChannelHungUp,
        CallerAbandoned,
        ChannelHungUp,
    ]
    queued, abandoned = published[0], published[3]
    assert isinstance(queued, CallQueued) and queued.ticket_id == 43
    assert isinstance(abandoned, CallerAbandoned)
    assert (abandoned.uniqueid, abandoned.queue) == ("1795330400.2", "main")
    assert (abandoned.hold_seconds, abandoned.position) == (23, 1)
    assert tracker.active_channels == 0


async def test_state_lives_until_the_caller_hangs_up() -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    events = recording("answered_call.ami")
    for event in events[:-2]:
        await tracker.handle(event)
    assert tracker.active_channels == 2  # caller and agent legs
    await tracker.handle(events[-2])  # the caller's Hangup
    assert tracker.active_channels == 1


def caller_event(kind: type[E], **fields: Any) -> E:
    base: dict[str, Any] = {
        "channel": "PJSIP/carrier-00000009",
        "uniqueid": "9.9",
        "linkedid": "9.9",
        "caller_id_num": "13700000009",
        "context": "hotline-inbound",
        "exten": "12345",
    }
    return kind(**(base | fields))


async def test_dialled_number_and_ticket_come_from_earlier_events_when_later_lack_them() -> None:
    # No channelvars configured: the DID is the Newchannel's exten, the ticket comes by VarSet,
    # and by the time the call joins the queue the dialplan has moved it to exten "s".
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    await tracker.handle(caller_event(Newchannel, exten="12369"))
    await tracker.handle(caller_event(VarSet, exten="s", variable="TICKET_ID", value="77"))
    await tracker.handle(
        caller_event(
            QueueCallerJoin, exten="s", caller_id_num=None, queue="main", position=2, count=2
        )
    )
    [queued] = bus.events
    assert isinstance(queued, CallQueued)
    assert (queued.dialled, queued.ticket_id, queued.caller, queued.position) == (
        "12369",
        77,
        "13700000009",
        2,
    )


async def test_hotline_dnis_variable_wins_over_the_extension() -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    await tracker.handle(
        caller_event(
            QueueCallerJoin,
            exten="s",
            chan_variables={"HOTLINE_DNIS": "12328", "TICKET_ID": ""},
            queue="main",
            position=1,
            count=1,
        )
    )
    [queued] = bus.events
    assert isinstance(queued, CallQueued)
    assert (queued.dialled, queued.ticket_id) == ("12328", None)


@pytest.mark.parametrize("raw", ["abc", "4x2", "-3", "0", "４２", "1.5"])
async def test_non_integer_ticket_id_gives_none(raw: str) -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    await tracker.handle(
        caller_event(
            QueueCallerJoin, chan_variables={"TICKET_ID": raw}, queue="main", position=1, count=1
        )
    )
    [queued] = bus.events
    assert isinstance(queued, CallQueued) and queued.ticket_id is None


def test_parse_ticket_id() -> None:
    assert parse_ticket_id(" 42 ") == 42
    assert parse_ticket_id(None) is None
    assert parse_ticket_id("") is None


async def test_irrelevant_events_publish_nothing() -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    events = recording("answered_call.ami")
    for event in events:
        if isinstance(event, BridgeEnter | Newchannel | VarSet):
            await tracker.handle(event)
    await tracker.handle(FullyBooted(status="Fully Booted"))
    assert bus.events == []


async def test_forgotten_state_is_bounded() -> None:
    tracker = CallTracker(RecordingBus(), NODE, max_tracked=2)
    for n in range(5):
        await tracker.handle(caller_event(Newchannel, uniqueid=f"{n}.0", linkedid=f"{n}.0"))
    assert tracker.active_channels == 2
    tracker.reset()
    assert tracker.active_channels == 0


class FlakyBus(RecordingBus):
    def publish(self, event: Event) -> None:
        if not self.events and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError("subscriber store down")
        super().publish(event)


async def test_run_consumes_the_queue_in_order_and_survives_a_failure() -> None:
    bus = FlakyBus()
    tracker = CallTracker(bus, NODE)
    queue: asyncio.Queue[AmiEvent] = asyncio.Queue()
    for event in recording("answered_call.ami"):
        queue.put_nowait(event)
    task = asyncio.create_task(tracker.run(queue))
    async with asyncio.timeout(2):
        await queue.join()
    task.cancel()
    # The first publication (CallQueued) failed; every later one still went out, in order.
    assert [type(e) for e in bus.events] == [
        AgentRinging,
        AgentConnected,
        AgentCallEnded,
        ChannelHungUp,
        ChannelHungUp,
    ]


async def test_run_publishes_on_the_in_process_bus() -> None:
    bus = InProcessBus()
    seen: list[Event] = []

    async def keep(event: AgentConnected) -> None:
        seen.append(event)

    bus.subscribe(AgentConnected, keep, name="screen-pop")
    await bus.start()
    tracker = CallTracker(bus, NODE)
    queue: asyncio.Queue[AmiEvent] = asyncio.Queue()
    task = asyncio.create_task(tracker.run(queue))
    for event in recording("answered_call.ami"):
        queue.put_nowait(event)
    async with asyncio.timeout(2):
        await queue.join()
        await bus.drain()
    task.cancel()
    await bus.stop()
    [connected] = seen
    assert isinstance(connected, AgentConnected)
    assert (connected.agent_id, connected.ticket_id) == ("1001", 42)


async def test_agent_hangup_does_not_drop_the_callers_state() -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, NODE)
    events = recording("answered_call.ami")
    for event in events[:4]:  # up to and including the agent's Newchannel
        await tracker.handle(event)
    agent_hangup = next(e for e in events if isinstance(e, Hangup) and e.uniqueid == AGENT_UID)
    await tracker.handle(agent_hangup)
    # A later event without channelvars still gets the dialled number and ticket from state.
    connect = events[5]
    assert isinstance(connect, AgentConnect)
    bare = dataclasses.replace(connect, chan_variables={}, exten="s")
    await tracker.handle(bare)
    connected = bus.events[-1]
    assert isinstance(connected, AgentConnected)
    assert (connected.dialled, connected.ticket_id) == ("12345", 42)


async def test_replay_of_traffic_recorded_from_our_asterisk_22() -> None:
    """The wire text AmiObserver recorded during the end-to-end call-spine test."""
    bus = RecordingBus()
    tracker = CallTracker(bus, "e2e")
    for event in recording("asterisk22_answered_call.ami"):
        await tracker.handle(event)
    by_kind = {type(e): e for e in bus.events}
    connected = by_kind[AgentConnected]
    assert isinstance(connected, AgentConnected)
    assert (connected.agent_id, connected.queue, connected.caller, connected.dialled) == (
        "1001",
        "main",
        "13800000001",
        "12345",
    )
    assert connected.ticket_id == 1
    assert connected.uniqueid == connected.linkedid
    assert connected.agent_channel.startswith("PJSIP/1001-")
    assert [type(e) for e in bus.events if not isinstance(e, ChannelHungUp)] == [
        CallQueued,
        AgentRinging,
        AgentConnected,
        AgentCallEnded,
    ]
    assert tracker.active_channels == 0


async def test_a_centre_entering_our_call_bridge_is_reported() -> None:
    bus = RecordingBus()
    tracker = CallTracker(bus, "e2e")
    (enter,) = [
        parse_event(
            {
                "Event": "BridgeEnter",
                "Channel": "PJSIP/peer-119-00000005",
                "Uniqueid": "e2e-2.9",
                "Linkedid": "e2e-2.9",
                "BridgeUniqueid": "b-1",
                "BridgeNumChannels": "3",
                "ChanVariable": ["HOTLINE_CALL_ID=e2e:e2e-1.5", "TICKET_ID="],
            }
        )
    ]
    assert enter is not None
    await tracker.handle(enter)
    joined = [e for e in bus.events if isinstance(e, CentreJoined)]
    assert [(j.call_id, j.target, j.channel) for j in joined] == [
        ("e2e:e2e-1.5", "119", "PJSIP/peer-119-00000005")
    ]
