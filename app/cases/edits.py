"""The agent saves the ticket at the desk: what the citizen asked, where, how urgent.

Call flow: the screen pop opened the draft on the desk; the agent fills the form and saves
(``PATCH /api/tickets/{id}``), which lands here. The first save with ``register`` moves the
draft to 已受理 through :func:`app.cases.service.transition` (with its audit row); later moves of
the lifecycle belong to the ticket workflow, not to the desk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.service import Principal, Role
from app.cases.service import InvalidTransition, registered_event, transition
from app.departments.service import CatalogueProblem, DepartmentService
from app.models import Ticket
from casework.lifecycle import TicketState
from core.events import Event, TicketRegistered

# States in which the desk may still change what the ticket says.
EDITABLE = frozenset({TicketState.DRAFT, TicketState.REGISTERED})


class TicketEditError(ValueError):
    """The ticket cannot be saved as asked; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class TicketEdit:
    """Fields the agent set; None leaves a field as it is."""

    category: str | None = None
    summary: str | None = None
    description: str | None = None
    address: str | None = None
    district: str | None = None  # a district's department code; "" clears it
    urgency: str | None = None
    contact_consent: bool | None = None
    confidential: bool | None = None  # 保密件
    register_ticket: bool = False


class TicketEditor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        departments: DepartmentService,
        publish: Callable[[Event], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._departments = departments
        self._publish = publish  # the bus: TicketRegistered after the commit

    async def save(self, ticket_id: int, edit: TicketEdit, who: Principal) -> Ticket:
        if edit.district and edit.district.strip():
            try:
                await self._departments.check_district(edit.district.strip(), "the ticket")
            except CatalogueProblem as exc:
                raise TicketEditError(str(exc), 422) from exc
        registered: TicketRegistered | None = None
        async with self._sessions.begin() as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketEditError(f"ticket {ticket_id} does not exist", 404)
            if who.role is Role.AGENT and ticket.agent_id not in (None, who.agent_id):
                raise TicketEditError(f"ticket {ticket_id} belongs to agent {ticket.agent_id}", 403)
            if ticket.state not in EDITABLE:
                raise TicketEditError(
                    f"ticket {ticket_id} is {ticket.state.value}: the desk no longer edits it",
                    409,
                )
            for name in ("category", "summary", "description", "address", "district", "urgency"):
                value = getattr(edit, name)
                if value is not None:
                    setattr(ticket, name, value.strip() or None)
            if edit.contact_consent is not None:
                ticket.contact_consent = edit.contact_consent
            if edit.confidential is not None:
                ticket.confidential = edit.confidential
            if who.role is Role.AGENT and ticket.agent_id is None:
                ticket.agent_id = who.agent_id
            if edit.register_ticket and ticket.state is TicketState.DRAFT:
                if not ticket.category or not (ticket.description or ticket.summary):
                    raise TicketEditError(
                        "a ticket needs a category and a description before it is registered",
                        422,
                    )
                registered = registered_event(ticket, TicketState.REGISTERED, who.actor)
                try:
                    transition(
                        session,
                        ticket,
                        TicketState.REGISTERED,
                        actor=who.actor,
                        reason="saved at the desk",
                    )
                except InvalidTransition as exc:  # pragma: no cover - EDITABLE guards it
                    raise TicketEditError(str(exc), 409) from exc
            await session.flush()
        if registered is not None and self._publish is not None:
            self._publish(registered)
        return ticket
