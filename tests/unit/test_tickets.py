"""Ticket service on SQLite and a real PostgreSQL: drafts at call start, the screen pop on
answer, the state machine and its audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from app.cases.service import TicketService, transition
from app.models import Ticket, TicketTransition
from casework.lifecycle import ALLOWED, InvalidTransition, TicketState
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import CallerAbandoned, ChannelHungUp, ScreenPop
from tests.unit.call_events import NODE, connected, inbound


class Pops:
    def __init__(self) -> None:
        self.got: list[ScreenPop] = []

    async def __call__(self, event: ScreenPop) -> None:
        self.got.append(event)


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[tuple[TicketService, Pops, InProcessBus]]:
    engine = create_engine(db_url)
    bus = InProcessBus()
    pops = Pops()
    bus.subscribe(ScreenPop, pops, name="test.pops")
    await bus.start()
    try:
        yield TicketService(session_factory(engine), bus, NODE), pops, bus
    finally:
        await bus.stop()
        await engine.dispose()


async def test_open_call_writes_call_and_draft_with_audit(service: tuple) -> None:
    svc, _, _ = service
    opened = await svc.open_call(inbound("100.1"))
    assert opened.call_id == "n1:100.1"
    ticket = await svc.get_ticket(opened.ticket_id)
    assert ticket is not None
    assert ticket.state is TicketState.DRAFT
    assert (ticket.caller, ticket.dialled, ticket.source) == ("13800000001", "12345", "phone:12345")
    assert [(t.from_state, t.to_state, t.actor) for t in ticket.transitions] == [
        (None, TicketState.DRAFT, "ivr")
    ]
    (call,) = ticket.calls
    assert call.recording_in == "100.1-in.wav" and call.recording_out == "100.1-out.wav"


async def test_open_call_is_idempotent_per_call(service: tuple) -> None:
    svc, _, _ = service
    first = await svc.open_call(inbound("100.2"))
    again = await svc.open_call(inbound("100.2"))
    assert again == first


async def test_agent_connected_links_agent_and_pops_with_history(service: tuple) -> None:
    svc, pops, bus = service
    old = await svc.open_call(inbound("200.1"))
    await svc.open_call(inbound("200.9", caller="13900000009"))  # someone else's ticket
    new = await svc.open_call(inbound("200.2"))
    await svc.on_agent_connected(connected("200.2", new.ticket_id))
    await bus.drain()
    (pop,) = pops.got
    assert (pop.agent_id, pop.ticket_id, pop.call_id) == ("1001", new.ticket_id, "n1:200.2")
    assert [t.id for t in pop.earlier_tickets] == [old.ticket_id]
    ticket = await svc.get_ticket(new.ticket_id)
    assert ticket is not None and ticket.agent_id == "1001"
    (call,) = ticket.calls
    assert (call.agent_id, call.outcome, call.hold_seconds) == ("1001", "answered", 7)


async def test_agent_connected_without_draft_writes_one_late(service: tuple) -> None:
    """FastAGI was down: the agent still gets a ticket, written by the CTI path."""
    svc, pops, bus = service
    await svc.on_agent_connected(connected("300.1", None))
    await bus.drain()
    (pop,) = pops.got
    ticket = await svc.get_ticket(pop.ticket_id)
    assert ticket is not None
    assert ticket.caller == "13800000001"
    assert [t.actor for t in ticket.transitions] == ["cti"]


async def test_abandon_and_hangup_close_the_call(service: tuple) -> None:
    svc, _, _ = service
    opened = await svc.open_call(inbound("400.1"))
    await svc.on_abandoned(
        CallerAbandoned(node_id=NODE, uniqueid="400.1", queue="main", hold_seconds=42, position=1)
    )
    await svc.on_hangup(
        ChannelHungUp(
            node_id=NODE,
            uniqueid="400.1",
            linkedid="400.1",
            channel="PJSIP/carrier-1",
            cause=16,
            cause_text="Normal Clearing",
        )
    )
    (call,) = await svc.list_calls(limit=10, caller="13800000001")
    assert call.id == opened.call_id
    assert (call.outcome, call.hold_seconds) == ("abandoned", 42)
    assert call.ended_at is not None


async def test_concurrent_calls_get_distinct_drafts(service: tuple) -> None:
    svc, _, _ = service
    opened = await asyncio.gather(*(svc.open_call(inbound(f"500.{i}")) for i in range(10)))
    assert len({o.ticket_id for o in opened}) == 10


async def test_transition_rules_and_audit(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as s:
            t = Ticket(source="web", state=TicketState.DRAFT)
            s.add(t)
            transition(s, t, TicketState.REGISTERED, actor="agent:1001")
            transition(s, t, TicketState.DISPATCHED, actor="agent:1001", reason="供暖")
            with pytest.raises(InvalidTransition):
                transition(s, t, TicketState.CLOSED, actor="agent:1001")
        async with sessions() as s:
            rows = (await s.scalars(select(TicketTransition).order_by(TicketTransition.id))).all()
            assert [(r.from_state, r.to_state) for r in rows] == [
                (TicketState.DRAFT, TicketState.REGISTERED),
                (TicketState.REGISTERED, TicketState.DISPATCHED),
            ]
            assert rows[1].reason == "供暖"
            stored = await s.scalar(select(Ticket.state))
            assert stored is TicketState.DISPATCHED
    finally:
        await engine.dispose()


def test_lifecycle_has_no_dead_ends_but_terminal_states() -> None:
    terminal = {s for s, nxt in ALLOWED.items() if not nxt}
    assert terminal == {TicketState.CLOSED, TicketState.MERGED}
    reachable = {TicketState.DRAFT}
    frontier = [TicketState.DRAFT]
    while frontier:
        for nxt in ALLOWED[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(TicketState)


async def test_retired_line_ticket_carries_the_line_category(service: tuple) -> None:
    svc, _, _ = service
    opened = await svc.open_call(
        inbound("600.1", "13800000006", dialled="12369", route="notice", category="生态环境")
    )
    ticket = await svc.get_ticket(opened.ticket_id)
    assert ticket is not None
    assert (ticket.category, ticket.source) == ("生态环境", "phone:12369")
    assert ticket.calls[0].route == "notice"


async def test_cancelled_number_records_the_call_without_a_ticket(service: tuple) -> None:
    svc, _, _ = service
    opened = await svc.open_call(
        inbound(
            "600.2",
            "13800000007",
            dialled="12328",
            route="stopped",
            category="粮食",
            wants_ticket=False,
        )
    )
    assert opened.ticket_id is None
    (rec,) = await svc.list_calls(limit=5, caller="13800000007")
    assert (rec.route, rec.ticket_id) == ("stopped", None)


async def test_handover_from_110_is_the_ticket_source(service: tuple) -> None:
    svc, _, _ = service
    opened = await svc.open_call(inbound("600.3", "110", source="110"))
    ticket = await svc.get_ticket(opened.ticket_id)
    assert ticket is not None and ticket.source == "handover:110"
