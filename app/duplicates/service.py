"""Duplicates (并单): suggestions for a ticket, merging it into a master, and unmerging.

Call flow: the desk saves a ticket (``PATCH /api/tickets/{id}``) or a channel's request
lands in the pool (``app.intake``); the desk and the dispatch page then ask
``GET /api/tickets/{id}/duplicates`` → :meth:`DuplicateService.suggestions` fetches the
candidates by two indexed queries (the same caller: ``ix_tickets_caller_created``; the same
category, and district when the ticket has one: ``ix_tickets_category_created``; both
within the window, newest first, and still open to be a master) and ``casework.duplicates``
scores them in Python. Suggestions are computed on read, not stored: a candidate merged,
closed or edited since is never shown stale, and the two queries are index ranges.

:meth:`merge` (并单) moves the ticket to 已并单 through ``app.cases.service.transition`` (its
audit row and its channel's push-back) and links both ways: ``merged_into`` on the ticket,
its id and channel in the master's ``duplicates``. From then on the master's moves are told
to the merged ticket's channel (``app.intake.pushback``) and its reply owes the merged
ticket's citizen a callback too (``app.callbacks.service.schedule_for``). :meth:`unmerge`
(supervisors, within ``unmerge_hours``) returns the ticket to the state it had, audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cases.service import as_utc, record_move, transition
from app.models import Ticket
from casework.duplicates import (
    MERGEABLE,
    DuplicateRules,
    MergeRefused,
    Request,
    Suggestion,
    check_unmerge,
    unmerge_deadline,
)
from casework.lifecycle import TicketState as S
from core.duplicates import DuplicateSettings
from core.events import utcnow

# A master is a ticket still being handled: its reply and close are still to come, so the
# merged ticket's citizen is told them (a replied or closed ticket would leave them unheard).
MASTER_STATES = frozenset({S.DRAFT, S.REGISTERED, S.DISPATCHED, S.ACCEPTED, S.DISPUTED, S.REOPENED})


@dataclass(frozen=True, slots=True)
class Suggested:
    """A suggestion with what the desk shows of the candidate."""

    suggestion: Suggestion
    ticket: Ticket


def as_request(ticket: Ticket) -> Request:
    text = " ".join(part for part in (ticket.summary, ticket.description) if part)
    return Request(
        id=ticket.id,
        created_at=as_utc(ticket.created_at),
        caller=ticket.caller,
        category=ticket.category,
        district=ticket.district,
        address=ticket.address,
        text=text,
    )


class DuplicateService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: DuplicateSettings,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self.rules = DuplicateRules(settings)
        self._now = now

    def unmerge_until(self, ticket: Ticket) -> datetime | None:
        if ticket.merged_at is None:
            return None
        return unmerge_deadline(as_utc(ticket.merged_at), self.settings)

    # --- suggestions -----------------------------------------------------------------------

    async def suggestions(self, ticket_id: int) -> list[Suggested]:
        """Likely duplicates of the ticket, best first; none once it left the desk's hands
        (only a draft or registered ticket can be merged)."""
        async with self._sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                raise LookupError(f"ticket {ticket_id} does not exist")
            if ticket.state not in MERGEABLE:
                return []
            candidates = await self._candidates(session, ticket)
        by_id = {c.id: c for c in candidates}
        found = self.rules.suggest(as_request(ticket), [as_request(c) for c in candidates])
        return [Suggested(s, by_id[s.ticket_id]) for s in found]

    async def _candidates(self, session: AsyncSession, ticket: Ticket) -> Sequence[Ticket]:
        window = timedelta(days=self.settings.window_days)
        created = as_utc(ticket.created_at)
        recent = (
            Ticket.id != ticket.id,
            Ticket.created_at >= created - window,
            Ticket.created_at <= created + window,
            Ticket.state.in_(MASTER_STATES),
        )
        limit = self.settings.max_candidates
        rows: dict[int, Ticket] = {}
        if ticket.caller:
            same_caller = (
                select(Ticket)
                .where(Ticket.caller == ticket.caller, *recent)
                .order_by(Ticket.created_at.desc())
                .limit(limit)
            )
            rows.update((t.id, t) for t in await session.scalars(same_caller))
        if ticket.category:
            place = select(Ticket).where(Ticket.category == ticket.category, *recent)
            if ticket.district:
                place = place.where(Ticket.district == ticket.district)
            place = place.order_by(Ticket.created_at.desc()).limit(limit)
            rows.update((t.id, t) for t in await session.scalars(place))
        return list(rows.values())

    # --- merge and unmerge -----------------------------------------------------------------

    async def merge(
        self,
        ticket_id: int,
        master_id: int,
        *,
        actor: str,
        reason: str | None = None,
        agent_id: str | None = None,
    ) -> Ticket:
        """并单: the ticket becomes 已并单 under ``master_id``; both rows are locked first, in
        id order, so two merges of the same pair cannot interleave. ``agent_id``: an agent
        merges only a ticket of theirs (or nobody's), as at the desk (PermissionError)."""
        if ticket_id == master_id:
            raise MergeRefused(f"ticket {ticket_id} cannot be merged into itself")
        async with self._sessions.begin() as session:
            locked = {}
            for row_id in sorted((ticket_id, master_id)):
                row = await session.get(Ticket, row_id, with_for_update=True)
                if row is None:
                    raise LookupError(f"ticket {row_id} does not exist")
                locked[row_id] = row
            ticket, master = locked[ticket_id], locked[master_id]
            if agent_id is not None and ticket.agent_id not in (None, agent_id):
                raise PermissionError(f"ticket {ticket_id} belongs to agent {ticket.agent_id}")
            if ticket.state not in MERGEABLE:
                raise MergeRefused(
                    f"ticket {ticket_id} is {ticket.state.value}: only a draft or registered "
                    "ticket can be merged"
                )
            if ticket.duplicates:
                raise MergeRefused(
                    f"ticket {ticket_id} is the master of {_ids(ticket)}: merge those into "
                    f"ticket {master_id} first"
                )
            if master.state not in MASTER_STATES:
                raise MergeRefused(
                    f"ticket {master_id} is {master.state.value}: the master must still be "
                    "in hand (not replied, closed or merged)"
                )
            now = self._now()
            ticket.merged_into = master.id
            ticket.merged_at = now
            ticket.merged_from = ticket.state
            note = f"并入工单 {master.id}" + (f"：{reason}" if reason else "")
            transition(session, ticket, S.MERGED, actor=actor, reason=note[:200], at=now)
            # A new list: the JSON column is saved only when it is assigned.
            master.duplicates = [
                *(master.duplicates or []),
                {"id": ticket.id, "channel": ticket.channel},
            ]
        return ticket

    async def unmerge(self, ticket_id: int, *, actor: str, reason: str | None = None) -> Ticket:
        """撤销并单 within the time limit: back to the state it had, audited and pushed back."""
        async with self._sessions.begin() as session:
            ticket = await session.get(Ticket, ticket_id, with_for_update=True)
            if ticket is None:
                raise LookupError(f"ticket {ticket_id} does not exist")
            if ticket.state is not S.MERGED:
                raise MergeRefused(f"ticket {ticket_id} is {ticket.state.value}, not merged")
            now = self._now()
            merged_at = as_utc(ticket.merged_at) if ticket.merged_at else None
            back = check_unmerge(ticket.id, ticket.merged_from, merged_at, now, self.settings)
            master = (
                await session.get(Ticket, ticket.merged_into, with_for_update=True)
                if ticket.merged_into
                else None
            )
            if master is not None:
                master.duplicates = [d for d in master.duplicates or [] if d["id"] != ticket.id]
            note = f"撤销并单（原并入工单 {ticket.merged_into}）" + (
                f"：{reason}" if reason else ""
            )
            # Not a lifecycle move (merged is terminal for the workflow): checked above by
            # check_unmerge, then recorded as any move is (audit row, push-back).
            record_move(session, ticket, back, actor=actor, reason=note[:200], at=now)
            ticket.merged_into = None
            ticket.merged_at = None
            ticket.merged_from = None
        return ticket


def _ids(ticket: Ticket) -> str:
    return ", ".join(str(d["id"]) for d in ticket.duplicates or [])
