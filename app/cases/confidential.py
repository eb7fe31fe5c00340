"""保密件: confidential tickets (whistle-blowing, personal matters).

A confidential ticket's citizen data (the caller's number; tickets hold no name) is masked at
the HTTP edge for whoever lacks the right, and every time someone with the right receives it
unmasked, a ``confidential_views`` row says who, when and through which route.

Who has the right: supervisors and admins (the service token too); the agent who took the call
while the ticket is still on the desk (受理中 or 已受理, the states the desk edits). Dispatchers
and departments never. The public lookup shows no number at all, confidential or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.service import Principal, Role
from app.cases.edits import EDITABLE
from app.models import ConfidentialView, Ticket
from casework.lifecycle import TicketState
from core.events import utcnow

PRIVILEGED = frozenset({Role.SUPERVISOR, Role.ADMIN})


def mask_number(number: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; a short number is starred whole."""
    if not number:
        return number
    if len(number) >= 8:
        return f"{number[:3]}****{number[-4:]}"
    return "*" * len(number)


@dataclass(frozen=True, slots=True)
class Secret:
    """What decides who may see a confidential ticket's data unmasked."""

    ticket_id: int
    agent_id: str | None
    state: TicketState


def may_unmask(who: Principal, secret: Secret) -> bool:
    if who.role in PRIVILEGED:
        return True
    return (
        who.role is Role.AGENT
        and who.agent_id is not None
        and secret.agent_id == who.agent_id
        and secret.state in EDITABLE
    )


class ConfidentialLog:
    """Which tickets are confidential, and the log of their unmasked views."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], now: Callable[[], datetime] = utcnow
    ) -> None:
        self._sessions = sessions
        self._now = now

    async def secrets(self, ticket_ids: Iterable[int | None]) -> dict[int, Secret]:
        """The confidential tickets among these, by id (an empty dict: none is)."""
        ids = {i for i in ticket_ids if i is not None}
        if not ids:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(Ticket.id, Ticket.agent_id, Ticket.state).where(
                    Ticket.id.in_(ids), Ticket.confidential.is_(True)
                )
            )
            return {r.id: Secret(r.id, r.agent_id, r.state) for r in rows}

    async def record(self, ticket_ids: Iterable[int], who: Principal, route: str) -> None:
        """Log that ``who`` received these tickets' data unmasked (one row per ticket)."""
        ids = sorted(set(ticket_ids))
        if not ids:
            return
        at = self._now()
        async with self._sessions.begin() as session:
            session.add_all(
                ConfidentialView(ticket_id=i, who=who.actor, at=at, route=route[:120]) for i in ids
            )

    async def views(self, ticket_id: int) -> list[ConfidentialView]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(ConfidentialView)
                .where(ConfidentialView.ticket_id == ticket_id)
                .order_by(ConfidentialView.id)
            )
            return list(found.all())

    async def masked_for(
        self, who: Principal, ticket_ids: Iterable[int | None], route: str
    ) -> set[int]:
        """The confidential tickets among these that ``who`` must see masked; the others that
        are confidential are logged as viewed unmasked by ``who`` through ``route``."""
        found = await self.secrets(ticket_ids)
        shown = [i for i, secret in found.items() if may_unmask(who, secret)]
        await self.record(shown, who, route)
        return set(found) - set(shown)
