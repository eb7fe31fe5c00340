"""Ticket and call service: owns the ticket state machine and the call records.

Call flow: the IVR's inbound route calls :meth:`TicketService.open_call` before the caller is
queued (the ticket draft exists before any agent rings); the CTI tracker's ``AgentConnected``
reaches :meth:`on_agent_connected`, which links the draft to the agent and publishes the
``ScreenPop``. Every state change goes through :func:`transition`, which writes the audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.calls.missed import clear_missed, record_missed
from app.intake import pushback
from app.models import Agent, Call, Ticket, TicketTransition, Transfer
from casework.lifecycle import SYSTEM_ONLY, InvalidTransition, TicketState, check_move
from casework.lifecycle import TicketState as S
from core.bus import Bus
from core.events import (
    AgentConnected,
    CallEnded,
    CallerAbandoned,
    ChannelHungUp,
    Event,
    HandoverResult,
    PromptPlayed,
    ScreenPop,
    TicketRegistered,
    TicketSummary,
    utcnow,
)
from ivr.ports import CallOpened, InboundCall

log = logging.getLogger(__name__)

EARLIER_TICKETS_SHOWN = 5


def transition(
    session: AsyncSession,
    ticket: Ticket,
    to: TicketState,
    *,
    actor: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Move a ticket to ``to`` and write the audit row (in the caller's transaction); a
    channel's ticket also gets its push-back row (回传) there, so none is lost."""
    check_move(ticket.id, ticket.state, to)
    record_move(session, ticket, to, actor=actor, reason=reason, at=at)


def record_move(
    session: AsyncSession,
    ticket: Ticket,
    to: TicketState,
    *,
    actor: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """The audit row, the state and the push-back of a move already checked: by the
    lifecycle (:func:`transition`) or by its own rule (an unmerge, ``app.duplicates``)."""
    session.add(
        TicketTransition(
            ticket=ticket,
            from_state=ticket.state,
            to_state=to,
            actor=actor,
            reason=reason,
            **({"at": at} if at else {}),
        )
    )
    ticket.state = to
    pushback.on_transition(session, ticket, to, actor=actor, at=at)


def registered_event(ticket: Ticket, to: TicketState, actor: str) -> TicketRegistered | None:
    """The ``TicketRegistered`` a move from draft to registered owes (publish it after the
    commit), or None for any other move."""
    if to is not S.REGISTERED or ticket.state is not S.DRAFT:
        return None
    return TicketRegistered(
        ticket_id=ticket.id, category=ticket.category, source=ticket.source, actor=actor
    )


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; ours are all stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def call_key(node_id: str, uniqueid: str) -> str:
    """Primary key of a call: Asterisk uniqueids are only unique within one node."""
    return f"{node_id}:{uniqueid}"


def recording_names(uniqueid: str) -> tuple[str, str]:
    """File names MixMonitor writes (see asterisk_conf/extensions.conf, hotline-inbound)."""
    return f"{uniqueid}-in.wav", f"{uniqueid}-out.wav"


def new_draft(
    session: AsyncSession,
    caller: str | None,
    dialled: str | None,
    *,
    actor: str,
    category: str | None = None,
    source: str | None = None,
    agent_id: str | None = None,
    at: datetime | None = None,
    reason: str = "call entered the hotline",
    origin: str | None = None,
) -> Ticket:
    """A call's ticket draft (受理中) and its first audit row, in the caller's transaction.

    ``source``: the centre of a hand-over ("handover:110"); otherwise the origin is the number
    dialled ("phone:12369"), unless ``origin`` names it (an intake channel: "web:web").
    ``at`` dates both rows (a call reconciled after the fact)."""
    origin = origin or (f"handover:{source}" if source else f"phone:{dialled}")
    when = {"created_at": at} if at else {}
    ticket = Ticket(
        state=S.DRAFT,
        source=origin,
        caller=caller,
        dialled=dialled,
        category=category,
        agent_id=agent_id,
        **when,
    )
    session.add(ticket)
    session.add(
        TicketTransition(
            ticket=ticket,
            from_state=None,
            to_state=S.DRAFT,
            actor=actor,
            reason=reason,
            **({"at": at} if at else {}),
        )
    )
    return ticket


class TicketService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus, node_id: str) -> None:
        self._sessions = sessions
        self._bus = bus
        self._node_id = node_id

    # --- intake (ivr.ports.CallIntake) -------------------------------------------------------

    async def open_call(self, call: InboundCall) -> CallOpened:
        """Write the call record and, unless the number is cancelled, the ticket draft with the
        line's category. Idempotent per call (Asterisk may retry the AGI step)."""
        key = call_key(self._node_id, call.uniqueid)
        async with self._sessions.begin() as session:
            existing = await session.get(Call, key)
            if existing is not None:
                ticket = (
                    await session.get(Ticket, existing.ticket_id) if existing.ticket_id else None
                )
                return CallOpened(
                    ticket_id=existing.ticket_id,
                    call_id=key,
                    category=ticket.category if ticket else call.category,
                )
            ticket = None
            if call.wants_ticket:
                ticket = new_draft(
                    session,
                    call.caller,
                    call.dialled,
                    actor="ivr",
                    category=call.category,
                    source=call.source,
                )
            rec_in, rec_out = recording_names(call.uniqueid)
            record = Call(
                id=key,
                node_id=self._node_id,
                uniqueid=call.uniqueid,
                linkedid=call.linkedid,
                channel=call.channel,
                caller=call.caller,
                dialled=call.dialled,
                ticket=ticket,
                recording_in=rec_in,
                recording_out=rec_out,
                route=call.route,
                source=call.source,
            )
            session.add(record)
            await session.flush()
            if call.route == "subcentre" and ticket is not None:
                # 一口进出: the sub-centre's own seats take it; the ticket keeps the hand-over.
                session.add(
                    Transfer(
                        call_id=key,
                        ticket_id=ticket.id,
                        target=call.dialled,
                        mode="direct",
                        outcome="pending",
                    )
                )
            return CallOpened(
                ticket_id=ticket.id if ticket else None, call_id=key, category=call.category
            )

    # --- CTI facts ---------------------------------------------------------------------------

    async def on_call_event(self, event: Event) -> None:
        """The one subscriber for call facts, so they are applied in the order Asterisk sent
        them (an abandon before the hangup that follows it)."""
        match event:
            case AgentConnected():
                await self.on_agent_connected(event)
            case CallerAbandoned():
                await self.on_abandoned(event)
            case PromptPlayed():
                await self.on_prompt_played(event)
            case ChannelHungUp():
                await self.on_hangup(event)
            case HandoverResult():
                await self.on_handover_result(event)
            case _:
                pass

    async def on_agent_connected(self, event: AgentConnected) -> None:
        """Link call and draft to the agent, then pop the ticket on the agent's screen."""
        key = call_key(event.node_id, event.uniqueid)
        async with self._sessions.begin() as session:
            if await session.get(Agent, event.agent_id) is None:
                session.add(Agent(id=event.agent_id))
            call = await session.get(Call, key)
            if call is None:
                # FastAGI was down when the call came in: the dialplan queued the caller without
                # a draft. Write both now so the agent still gets a ticket.
                ticket = new_draft(session, event.caller, event.dialled, actor="cti")
                rec_in, rec_out = recording_names(event.uniqueid)
                call = Call(
                    id=key,
                    node_id=event.node_id,
                    uniqueid=event.uniqueid,
                    linkedid=event.linkedid,
                    channel="",
                    caller=event.caller,
                    dialled=event.dialled,
                    ticket=ticket,
                    recording_in=rec_in,
                    recording_out=rec_out,
                )
                session.add(call)
                await session.flush()
            found = await session.get(Ticket, call.ticket_id) if call.ticket_id else None
            if found is None:
                found = new_draft(session, event.caller, event.dialled, actor="cti")
                call.ticket = found
                await session.flush()
            ticket = found
            call.agent_id = event.agent_id
            call.agent_channel = event.agent_channel
            call.queue = event.queue
            call.answered_at = event.at
            call.hold_seconds = event.hold_seconds
            call.outcome = "answered"
            ticket.agent_id = event.agent_id
            await clear_missed(session, call.caller, by_call=key)
            earlier = await self._earlier_tickets(session, ticket.caller, ticket.id)
            pop = ScreenPop(
                agent_id=event.agent_id,
                ticket_id=ticket.id,
                call_id=key,
                caller=ticket.caller or "",
                dialled=ticket.dialled or "",
                category=ticket.category,
                earlier_tickets=earlier,
            )
        self._bus.publish(pop)

    async def _earlier_tickets(
        self, session: AsyncSession, caller: str | None, exclude: int
    ) -> tuple[TicketSummary, ...]:
        if not caller:
            return ()
        rows: Sequence[Ticket] = (
            await session.scalars(
                select(Ticket)
                .where(Ticket.caller == caller, Ticket.id != exclude)
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                .limit(EARLIER_TICKETS_SHOWN)
            )
        ).all()
        return tuple(
            TicketSummary(
                id=t.id,
                state=t.state.value,
                category=t.category,
                created_at=t.created_at,
                summary=t.summary,
            )
            for t in rows
        )

    async def on_abandoned(self, event: CallerAbandoned) -> None:
        async with self._sessions.begin() as session:
            call = await session.get(Call, call_key(event.node_id, event.uniqueid))
            if call is not None:
                call.outcome = "abandoned"
                call.hold_seconds = event.hold_seconds
                record_missed(session, call, event.hold_seconds)

    async def on_handover_result(self, event: HandoverResult) -> None:
        """A direct call to the sub-centre: did its seats answer?"""
        key = call_key(event.node_id, event.uniqueid)
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(Transfer).where(
                    Transfer.call_id == key,
                    Transfer.target == event.target,
                    Transfer.outcome == "pending",
                )
            )
            if row is not None:
                row.outcome = "completed" if event.status == "ANSWER" else "failed"
                row.reason = None if event.status == "ANSWER" else f"DIALSTATUS {event.status}"
                row.ended_at = event.at

    async def on_prompt_played(self, event: PromptPlayed) -> None:
        async with self._sessions.begin() as session:
            call = await session.get(Call, call_key(event.node_id, event.uniqueid))
            if call is not None:
                call.prompt = event.prompt
                call.prompt_status = event.status

    async def on_hangup(self, event: ChannelHungUp) -> None:
        key = call_key(event.node_id, event.uniqueid)
        ended: CallEnded | None = None
        async with self._sessions.begin() as session:
            call = await session.get(Call, key)
            if call is not None and call.ended_at is None:
                call.ended_at = event.at
                if call.outcome is None:
                    # Hung up before the queue (during the greeting or notice): still owed a
                    # call-back, unless the number is cancelled.
                    call.outcome = "unanswered"
                    waited = int((event.at - as_utc(call.started_at)).total_seconds())
                    record_missed(session, call, waited)
                ended = CallEnded(
                    node_id=event.node_id,
                    uniqueid=event.uniqueid,
                    call_id=key,
                    answered=call.outcome == "answered",
                )
        # Only after the commit: subscribers (transcription) read the closed call row.
        if ended is not None:
            self._bus.publish(ended)

    # --- the handling workflow (API) ---------------------------------------------------------

    async def request_transition(
        self,
        ticket_id: int,
        to: S,
        *,
        actor: str,
        reason: str | None = None,
        then: Callable[[AsyncSession, Ticket], Awaitable[object]] | None = None,
    ) -> Ticket:
        """A person moves a ticket (register, answer, close, reopen …). ``then`` runs in the
        same transaction (the callback a reply is owed), so the two commit together. The case
        loop's moves (dispatch, accept, dispute, reply) go through ``app.cases.loop``."""
        if to in SYSTEM_ONLY:
            raise InvalidTransition(f"{to} is set by the hotline itself, not by a request")
        async with self._sessions.begin() as session:
            ticket = await session.get(Ticket, ticket_id, with_for_update=True)
            if ticket is None:
                raise LookupError(f"ticket {ticket_id} does not exist")
            registered = registered_event(ticket, to, actor)
            transition(session, ticket, to, actor=actor, reason=reason)
            if then is not None:
                await then(session, ticket)
        if registered is not None:
            self._bus.publish(registered)
        found = await self.get_ticket(ticket_id)
        assert found is not None
        return found

    # --- queries for the API ---------------------------------------------------------------

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        async with self._sessions() as session:
            return await session.get(
                Ticket,
                ticket_id,
                options=[
                    selectinload(Ticket.transitions),
                    selectinload(Ticket.calls),
                    selectinload(Ticket.transfers),
                    selectinload(Ticket.replies),
                    selectinload(Ticket.attachments),
                    selectinload(Ticket.disputes),
                    selectinload(Ticket.extensions),
                    selectinload(Ticket.supervisions),
                ],
            )

    async def list_calls(
        self, *, limit: int, caller: str | None = None, since: datetime | None = None
    ) -> Sequence[Call]:
        stmt = select(Call).order_by(Call.started_at.desc()).limit(limit)
        if caller:
            stmt = stmt.where(Call.caller == caller)
        if since:
            stmt = stmt.where(Call.started_at >= since)
        async with self._sessions() as session:
            return (await session.scalars(stmt)).all()


__all__ = [
    "InvalidTransition",
    "TicketService",
    "call_key",
    "record_move",
    "transition",
    "utcnow",
]
