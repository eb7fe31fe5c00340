"""What a ticket's state change owes its channel: the outbox row (回传) and the first-reply
mark, written by ``app.cases.service.transition`` in the transaction that moves the ticket
(a bus event after the commit could be lost to a crash; a row in the same transaction cannot).

Only models here, so the case service can call it without importing the intake service.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PushBack, Ticket
from casework.lifecycle import LABELS_ZH, TicketState
from core.events import utcnow

# Actors that are the hotline itself, not a person answering the citizen.
_NOT_A_REPLY = ("intake:", "system", "ivr", "cti", "reconcile")


def on_transition(
    session: AsyncSession,
    ticket: Ticket,
    to: TicketState,
    *,
    actor: str,
    at: datetime | None = None,
) -> None:
    """Add the push-back row for a channel's ticket, and mark its first reply."""
    if ticket.channel is None:
        return
    now = at or utcnow()
    if ticket.first_reply_at is None and not actor.startswith(_NOT_A_REPLY):
        ticket.first_reply_at = now
    payload = {
        "ticket_number": str(ticket.id),
        "state": to.value,
        "state_zh": LABELS_ZH[to],
        "at": now.isoformat(),
        "department": ticket.department,
    }
    session.add(
        PushBack(
            ticket=ticket,
            channel=ticket.channel,
            state=to.value,
            payload=payload,
            status="pending",
            next_at=now,
            created_at=now,
        )
    )
