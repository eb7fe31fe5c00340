"""The case loop (接诉即办) after a ticket is registered: dispatch, grab, sign-for, reply,
disputes, extensions and supervision, with every deadline from ``casework``.

Call flow: a dispatcher sends a registered ticket to a department (direct, with the
catalogue's suggestion) or publishes it to the grab pool for the catalogue's departments →
the first claim wins (one conditional UPDATE decides it, on SQLite and PostgreSQL alike) →
the department signs for it (签收; a claim or a forced assignment is one) and the reply clock
starts → it replies (the satisfaction callback is scheduled in the same transaction), or asks
for an extension (延期, a supervisor decides) or files a dispute (派单异议: two different
reviewers before the ticket leaves). The one scheduler's ``sweep`` force-assigns unclaimed
tickets after the window (指定派发, 督办) and marks reminders and overdue tickets once.

Deadlines are stored on the ticket (``sign_due_at``, ``reply_due_at``, ``reminder_at``,
``sla_status``) so lists and sweeps filter on columns. Timestamps are stored in UTC. Every
request is one transaction; events are published after it commits. A department user sees its
own department's tickets and those of the departments below it, nothing else (404).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from app.auth.service import Principal, Role
from app.cases.service import as_utc, transition
from app.departments.service import DepartmentService
from app.intake import pushback
from app.models import (
    Dispute,
    Extension,
    GrabOffer,
    Reply,
    Supervision,
    Ticket,
    TicketTransition,
    User,
    refresh_facts,
)
from casework import CaseClock, Deadline, GrabWindow, SlaStatus, Urgency, forced_assignment
from casework.lifecycle import TicketState as S
from casework.lifecycle import check_move
from core.bus import Bus
from core.casework import CaseworkSettings
from core.events import (
    DeadlineWarning,
    DisputeDecided,
    DisputeFiled,
    Event,
    ExtensionDecided,
    ExtensionRequested,
    SignForOverdue,
    TicketClaimed,
    TicketDispatched,
    TicketForceAssigned,
    TicketOverdue,
    TicketSupervised,
    utcnow,
)

log = logging.getLogger(__name__)

SYSTEM = "system:caseloop"
# States in which a department holds the ticket and its reply clock runs.
HELD = (S.DISPATCHED, S.ACCEPTED, S.DISPUTED, S.REOPENED)
OPEN_SLA = (SlaStatus.ON_TRACK.value, SlaStatus.WARNING.value)
REVIEWERS = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
VIEWS = ("pool", "to_sign", "in_progress", "overdue", "done")
SWEEP_BATCH = 500

Then = Callable[[AsyncSession, Ticket], Awaitable[object]]


# The claim runs at every 抢单 peak and its statements differ only in values: built once.
_CLAIM_READ = select(Ticket.category, Ticket.urgency, Ticket.channel).where(
    Ticket.id == bindparam("b_id")
)
# One statement claims, signs for (签收) and starts the reply clock; its WHERE decides the race
# on every database.
_CLAIM = (
    update(Ticket)
    .where(
        Ticket.id == bindparam("b_id"),
        Ticket.state == S.DISPATCHED,
        Ticket.dispatch_mode == "grab",
        Ticket.department.is_(None),
        Ticket.grab_until >= bindparam("b_now"),
        exists().where(
            GrabOffer.ticket_id == Ticket.id, GrabOffer.department == bindparam("b_code")
        ),
    )
    .values(
        department=bindparam("b_code"),
        claimed_at=bindparam("b_now"),
        dispatched_at=bindparam("b_now"),
        state=S.ACCEPTED,
        **{
            column: bindparam(f"b_{column}")
            for column in (
                "reply_started_at",
                "reply_due_at",
                "reminder_at",
                "extended_days",
                "sla_status",
            )
        },
    )
    .execution_options(synchronize_session=False)
)
# The audit row of the claim (what ``transition`` writes, without loading the ticket).
_CLAIMED = insert(TicketTransition).values(
    ticket_id=bindparam("b_id"),
    from_state=S.DISPATCHED,
    to_state=S.ACCEPTED,
    actor=bindparam("b_actor"),
    reason="抢单",
    at=bindparam("b_now"),
)


# What a portal row shows (app.cases.http.PortalRowOut): lists load these, not whole tickets.
PORTAL_COLUMNS = (
    Ticket.id,
    Ticket.category,
    Ticket.summary,
    Ticket.description,
    Ticket.address,
    Ticket.district,
    Ticket.urgency,
    Ticket.state,
    Ticket.department,
    Ticket.dispatch_mode,
    Ticket.grab_until,
    Ticket.sign_due_at,
    Ticket.sign_overdue_at,
    Ticket.reply_due_at,
    Ticket.sla_status,
    Ticket.forced,
    Ticket.supervised,
    Ticket.confidential,  # a badge only: rows never carry the citizen's number
    Ticket.created_at,
)


class SignClocked(Protocol):
    """A ticket or a portal row: what the sign-for clock (签收) reads."""

    @property
    def state(self) -> S: ...

    @property
    def department(self) -> str | None: ...

    @property
    def sign_due_at(self) -> datetime | None: ...


class Clocked(Protocol):
    """A ticket or a portal row: what the reply clock reads."""

    @property
    def reply_due_at(self) -> datetime | None: ...

    @property
    def sla_status(self) -> str | None: ...


class CaseRefused(ValueError):
    """A case-loop request that cannot be done; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _urgency(ticket: Ticket) -> Urgency:
    return Urgency.URGENT if ticket.urgency == Urgency.URGENT.value else Urgency.NORMAL


@dataclass(frozen=True, slots=True)
class SweepResult:
    forced: int = 0
    reminded: int = 0
    overdue: int = 0
    sign_overdue: int = 0


@dataclass(frozen=True, slots=True)
class _Flag:
    """What the sweep writes when a deadline passes: the supervision row and the event."""

    kind: str
    note: str
    event: type[DeadlineWarning | TicketOverdue | SignForOverdue]


REMINDER = _Flag("reminder", "办理时限即将到期", DeadlineWarning)
OVERDUE = _Flag("overdue", "已超过办理时限", TicketOverdue)
SIGN_OVERDUE = _Flag("sign_overdue", "已超过签收时限", SignForOverdue)


class CaseLoop:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        departments: DepartmentService,
        clock: CaseClock,
        grab: GrabWindow,
        settings: CaseworkSettings,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self.departments = departments
        self.clock = clock
        self.grab = grab
        self._settings = settings
        self._now = now

    # --- who sees what ------------------------------------------------------------------------

    async def scope_of(self, who: Principal) -> frozenset[str] | None:
        """The departments whose tickets ``who`` sees; None: every ticket (not a department)."""
        if who.role is not Role.DEPARTMENT:
            return None
        return await self.departments.scope(who.department)

    async def _offered_to(
        self, session: AsyncSession, ticket_id: int, scope: frozenset[str]
    ) -> list[str]:
        rows = await session.scalars(
            select(GrabOffer.department).where(
                GrabOffer.ticket_id == ticket_id, GrabOffer.department.in_(scope)
            )
        )
        return list(rows.all())

    async def _may_see(
        self, session: AsyncSession, ticket: Ticket, scope: frozenset[str] | None
    ) -> bool:
        if scope is None:
            return True
        if ticket.department in scope or scope.intersection(ticket.assisting or ()):
            return True
        in_pool = ticket.state is S.DISPATCHED and ticket.department is None
        return in_pool and bool(await self._offered_to(session, ticket.id, scope))

    async def _ticket(
        self, session: AsyncSession, ticket_id: int, who: Principal, *, lock: bool = True
    ) -> Ticket:
        ticket = await session.get(Ticket, ticket_id, with_for_update=lock)
        if ticket is None or not await self._may_see(session, ticket, await self.scope_of(who)):
            raise CaseRefused(f"ticket {ticket_id} does not exist", 404)
        return ticket

    async def departments_of(self, actors: set[str]) -> dict[str, str | None]:
        """The department of each ``department:<username>`` actor (as audit rows name them)."""
        names = {a.split(":", 1)[1] for a in actors if a.startswith("department:")}
        if not names:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(User.username, User.department_code).where(User.username.in_(names))
            )
            return {f"department:{name}": code for name, code in rows.all()}

    async def check_visible(self, ticket_id: int, who: Principal) -> None:
        """404 unless ``who`` may see the ticket."""
        async with self._sessions() as session:
            await self._ticket(session, ticket_id, who, lock=False)

    async def held_ticket(self, ticket_id: int, who: Principal) -> Ticket:
        """The ticket, if ``who``'s department holds it (to attach files to it)."""
        async with self._sessions() as session:
            return await self._owned(session, ticket_id, who)

    async def _owned(self, session: AsyncSession, ticket_id: int, who: Principal) -> Ticket:
        """The ticket, held by ``who``'s department (or ``who`` acts for every department)."""
        ticket = await self._ticket(session, ticket_id, who)
        scope = await self.scope_of(who)
        if scope is not None and ticket.department not in scope:
            raise CaseRefused(
                f"ticket {ticket_id} is handled by {ticket.department or 'no department yet'}, "
                "not by your department",
                403,
            )
        return ticket

    # --- deadlines ----------------------------------------------------------------------------

    def _sign_due(self, ticket: Ticket, now: datetime) -> datetime:
        return _utc(self.clock.sign_for_deadline(now, ticket.category, _urgency(ticket)).due)

    def _clock_values(self, deadline: Deadline, now: datetime) -> dict[str, Any]:
        """The ticket's reply-clock columns for ``deadline``."""
        return {
            "reply_started_at": _utc(deadline.start),
            "reply_due_at": _utc(deadline.due),
            "reminder_at": _utc(self.clock.reminder_at(deadline)),
            "extended_days": deadline.extended_days,
            "sla_status": self.clock.status(deadline, now).value,
        }

    def _set_reply_clock(self, ticket: Ticket, deadline: Deadline, now: datetime) -> None:
        for column, value in self._clock_values(deadline, now).items():
            setattr(ticket, column, value)

    def _start_reply_clock(self, ticket: Ticket, now: datetime, *, reopened: bool = False) -> None:
        if reopened:
            deadline = self.clock.reopen_deadline(now, ticket.category, _urgency(ticket))
        else:
            deadline = self.clock.reply_deadline(now, ticket.category, _urgency(ticket))
        self._set_reply_clock(ticket, deadline, now)

    def _reply_deadline(self, ticket: Ticket) -> Deadline | None:
        if ticket.reply_started_at is None or ticket.reply_due_at is None:
            return None
        rule = self.clock.reply_deadline(
            as_utc(ticket.reply_started_at), ticket.category, _urgency(ticket)
        )
        return replace(rule, due=as_utc(ticket.reply_due_at), extended_days=ticket.extended_days)

    @staticmethod
    def _clear_clock(ticket: Ticket) -> None:
        ticket.reply_started_at = ticket.reply_due_at = ticket.reminder_at = None
        ticket.sign_overdue_at = ticket.sla_status = None
        ticket.extended_days = 0

    async def on_reopened(self, session: AsyncSession, ticket: Ticket) -> None:
        """重办 (the callback's unsatisfied answer, or by hand): a new reply deadline."""
        self._start_reply_clock(ticket, self._now(), reopened=True)

    # --- dispatch ------------------------------------------------------------------------------

    async def confirm_phone(self, ticket_id: int, who: Principal, note: str | None) -> None:
        """派单前电话确认: the citizen confirmed the request by phone (``phone_confirmed_at``;
        who confirmed it goes to the log)."""
        async with self._sessions.begin() as session:
            ticket = await self._ticket(session, ticket_id, who)
            ticket.phone_confirmed_at = self._now()
            log.info("ticket %s: confirmed by phone by %s: %s", ticket_id, who.actor, note or "")

    async def dispatch(
        self,
        ticket_id: int,
        who: Principal,
        *,
        mode: str,
        lead: str | None = None,
        assisting: Sequence[str] = (),
        eligible: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        """Send a registered (or reopened) ticket to ``lead`` (direct) or to the grab pool."""
        now = self._now()
        async with self._sessions.begin() as session:
            ticket = await self._ticket(session, ticket_id, who)
            if ticket.state not in (S.REGISTERED, S.REOPENED):
                raise CaseRefused(
                    f"ticket {ticket_id} is {ticket.state.value}: only a registered or "
                    "reopened ticket can be dispatched"
                )
            if self._settings.confirm_by_phone and ticket.phone_confirmed_at is None:
                raise CaseRefused(
                    f"ticket {ticket_id}: confirm the request with the citizen by phone "
                    "before dispatch (派单前电话确认: POST /api/tickets/{id}/confirmations)"
                )
            self._clear_clock(ticket)
            ticket.forced = False
            ticket.claimed_at = None
            ticket.dispatched_at = now
            ticket.sign_due_at = self._sign_due(ticket, now)
            await session.execute(delete(GrabOffer).where(GrabOffer.ticket_id == ticket.id))
            if mode == "direct":
                lead = lead or ticket.department  # a reopened ticket: the same department
                if not lead:
                    raise CaseRefused("a direct dispatch needs the lead department (lead)")
                await self.departments.check_codes([lead, *assisting], "the dispatch")
                ticket.department, ticket.assisting = lead, list(assisting)
                ticket.dispatch_mode = "direct"
                ticket.published_at = ticket.grab_until = None
                offers: Sequence[str] = ()
            else:
                offers = list(dict.fromkeys(eligible or await self._eligible(ticket)))
                if not offers:
                    raise CaseRefused(
                        f"no department may claim ticket {ticket_id}: the catalogue has no "
                        f"entry for {ticket.category!r}; give the eligible departments",
                        422,
                    )
                await self.departments.check_codes(offers, "the grab pool")
                ticket.department, ticket.assisting = None, []
                ticket.dispatch_mode = "grab"
                ticket.published_at = now
                ticket.grab_until = _utc(self.grab.end(now))
                session.add_all(GrabOffer(ticket_id=ticket.id, department=d) for d in offers)
            how = "直接派单" if mode == "direct" else "发布抢单"
            reason = f"{how}: {note}" if note else how
            transition(session, ticket, S.DISPATCHED, actor=who.actor, at=now, reason=reason)
            event = TicketDispatched(
                ticket_id=ticket.id,
                department=ticket.department,
                actor=who.actor,
                mode=mode,
                assisting=tuple(ticket.assisting),
                eligible=tuple(offers),
            )
        self._bus.publish(event)

    async def _eligible(self, ticket: Ticket) -> list[str]:
        found = await self.departments.suggest(ticket.category, ticket.district)
        return [found["lead"], *found["assisting"]] if found["lead"] else []

    async def claim(self, ticket_id: int, who: Principal) -> None:
        """抢单: the first claim wins. One conditional UPDATE decides the race on every
        database; a loser reads why (claimed by whom, window over) and gets a 409."""
        code = who.department
        if who.role is not Role.DEPARTMENT or code is None:
            raise CaseRefused("only a department user bound to a department may claim", 403)
        now = self._now()
        async with self._sessions.begin() as session:
            # The clock's rule depends on the category and urgency: read them first (a claim
            # decided a moment before an edit of the category keeps the category it saw).
            found = (await session.execute(_CLAIM_READ, {"b_id": ticket_id})).first()
            if found is None:
                await self._why_not_claimed(session, ticket_id, who, now)
            assert found is not None
            check_move(ticket_id, S.DISPATCHED, S.ACCEPTED)
            urgency = Urgency.URGENT if found.urgency == Urgency.URGENT.value else Urgency.NORMAL
            clock = self._clock_values(self.clock.reply_deadline(now, found.category, urgency), now)
            won: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                _CLAIM,
                {"b_id": ticket_id, "b_code": code, "b_now": now}
                | {f"b_{column}": value for column, value in clock.items()},
            )
            if won.rowcount != 1:
                await self._why_not_claimed(session, ticket_id, who, now)
            await session.execute(_CLAIMED, {"b_id": ticket_id, "b_actor": who.actor, "b_now": now})
            # Both statements bypass the ORM's hooks: the KPI facts follow by hand.
            await session.execute(refresh_facts([ticket_id]))
            if found.channel is not None:
                # A channel's ticket owes its channel the push-back (回传) of the claim, in this
                # transaction, as ``transition`` writes it for every other move.
                claimed = await session.get(Ticket, ticket_id, populate_existing=True)
                assert claimed is not None
                pushback.on_transition(session, claimed, S.ACCEPTED, actor=who.actor, at=now)
        self._bus.publish(TicketClaimed(ticket_id=ticket_id, department=code, actor=who.actor))

    async def _why_not_claimed(
        self, session: AsyncSession, ticket_id: int, who: Principal, now: datetime
    ) -> None:
        ticket = await session.get(Ticket, ticket_id)
        code = who.department or ""
        if ticket is None or not await self._offered_to(session, ticket_id, frozenset({code})):
            if ticket is not None and await self._may_see(
                session, ticket, await self.scope_of(who)
            ):
                raise CaseRefused(f"ticket {ticket_id} is not offered to {code}", 403)
            raise CaseRefused(f"ticket {ticket_id} does not exist", 404)
        if ticket.department is not None:
            raise CaseRefused(f"ticket {ticket_id} is already claimed by {ticket.department}")
        if ticket.state is not S.DISPATCHED or ticket.dispatch_mode != "grab":
            raise CaseRefused(f"ticket {ticket_id} is not in the grab pool")
        end = self.clock.calendar.local(as_utc(ticket.grab_until or now))
        raise CaseRefused(f"the grab window of ticket {ticket_id} ended at {end:%Y-%m-%d %H:%M}")

    # --- the department's work -----------------------------------------------------------------

    async def accept(self, ticket_id: int, who: Principal, reason: str | None = None) -> None:
        """签收: the reply clock starts (a reopened ticket's clock already restarted)."""
        now = self._now()
        async with self._sessions.begin() as session:
            ticket = await self._owned(session, ticket_id, who)
            if ticket.state not in (S.DISPATCHED, S.REOPENED) or ticket.department is None:
                raise CaseRefused(
                    f"ticket {ticket_id} is {ticket.state.value}: only a ticket dispatched to "
                    "a department, or reopened, can be signed for"
                )
            transition(
                session, ticket, S.ACCEPTED, actor=who.actor, at=now, reason=reason or "签收"
            )
            if ticket.reply_due_at is None:
                self._start_reply_clock(ticket, now)

    async def reply(
        self, ticket_id: int, who: Principal, text: str, then: Then | None = None
    ) -> None:
        """答复: the answer is stored as this round's reply; the SLA is met or breached."""
        now = self._now()
        async with self._sessions.begin() as session:
            ticket = await self._owned(session, ticket_id, who)
            if ticket.state is not S.ACCEPTED:
                raise CaseRefused(
                    f"ticket {ticket_id} is {ticket.state.value}: only a ticket signed for "
                    "(accepted) can be replied to"
                )
            rounds = await session.scalar(
                select(func.count()).select_from(Reply).where(Reply.ticket_id == ticket.id)
            )
            session.add(
                Reply(
                    ticket_id=ticket.id,
                    round=(rounds or 0) + 1,
                    text=text,
                    department=ticket.department,
                    by=who.actor,
                    at=now,
                )
            )
            deadline = self._reply_deadline(ticket)
            if deadline is not None:
                ticket.sla_status = self.clock.status(deadline, now, done_at=now).value
            transition(
                session, ticket, S.REPLIED, actor=who.actor, at=now, reason=text[:200] or None
            )
            if then is not None:
                await then(session, ticket)

    # --- disputes (派单异议) -------------------------------------------------------------------

    async def file_dispute(self, ticket_id: int, who: Principal, reason: str) -> Dispute:
        now = self._now()
        async with self._sessions.begin() as session:
            ticket = await self._owned(session, ticket_id, who)
            if ticket.state not in (S.DISPATCHED, S.ACCEPTED) or ticket.department is None:
                raise CaseRefused(
                    f"ticket {ticket_id} is {ticket.state.value}: only a ticket your "
                    "department holds (dispatched or accepted) can be disputed"
                )
            since = as_utc(ticket.dispatched_at or ticket.created_at)
            self.clock.check_dispute(since, now, reason)
            dispute = Dispute(
                ticket_id=ticket.id,
                department=ticket.department,
                reason=reason,
                filed_by=who.actor,
                filed_at=now,
                status="pending",
            )
            session.add(dispute)
            transition(
                session, ticket, S.DISPUTED, actor=who.actor, reason=f"派单异议: {reason}"[:200]
            )
            await session.flush()
            event = DisputeFiled(
                ticket_id=ticket.id,
                department=ticket.department,
                actor=who.actor,
                dispute_id=dispute.id,
            )
        self._bus.publish(event)
        return dispute

    async def _dispute(self, session: AsyncSession, dispute_id: int) -> tuple[Dispute, Ticket]:
        dispute = await session.get(Dispute, dispute_id, with_for_update=True)
        if dispute is None:
            raise CaseRefused(f"dispute {dispute_id} does not exist", 404)
        ticket = await session.get(Ticket, dispute.ticket_id, with_for_update=True)
        assert ticket is not None
        return dispute, ticket

    async def review_dispute(
        self,
        dispute_id: int,
        who: Principal,
        *,
        approve: bool,
        note: str | None,
        new_department: str | None = None,
    ) -> Dispute:
        """First review: approve (a second reviewer must confirm) or reject (the department
        keeps the ticket and signs for it)."""
        now = self._now()
        events: list[Event] = []
        async with self._sessions.begin() as session:
            dispute, ticket = await self._dispute(session, dispute_id)
            if dispute.status != "pending":
                raise CaseRefused(f"dispute {dispute_id} is already {dispute.status}")
            dispute.reviewed_by, dispute.reviewed_at, dispute.note = who.actor, now, note
            if approve:
                if new_department is not None:
                    await self.departments.check_codes([new_department], "the review")
                    if new_department == dispute.department:
                        raise CaseRefused(
                            f"the new department must differ from {dispute.department}", 422
                        )
                dispute.status, dispute.new_department = "approved", new_department
            else:
                dispute.status = "rejected"
                why = f"异议驳回: {note}" if note else "异议驳回"
                transition(session, ticket, S.ACCEPTED, actor=who.actor, at=now, reason=why[:200])
                if ticket.reply_due_at is None:
                    self._start_reply_clock(ticket, now)
            events.append(
                DisputeDecided(
                    ticket_id=ticket.id,
                    department=dispute.department,
                    actor=who.actor,
                    dispute_id=dispute.id,
                    status=dispute.status,
                    new_department=new_department,
                )
            )
        self._publish(events)
        return dispute

    async def confirm_dispute(self, dispute_id: int, who: Principal, note: str | None) -> Dispute:
        """Second review (复核) by a different person: only now the ticket leaves — to the new
        department, or back to the dispatch queue (registered)."""
        now = self._now()
        async with self._sessions.begin() as session:
            dispute, ticket = await self._dispute(session, dispute_id)
            if dispute.status != "approved":
                raise CaseRefused(
                    f"dispute {dispute_id} is {dispute.status}: only an approved dispute "
                    "can be confirmed"
                )
            if dispute.reviewed_by == who.actor:
                raise CaseRefused(
                    f"dispute {dispute_id} was approved by {who.actor}: a second, different "
                    "reviewer must confirm it (双人复核)"
                )
            dispute.status = "confirmed"
            dispute.confirmed_by, dispute.confirmed_at = who.actor, now
            if note:
                dispute.note = f"{dispute.note or ''}\n复核: {note}".strip()
            self._clear_clock(ticket)
            ticket.forced = False
            ticket.claimed_at = ticket.published_at = ticket.grab_until = None
            await session.execute(delete(GrabOffer).where(GrabOffer.ticket_id == ticket.id))
            target = dispute.new_department
            if target is not None:
                ticket.department, ticket.assisting = target, []
                ticket.dispatch_mode, ticket.dispatched_at = "direct", now
                ticket.sign_due_at = self._sign_due(ticket, now)
                why = f"异议复核通过，改派 {target}"
                transition(session, ticket, S.DISPATCHED, actor=who.actor, at=now, reason=why)
            else:
                ticket.department, ticket.assisting, ticket.dispatch_mode = None, [], None
                ticket.dispatched_at = ticket.sign_due_at = None
                why = "异议复核通过，退回派单"
                transition(session, ticket, S.REGISTERED, actor=who.actor, at=now, reason=why)
            event = DisputeDecided(
                ticket_id=ticket.id,
                department=dispute.department,
                actor=who.actor,
                dispute_id=dispute.id,
                status="confirmed",
                new_department=target,
            )
        self._bus.publish(event)
        return dispute

    # --- extensions (延期) ---------------------------------------------------------------------

    async def request_extension(
        self, ticket_id: int, who: Principal, days: int, reason: str
    ) -> Extension:
        now = self._now()
        async with self._sessions.begin() as session:
            ticket = await self._owned(session, ticket_id, who)
            deadline = self._reply_deadline(ticket)
            if ticket.state not in HELD or deadline is None:
                raise CaseRefused(
                    f"ticket {ticket_id} is {ticket.state.value} and has no running reply "
                    "deadline to extend"
                )
            pending = await session.scalar(
                select(Extension.id).where(
                    Extension.ticket_id == ticket.id, Extension.status == "pending"
                )
            )
            if pending is not None:
                raise CaseRefused(f"extension {pending} of ticket {ticket_id} is still pending")
            self.clock.check_extension(deadline, days, now)
            ext = Extension(
                ticket_id=ticket.id,
                department=ticket.department or "",
                days=days,
                reason=reason,
                requested_by=who.actor,
                requested_at=now,
            )
            session.add(ext)
            await session.flush()
            event = ExtensionRequested(
                ticket_id=ticket.id,
                department=ticket.department,
                actor=who.actor,
                extension_id=ext.id,
                days=days,
            )
        self._bus.publish(event)
        return ext

    async def decide_extension(
        self, extension_id: int, who: Principal, *, approve: bool, note: str | None
    ) -> Extension:
        """Approval moves ``reply_due_at`` by the days asked, judged at the request's time."""
        now = self._now()
        async with self._sessions.begin() as session:
            ext = await session.get(Extension, extension_id, with_for_update=True)
            if ext is None:
                raise CaseRefused(f"extension {extension_id} does not exist", 404)
            if ext.status != "pending":
                raise CaseRefused(f"extension {extension_id} is already {ext.status}")
            ticket = await session.get(Ticket, ext.ticket_id, with_for_update=True)
            assert ticket is not None
            ext.status = "approved" if approve else "refused"
            ext.decided_by, ext.decided_at, ext.note = who.actor, now, note
            deadline = self._reply_deadline(ticket)
            if approve:
                if deadline is None or ticket.state not in HELD:
                    raise CaseRefused(f"ticket {ticket.id} has no running reply deadline")
                extended = self.clock.extend(deadline, ext.days, as_utc(ext.requested_at))
                self._set_reply_clock(ticket, extended, now)
            event = ExtensionDecided(
                ticket_id=ticket.id,
                department=ticket.department,
                actor=who.actor,
                extension_id=ext.id,
                approved=approve,
            )
        self._bus.publish(event)
        return ext

    # --- supervision (督办) --------------------------------------------------------------------

    async def supervise(self, ticket_id: int, who: Principal, level: str, note: str) -> None:
        async with self._sessions.begin() as session:
            ticket = await self._ticket(session, ticket_id, who)
            ticket.supervised = True
            session.add(
                Supervision(
                    ticket_id=ticket.id,
                    department=ticket.department,
                    kind="manual",
                    level=level,
                    note=note,
                    by=who.actor,
                    at=self._now(),
                )
            )
            event = TicketSupervised(
                ticket_id=ticket.id, department=ticket.department, actor=who.actor, level=level
            )
        self._bus.publish(event)

    # --- the sweep (one scheduler job) ---------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Force-assign unclaimed tickets after the window; mark a sign-for (签收) deadline
        missed, the reply reminder and the reply overdue, each once per deadline."""
        now = self._now()
        held = Ticket.state.in_(HELD)
        remind = and_(
            held, Ticket.sla_status == SlaStatus.ON_TRACK.value, Ticket.reminder_at <= now
        )
        late = and_(held, Ticket.sla_status.in_(OPEN_SLA), Ticket.reply_due_at < now)
        unsigned = and_(
            self._unsigned(), Ticket.sign_due_at < now, Ticket.sign_overdue_at.is_(None)
        )
        # One read finds every kind of work (usually none). A ticket found for both a reminder
        # and overdue gets both, in that order, as when each was looked for in turn; a ticket
        # forced now has a fresh clock and is in none of the lists.
        async with self._sessions() as session:
            expired = (
                await session.scalars(
                    select(Ticket.id)
                    .where(
                        Ticket.state == S.DISPATCHED,
                        Ticket.grab_until < now,
                        Ticket.department.is_(None),
                        Ticket.dispatch_mode == "grab",
                    )
                    .order_by(Ticket.grab_until)
                    .limit(SWEEP_BATCH)
                )
            ).all()
            reply_due, sign_due = Ticket.reply_due_at, Ticket.sign_due_at
            to_remind = await self._found(session, remind, reply_due)
            to_mark_late = await self._found(session, late, reply_due)
            to_mark_unsigned = await self._found(session, unsigned, sign_due)
        forced = 0
        for ticket_id in expired:
            try:
                forced += await self._force_one(ticket_id, now)
            except Exception:
                log.exception("forced assignment of ticket %s failed", ticket_id)
        warning, overdue_ = (
            {"sla_status": SlaStatus.WARNING.value},
            {"sla_status": SlaStatus.OVERDUE.value},
        )
        reminded = await self._flag(to_remind, now, remind, warning, REMINDER)
        overdue = await self._flag(to_mark_late, now, late, overdue_, OVERDUE)
        missed = await self._flag(
            to_mark_unsigned, now, unsigned, {"sign_overdue_at": now}, SIGN_OVERDUE
        )
        result = SweepResult(forced, reminded, overdue, missed)
        if forced or reminded or overdue or missed:
            log.info("case sweep: %s", result)
        return result

    @staticmethod
    def _unsigned() -> ColumnElement[bool]:
        """Dispatched to a department (directly, after a dispute or by forced assignment) and
        not signed for yet: the sign-for (签收) deadline runs."""
        return and_(Ticket.state == S.DISPATCHED, Ticket.department.isnot(None))

    @staticmethod
    async def _found(
        session: AsyncSession,
        when: ColumnElement[bool],
        due: InstrumentedAttribute[datetime | None],
    ) -> Sequence[tuple[int, str | None, datetime | None]]:
        rows = await session.execute(
            select(Ticket.id, Ticket.department, due).where(when).order_by(due).limit(SWEEP_BATCH)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def _force_one(self, ticket_id: int, now: datetime) -> int:
        async with self._sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            offers = (
                await session.scalars(
                    select(GrabOffer.department)
                    .where(GrabOffer.ticket_id == ticket_id)
                    .order_by(GrabOffer.id)
                )
            ).all()
        if ticket is None:
            return 0
        catalogue = await self.departments.catalogue()
        place = ticket.district if ticket.district in catalogue.departments else None
        found = forced_assignment(catalogue, ticket.category or "", place)
        lead = found.lead.code if found else (offers[0] if offers else None)
        if lead is None:
            log.warning("ticket %s: the grab window ended and no department is known", ticket_id)
            return 0
        assisting = [d.code for d in found.assists] if found else []
        async with self._sessions.begin() as session:
            won: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                update(Ticket)
                .where(
                    Ticket.id == ticket_id,
                    Ticket.state == S.DISPATCHED,
                    Ticket.department.is_(None),
                    Ticket.grab_until < now,
                )
                .values(department=lead, forced=True, supervised=True, dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:
                return 0  # claimed at the last moment, or another node did it
            ticket = await session.get(Ticket, ticket_id, populate_existing=True)
            assert ticket is not None
            ticket.assisting = assisting
            ticket.sign_due_at = self._sign_due(ticket, now)
            self._start_reply_clock(ticket, now)
            session.add(
                Supervision(
                    ticket_id=ticket_id,
                    department=lead,
                    kind="forced",
                    note="抢单超时未认领，指定派发",
                    by=SYSTEM,
                    at=now,
                )
            )
        self._bus.publish(TicketForceAssigned(ticket_id=ticket_id, department=lead, actor=SYSTEM))
        return 1

    async def _flag(
        self,
        rows: Sequence[tuple[int, str | None, datetime | None]],
        now: datetime,
        when: ColumnElement[bool],
        values: dict[str, Any],
        flag: _Flag,
    ) -> int:
        """Write ``values`` on the found tickets once: the conditional UPDATE (``when`` again)
        is the guard, so two sweeps (two nodes) never flag a ticket twice."""
        events: list[Event] = []
        for ticket_id, department, at in rows:
            async with self._sessions.begin() as session:
                won: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                    update(Ticket)
                    .where(Ticket.id == ticket_id, when)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if won.rowcount != 1:
                    continue
                session.add(
                    Supervision(
                        ticket_id=ticket_id,
                        department=department,
                        kind=flag.kind,
                        note=flag.note,
                        by=SYSTEM,
                        at=now,
                    )
                )
            events.append(
                flag.event(
                    ticket_id=ticket_id, department=department, actor=SYSTEM, due=as_utc(at or now)
                )
            )
        self._publish(events)
        return len(events)

    def _publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self._bus.publish(event)

    # --- lists ---------------------------------------------------------------------------------

    async def portal(
        self, who: Principal, view: str, *, limit: int = 50, offset: int = 0
    ) -> list[Row[*tuple[Any, ...]]]:
        """The department portal's tabs (the list's columns, ``PORTAL_COLUMNS``); supervisors
        and dispatchers see every department."""
        scope = await self.scope_of(who)
        now = self._now()
        mine: ColumnElement[bool] = (
            Ticket.department.in_(scope) if scope is not None else Ticket.department.isnot(None)
        )
        stmt = select(*PORTAL_COLUMNS)
        if view == "pool":
            offered: ColumnElement[bool] = (
                exists().where(GrabOffer.ticket_id == Ticket.id, GrabOffer.department.in_(scope))
                if scope is not None
                else Ticket.id.isnot(None)
            )
            stmt = stmt.where(
                Ticket.state == S.DISPATCHED,
                Ticket.department.is_(None),
                Ticket.grab_until >= now,
                offered,
            ).order_by(Ticket.grab_until, Ticket.id)
        elif view == "to_sign":
            stmt = stmt.where(mine, Ticket.state.in_((S.DISPATCHED, S.REOPENED))).order_by(
                Ticket.sign_due_at, Ticket.id
            )
        elif view in ("in_progress", "overdue"):
            states = (S.ACCEPTED, S.DISPUTED, S.REOPENED, S.DISPATCHED)
            cond = [mine, Ticket.state.in_(states)]
            if view == "overdue":  # the reply deadline, or the sign-for one (签收超时)
                late_sign = and_(self._unsigned(), Ticket.sign_overdue_at.isnot(None))
                cond.append(or_(Ticket.sla_status == SlaStatus.OVERDUE.value, late_sign))
            else:
                cond.append(Ticket.state != S.DISPATCHED)
            # Overdue first, then least time left: both are the earliest reply deadline.
            stmt = stmt.where(*cond).order_by(Ticket.reply_due_at, Ticket.id)
        else:
            done = (S.REPLIED, S.CALLBACK, S.CLOSED)
            newest = (Ticket.updated_at.desc(), Ticket.id.desc())
            if scope is not None and len(scope) > 1:
                # Years of history over several departments: the newest offset+limit of each
                # (its own index range, ix_tickets_department_updated) instead of sorting all.
                heads = [
                    select(Ticket.id)
                    .where(Ticket.department == code, Ticket.state.in_(done))
                    .order_by(*newest)
                    .limit(limit + offset)
                    .subquery()
                    for code in sorted(scope)
                ]
                stmt = stmt.where(Ticket.id.in_(union_all(*(select(h.c.id) for h in heads))))
            else:
                stmt = stmt.where(mine, Ticket.state.in_(done))
            stmt = stmt.order_by(*newest)
        async with self._sessions() as session:
            return list((await session.execute(stmt.limit(limit).offset(offset))).all())

    async def dispatch_queue(self, limit: int = 100) -> list[Ticket]:
        """Registered tickets waiting for a dispatcher, oldest first."""
        async with self._sessions() as session:
            stmt = (
                select(Ticket)
                .where(Ticket.state == S.REGISTERED)
                .order_by(Ticket.created_at, Ticket.id)
                .limit(limit)
            )
            return list((await session.scalars(stmt)).all())

    async def summary(self) -> dict[str, int]:
        """The supervisors' wallboard counts."""
        now = self._now()
        start_of_day = self.clock.calendar.local(now).replace(hour=0, minute=0, second=0)
        held = Ticket.state.in_(HELD)

        async def count(session: AsyncSession, model: Any, *where: Any) -> int:
            stmt = select(func.count()).select_from(model).where(*where)
            return int(await session.scalar(stmt) or 0)

        async with self._sessions() as session:
            return {
                "overdue": await count(session, Ticket, held, Ticket.sla_status == "overdue"),
                "warning": await count(session, Ticket, held, Ticket.sla_status == "warning"),
                "sign_overdue": await count(
                    session, Ticket, self._unsigned(), Ticket.sign_overdue_at.isnot(None)
                ),
                "forced_today": await count(
                    session,
                    Supervision,
                    Supervision.kind == "forced",
                    Supervision.at >= _utc(start_of_day),
                ),
                "disputes_pending": await count(
                    session, Dispute, or_(Dispute.status == "pending", Dispute.status == "approved")
                ),
                "extensions_pending": await count(
                    session, Extension, Extension.status == "pending"
                ),
            }

    async def pending_reviews(self) -> tuple[list[Dispute], list[Extension]]:
        """Disputes and extensions waiting for a reviewer (the dispatch page)."""
        async with self._sessions() as session:
            disputes = await session.scalars(
                select(Dispute)
                .where(Dispute.status.in_(("pending", "approved")))
                .order_by(Dispute.filed_at)
            )
            extensions = await session.scalars(
                select(Extension).where(Extension.status == "pending").order_by(Extension.id)
            )
            return list(disputes.all()), list(extensions.all())

    def sign_seconds_left(self, ticket: SignClocked) -> int | None:
        """The sign-for clock (签收): seconds to ``sign_due_at`` while the ticket waits for its
        department to sign for it, negative when late; None otherwise."""
        if ticket.state is not S.DISPATCHED or ticket.department is None:
            return None
        if ticket.sign_due_at is None:
            return None
        return int((as_utc(ticket.sign_due_at) - self._now()).total_seconds())

    def seconds_left(self, ticket: Clocked) -> int | None:
        """The reply clock: seconds to the deadline, negative when overdue."""
        if ticket.reply_due_at is None or ticket.sla_status not in (*OPEN_SLA, "overdue"):
            return None
        return int((as_utc(ticket.reply_due_at) - self._now()).total_seconds())
