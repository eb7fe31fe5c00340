"""Saving the ticket at the desk: the agent who took the call writes it, registering moves the
draft to 已受理 with its audit row, and nothing is lost on a refused save."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.auth.service import Principal, Role
from app.cases.edits import TicketEdit, TicketEditError, TicketEditor
from app.cases.service import TicketService
from app.departments.service import DepartmentService
from casework.lifecycle import TicketState
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from tests.unit.call_events import NODE, connected, inbound

LI = Principal(username="li", role=Role.AGENT, agent_id="1001", user_id=1)
WANG = Principal(username="wang", role=Role.AGENT, agent_id="1002", user_id=2)
BOSS = Principal(username="boss", role=Role.SUPERVISOR, user_id=3)


@pytest.fixture
async def services(db_url: str) -> AsyncIterator[tuple[TicketService, TicketEditor]]:
    engine = create_engine(db_url)
    bus = InProcessBus()
    await bus.start()
    try:
        sessions = session_factory(engine)
        editor = TicketEditor(sessions, DepartmentService(sessions))
        yield TicketService(sessions, bus, NODE), editor
    finally:
        await bus.stop()
        await engine.dispose()


async def test_agent_saves_and_registers_its_ticket(
    services: tuple[TicketService, TicketEditor],
) -> None:
    tickets, editor = services
    opened = await tickets.open_call(inbound("300.1"))
    assert opened.ticket_id is not None
    await tickets.on_agent_connected(connected("300.1", opened.ticket_id))
    tid = opened.ticket_id

    with pytest.raises(TicketEditError) as other:
        await editor.save(tid, TicketEdit(description="x"), WANG)
    assert other.value.status == 403

    # Registering without a category or description is refused; the draft keeps what it had.
    with pytest.raises(TicketEditError) as missing:
        await editor.save(tid, TicketEdit(address="幸福路1号", register_ticket=True), LI)
    assert missing.value.status == 422
    ticket = await tickets.get_ticket(tid)
    assert ticket is not None and ticket.state is TicketState.DRAFT and ticket.address is None

    await editor.save(
        tid,
        TicketEdit(
            category="城市管理",
            description="  路灯坏了，晚上很黑  ",
            address="幸福路1号",
            urgency="urgent",
            contact_consent=True,
            register_ticket=True,
        ),
        LI,
    )
    ticket = await tickets.get_ticket(tid)
    assert ticket is not None
    assert (ticket.category, ticket.description, ticket.address) == (
        "城市管理",
        "路灯坏了，晚上很黑",
        "幸福路1号",
    )
    assert (ticket.urgency, ticket.contact_consent, ticket.state) == (
        "urgent",
        True,
        TicketState.REGISTERED,
    )
    last = ticket.transitions[-1]
    assert (last.from_state, last.to_state, last.actor) == (
        TicketState.DRAFT,
        TicketState.REGISTERED,
        "agent:1001",
    )
    assert ticket.calls[0].recording_in == "300.1-in.wav"  # the call and recordings stay

    # A registered ticket can still be corrected; registering again is not a second move.
    await editor.save(tid, TicketEdit(address="幸福路2号", register_ticket=True), BOSS)
    ticket = await tickets.get_ticket(tid)
    assert ticket is not None and ticket.address == "幸福路2号"
    assert [t.to_state for t in ticket.transitions] == [TicketState.DRAFT, TicketState.REGISTERED]

    with pytest.raises(TicketEditError) as gone:
        await editor.save(99999, TicketEdit(), BOSS)
    assert gone.value.status == 404
