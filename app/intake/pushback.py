"""What a ticket's state change owes its channel: the outbox row (回传) and the first-reply
mark, written by ``app.cases.service.transition`` in the transaction that moves the ticket
(a bus event after the commit could be lost to a crash; a row in the same transaction cannot).

Only models here, so the case service can call it without importing the intake service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    """Add the push-back row for a channel's ticket, and mark its first reply; a master's
    move is also told to the channels of the tickets merged into it (并单)."""
    now = at or utcnow()
    for merged in ticket.duplicates or ():
        if merged.get("channel"):
            session.add(
                _row(merged["id"], merged["channel"], _merged_payload(merged, ticket, to, now), now)
            )
    if ticket.channel is None:
        return
    if ticket.first_reply_at is None and not actor.startswith(_NOT_A_REPLY):
        ticket.first_reply_at = now
    payload = {
        "ticket_number": str(ticket.id),
        "state": to.value,
        "state_zh": LABELS_ZH[to],
        "at": now.isoformat(),
        "department": ticket.department,
    }
    if ticket.merged_into is not None and to is TicketState.MERGED:
        payload["merged_into"] = str(ticket.merged_into)
    row = _row(None, ticket.channel, payload, now)
    row.ticket = ticket
    session.add(row)


def _merged_payload(
    merged: dict[str, Any], master: Ticket, to: TicketState, now: datetime
) -> dict[str, Any]:
    """What a merged ticket's channel is told when its master moves: still merged, into
    which ticket, and where the master now is (replied, closed …)."""
    return {
        "ticket_number": str(merged["id"]),
        "state": TicketState.MERGED.value,
        "state_zh": LABELS_ZH[TicketState.MERGED],
        "at": now.isoformat(),
        "department": master.department,
        "merged_into": str(master.id),
        "master_state": to.value,
        "master_state_zh": LABELS_ZH[to],
    }


def _row(ticket_id: int | None, channel: str, payload: dict[str, Any], now: datetime) -> PushBack:
    return PushBack(
        ticket_id=ticket_id,
        channel=channel,
        state=payload["state"],
        payload=payload,
        status="pending",
        next_at=now,
        created_at=now,
    )
