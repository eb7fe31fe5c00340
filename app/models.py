"""SQLAlchemy models of the app: calls, tickets (工单) with their audit trail, agents, and the
post-call transcription queue with its transcripts.

Written by the ticket and call services only; the state column of a ticket is changed through
``app.cases`` transitions (rules in ``casework.lifecycle``), never directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    ScalarSelect,
    String,
    Text,
    UniqueConstraint,
    Update,
    event,
    false,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column, relationship

from app.kpis.sql import seconds_between
from casework.lifecycle import TicketState
from core.events import utcnow


class Base(DeclarativeBase):
    pass


def _state_column() -> Enum:
    # Store the lower-case values ("draft"), which reports and other tools read directly.
    return Enum(
        TicketState,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # SIP extension, e.g. 1001
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_caller_created", "caller", "created_at"),
        # The department portal's lists and the sweeps (2 M tickets): by owner and state in
        # deadline order, the grab pool's window, the reminder and overdue sweeps.
        Index("ix_tickets_department_state_due", "department", "state", "reply_due_at"),
        Index("ix_tickets_state_grab_until", "state", "grab_until"),
        Index("ix_tickets_state_due", "state", "reply_due_at"),
        Index("ix_tickets_sla_reminder", "sla_status", "reminder_at"),
        Index("ix_tickets_state_sign_due", "state", "sign_due_at"),
        # The portal's done tab: a department's history newest first, without a sort.
        Index("ix_tickets_department_updated", "department", "updated_at", "id"),
        # KPI periods (migration 0013): a month of a year without a whole-table scan.
        Index("ix_tickets_dispatched_at", "dispatched_at"),
        Index("ix_tickets_published_at", "published_at"),
        Index("ix_tickets_reply_due_at", "reply_due_at"),
        # Duplicate candidates (0017): the same category within a window, newest first (a
        # channel's request has no district; the district, when known, filters the range).
        Index("ix_tickets_category_created", "category", "created_at"),
        # The intake cohort of a period (受理量) by the stored fact (migration 0019).
        Index("ix_tickets_fact_registered_at", "fact_registered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[TicketState] = mapped_column(_state_column(), default=TicketState.DRAFT)
    source: Mapped[str] = mapped_column(String(32))  # phone:12345, web, wechat, 110 …
    caller: Mapped[str | None] = mapped_column(String(32))
    dialled: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The handling department (承办单位) once dispatched; a reopened ticket goes back to it.
    department: Mapped[str | None] = mapped_column(String(64))
    # Written by the agent at the desk (app.cases.edits): where, how urgent, may we call back.
    address: Mapped[str | None] = mapped_column(String(200))
    # The district (区县, a department code of kind district) the matter is in: the catalogue's
    # category+district entries apply to it (suggestion, grab pool, forced assignment).
    district: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str | None] = mapped_column(String(16))  # normal, urgent
    contact_consent: Mapped[bool | None] = mapped_column(Boolean)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # --- the case loop (app.cases.loop): dispatch, grab, deadlines --------------------------
    assisting: Mapped[list[str]] = mapped_column(JSON, default=list)  # 协办 department codes
    dispatch_mode: Mapped[str | None] = mapped_column(String(8))  # direct | grab
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grab_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)  # 指定派发, counts against
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办
    phone_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sign_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the sweep flagged the ticket as not signed for in time (签收超时); None: not (yet).
    sign_overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The reply clock: started on accept/claim/forced assignment, restarted on reopening.
    reply_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    # on_track | warning | overdue | met | breached (casework.SlaStatus); None: no clock yet
    sla_status: Mapped[str | None] = mapped_column(String(12))
    # --- intake from the non-phone channels (app.intake) -----------------------------------
    channel: Mapped[str | None] = mapped_column(String(32))  # the intake channel's name
    # The channel's first-reply time (GB/T 33358) and the first person's move on the ticket.
    first_reply_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # 保密件 (whistle-blowing, personal matters): the citizen's number is masked for whoever
    # lacks the right, and every unmasked view is logged (app.cases.confidential).
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # --- duplicates (并单, app.duplicates) -----------------------------------------------------
    # A merged ticket: its master, when, and the state an unmerge returns it to.
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_from: Mapped[TicketState | None] = mapped_column(_state_column())
    # A master: its merged tickets as [{"id": …, "channel": …}], kept with merged_into by the
    # merge and the unmerge, so the master's moves owe their channels a push-back (回传) in
    # the same transaction without a query (app.intake.pushback).
    duplicates: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # --- KPI facts (migration 0019): what the audit trail says, kept by ``refresh_facts`` in
    # the transaction that writes a transition, so a month's report reads index ranges of
    # this table instead of searching the trail per ticket. Never set by hand.
    # The registering move (受理: from nothing or a draft to registered), the first one.
    fact_registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first move to answered (直接答复 at the desk); None: not answered directly.
    fact_answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first 签收 (move to accepted) at or after ``dispatched_at`` (the latest dispatch).
    fact_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first reply (move to replied) at or after ``reply_started_at`` (this round's clock).
    fact_replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The caller's latest earlier ticket (not a draft), any matter and the same category: the
    # repeat-caller rate asks whether it lies within N days (a setting) of this one.
    fact_caller_prior_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fact_matter_prior_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    calls: Mapped[list[Call]] = relationship(back_populates="ticket")
    transitions: Mapped[list[TicketTransition]] = relationship(
        back_populates="ticket", order_by="TicketTransition.id"
    )
    transfers: Mapped[list[Transfer]] = relationship(order_by="Transfer.id", viewonly=True)
    replies: Mapped[list[Reply]] = relationship(order_by="Reply.id", viewonly=True)
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", viewonly=True)
    disputes: Mapped[list[Dispute]] = relationship(order_by="Dispute.id", viewonly=True)
    extensions: Mapped[list[Extension]] = relationship(order_by="Extension.id", viewonly=True)
    supervisions: Mapped[list[Supervision]] = relationship(order_by="Supervision.id", viewonly=True)


class TicketTransition(Base):
    """Audit row: who moved a ticket from which state to which, when and why."""

    __tablename__ = "ticket_transitions"
    # KPIs count the registering move in a period (migration 0013).
    __table_args__ = (Index("ix_ticket_transitions_to_state_at", "to_state", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    from_state: Mapped[TicketState | None] = mapped_column(_state_column())
    to_state: Mapped[TicketState] = mapped_column(_state_column())
    actor: Mapped[str] = mapped_column(String(64))  # "ivr", "agent:1001", "system" …
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="transitions")


def refresh_facts(ticket_ids: Sequence[int]) -> Update:
    """The UPDATE that sets the tickets' ``fact_*`` columns from their audit rows (and their
    ``dispatched_at`` / ``reply_started_at``); migration 0019 back-fills with the same rules.

    ``updated_at`` is kept: the facts are not an edit (the portal's done tab sorts by it)."""
    t, r = Ticket, TicketTransition

    def first(*where: ColumnElement[bool]) -> ScalarSelect[Any]:
        return select(func.min(r.at)).where(r.ticket_id == t.id, *where).scalar_subquery()

    return (
        update(t)
        .where(t.id.in_(ticket_ids))
        .values(
            fact_registered_at=first(
                r.to_state == TicketState.REGISTERED,
                or_(r.from_state.is_(None), r.from_state == TicketState.DRAFT),
            ),
            fact_answered_at=first(r.to_state == TicketState.ANSWERED),
            fact_signed_at=first(r.to_state == TicketState.ACCEPTED, r.at >= t.dispatched_at),
            fact_replied_at=first(r.to_state == TicketState.REPLIED, r.at >= t.reply_started_at),
            updated_at=t.updated_at,
        )
        .execution_options(synchronize_session=False)
    )


def refresh_prior(callers: Sequence[str], since: datetime | None = None) -> Update:
    """The UPDATE that sets ``fact_caller_prior_at`` / ``fact_matter_prior_at`` of these
    callers' tickets created at or after ``since`` (all of them when None; migration 0019
    back-fills all with the same statement).

    Only a caller's later tickets can see an earlier one as their prior, so a write passes its
    ticket's time: a withheld number (one "caller" with thousands of tickets) must not make
    every new ticket rewrite all of its siblings."""
    t, e = Ticket, aliased(Ticket)

    def latest(*where: ColumnElement[bool]) -> ScalarSelect[Any]:
        return (
            select(func.max(e.created_at))
            .where(
                e.caller == t.caller,
                e.id != t.id,
                e.state != TicketState.DRAFT,
                e.created_at < t.created_at,
                *where,
            )
            .scalar_subquery()
        )

    where = [t.caller.in_(callers)] + ([t.created_at >= since] if since is not None else [])
    return (
        update(t)
        .where(*where)
        .values(
            fact_caller_prior_at=latest(),
            # ``|| ''``: the (caller, created_at) index, not (category, created_at), which
            # SQLite picks without statistics (a scan of the category's tickets; 0019 too).
            fact_matter_prior_at=latest(e.category.concat("") == t.category),
            updated_at=t.updated_at,
        )
        .execution_options(synchronize_session=False)
    )


# The facts follow every ORM write: a new audit row, or a ticket whose dispatch or reply clock
# moved; a ticket's caller, matter, time or leaving the draft state moves its caller's priors.
# Writers that bypass the ORM (the claim's prebuilt INSERT) run ``refresh_facts`` themselves.
@event.listens_for(TicketTransition, "after_insert")
def _facts_after_transition(_mapper: Any, connection: Connection, row: TicketTransition) -> None:
    connection.execute(refresh_facts([row.ticket_id]))


@event.listens_for(Ticket, "after_insert")
def _priors_after_insert(_mapper: Any, connection: Connection, ticket: Ticket) -> None:
    if ticket.caller is not None:
        connection.execute(refresh_prior([ticket.caller], since=ticket.created_at))


@event.listens_for(Ticket, "after_update")
def _facts_after_update(_mapper: Any, connection: Connection, ticket: Ticket) -> None:
    attrs = inspect(ticket).attrs
    if attrs.dispatched_at.history.has_changes() or attrs.reply_started_at.history.has_changes():
        connection.execute(refresh_facts([ticket.id]))
    state = attrs.state.history
    drafted = TicketState.DRAFT in (*state.added, *state.deleted)
    if drafted or any(
        getattr(attrs, name).history.has_changes() for name in ("caller", "category", "created_at")
    ):
        callers = {ticket.caller, *attrs.caller.history.deleted} - {None}
        # The earliest of the old and new times: tickets after either may change their prior.
        times = [at for at in (ticket.created_at, *attrs.created_at.history.deleted) if at]
        if callers:
            connection.execute(refresh_prior(sorted(callers), since=min(times, default=None)))


class Call(Base):
    """One inbound call as Asterisk saw it; written when the call enters our IVR."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_started_at", "started_at"),)  # KPI periods (0013)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # node_id:uniqueid
    node_id: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str | None] = mapped_column(String(32), index=True)
    dialled: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # answered, abandoned, unanswered; lost: its Asterisk died under it (app.calls.lost)
    outcome: Mapped[str | None] = mapped_column(String(16))
    hold_seconds: Mapped[int | None] = mapped_column(Integer)
    recording_in: Mapped[str | None] = mapped_column(String(255))  # caller's leg
    recording_out: Mapped[str | None] = mapped_column(String(255))  # what the caller heard
    # Number plan: main, notice, stopped, legacy, specialised, subcentre (ivr.numberplan).
    route: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(16))  # None: carrier; "110": handed over
    prompt: Mapped[str | None] = mapped_column(String(40))  # notice/greeting Asterisk played
    prompt_status: Mapped[str | None] = mapped_column(String(16))  # PLAYBACKSTATUS
    agent_channel: Mapped[str | None] = mapped_column(String(128))

    ticket: Mapped[Ticket | None] = relationship(back_populates="calls")
    transfers: Mapped[list[Transfer]] = relationship(back_populates="call", order_by="Transfer.id")


class Transfer(Base):
    """A hand-over of a call to another centre (119, 12366 …), recorded on the ticket."""

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))  # the centre's number
    mode: Mapped[str] = mapped_column(String(16))  # attended, threeway, blind, direct
    # pending → consulting → completed | cancelled | failed
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    call: Mapped[Call] = relationship(back_populates="transfers")


class MissedCall(Base):
    """漏接回拨: a caller who hung up before reaching an agent, to be called back."""

    __tablename__ = "missed_calls"
    __table_args__ = (Index("ix_missed_calls_state_at", "state", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    caller: Mapped[str] = mapped_column(String(32), index=True)
    dialled: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    # open → claimed → done; or cleared (the number reached an agent later)
    state: Mapped[str] = mapped_column(String(16), default="open")
    claimed_by: Mapped[str | None] = mapped_column(String(16))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by_call: Mapped[str | None] = mapped_column(String(64))


class TranscriptionJob(Base):
    """One call's post-call transcription, queued at hang-up (app.speech.transcripts owns it).

    The unique ``call_id`` is what keeps a call from being transcribed twice; the table is the
    persistent queue, so jobs survive a restart.
    """

    __tablename__ = "transcription_jobs"
    __table_args__ = (Index("ix_transcription_jobs_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    # queued → running → done | failed (running → queued again after a failed attempt)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LiveAlert(Base):
    """An emergency phrase heard live in a call (app.speech.live), kept on the ticket."""

    __tablename__ = "live_alerts"
    __table_args__ = (Index("ix_live_alerts_raised_at", "raised_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    centre: Mapped[str | None] = mapped_column(String(16))  # the suggested transfer target
    phrase: Mapped[str] = mapped_column(String(64))
    speaker: Mapped[str | None] = mapped_column(String(16))
    offset: Mapped[float] = mapped_column(Float)  # seconds into the live stream
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transcript(Base):
    """A call's transcript: both legs merged by time, and the keyword alerts heard in it."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)  # "[mm:ss] 市民：…" lines, as the desk shows them
    # [{speaker: citizen|agent, start, end, text}], seconds from the start of the call
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # [{category, centre, phrase, speaker, at}] (transcription.keywords.Alert)
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(128))
    seconds: Mapped[float | None] = mapped_column(Float)  # decoding time (both legs)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CallbackCampaign(Base):
    """Run-time state of a callback campaign (its rules are settings): paused or running."""

    __tablename__ = "callback_campaigns"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Callback(Base):
    """满意度回访: one satisfaction callback of a replied ticket (one per reply round).

    ``status``: pending (waits for ``next_attempt_at``) → dialling → done (rated) |
    unreachable (attempts used up) | no_rating (answered, no valid rating) | do_not_call.
    The last three need a person's follow-up. A reopened ticket's next reply is a new round.
    """

    __tablename__ = "callbacks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "round", name="uq_callbacks_ticket_round"),
        Index("ix_callbacks_status_next", "status", "next_attempt_at"),
        Index("ix_callbacks_finished_at", "finished_at"),
        Index("ix_callbacks_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    campaign: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # 1 满意 / 2 基本满意 / 3 不满意 (callbacks.policy.Rating); None: no valid answer
    service_rating: Mapped[int | None] = mapped_column(Integer)
    outcome_rating: Mapped[int | None] = mapped_column(Integer)
    comment_recording: Mapped[str | None] = mapped_column(String(255))
    call_uniqueid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    attempt_rows: Mapped[list[CallbackAttempt]] = relationship(
        back_populates="callback", order_by="CallbackAttempt.attempt_no"
    )


class CallbackAttempt(Base):
    """One dialling of a callback. The row is committed before the Originate is sent, and its
    unique (callback, attempt number) is what keeps a number from being dialled twice."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("callback_id", "attempt_no", name="uq_callback_attempts_no"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # callbacks.policy.Outcome: answered, busy, no_answer, congestion, failed, interrupted
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[int | None] = mapped_column(Integer)  # OriginateResponse Reason
    cause: Mapped[int | None] = mapped_column(Integer)  # Q.850 hang-up cause of a failure
    uniqueid: Mapped[str | None] = mapped_column(String(64))

    callback: Mapped[Callback] = relationship(back_populates="attempt_rows")


class User(Base):
    """A person who signs in: an agent (tied to a SIP extension), supervisor, department, admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id (app.auth.service)
    role: Mapped[str] = mapped_column(String(16))  # agent, dispatcher, supervisor, department …
    agent_id: Mapped[str | None] = mapped_column(String(16), unique=True)
    # A department user's department (departments.code): it sees that one and those below.
    department_code: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserSession(Base):
    """A signed-in browser or client: only the SHA-256 of its bearer token is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentStateChange(Base):
    """Every agent state change with its time (feeds occupancy reports): the state entered."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (Index("ix_agent_state_changes_agent_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str] = mapped_column(String(16))
    # logged_out, ready, paused, on_call, wrapup (cti.agent_states.AgentState)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))  # pause reason code
    # who caused it: "agent:1001", "supervisor:wang", "asterisk" (events), "rebuild"
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # KPI facts (migration 0019): when the agent's next change came (in (at, id) order) and
    # the seconds until then, so occupancy sums spans instead of ordering the period's rows;
    # None: still in force. Kept by ``refresh_state_ends`` when a change is written.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    span_seconds: Mapped[float | None] = mapped_column(Float)


def refresh_state_ends(agent_id: str, at: datetime) -> Update:
    """The UPDATE that sets ``ended_at`` of an agent's changes from the one before ``at`` on
    (the previous change, a new one at ``at``, and any written later out of order)."""
    a, n, p = AgentStateChange, aliased(AgentStateChange), aliased(AgentStateChange)
    following = (
        select(n.at)
        .where(n.agent_id == a.agent_id, or_(n.at > a.at, (n.at == a.at) & (n.id > a.id)))
        .order_by(n.at, n.id)
        .limit(1)
        .scalar_subquery()
    )
    before = select(func.max(p.at)).where(p.agent_id == agent_id, p.at < at).scalar_subquery()
    return (
        update(a)
        .where(a.agent_id == agent_id, a.at >= func.coalesce(before, at))
        .values(ended_at=following, span_seconds=seconds_between(a.at, following))
        .execution_options(synchronize_session=False)
    )


@event.listens_for(AgentStateChange, "after_insert")
def _state_ends_after_insert(_mapper: Any, connection: Connection, row: AgentStateChange) -> None:
    connection.execute(refresh_state_ends(row.agent_id, row.at))


class QueueEntry(Base):
    """One caller's stay in one queue (the wallboard's offered/answered/abandoned and service
    level): written from CallQueued, closed by AgentConnected or CallerAbandoned."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        Index("ix_queue_entries_queue_joined", "queue", "joined_at"),
        Index("ix_queue_entries_joined_at", "joined_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(32))
    uniqueid: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(32))
    caller: Mapped[str | None] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # answered | abandoned | None (waiting, or left another way: timeout, transfer)
    outcome: Mapped[str | None] = mapped_column(String(16))
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- the case loop: departments, catalogue, and what happens to a dispatched ticket ---------


class Department(Base):
    """承办单位: a node of the department tree (district → street → community …)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # casework.DepartmentKind
    parent: Mapped[str | None] = mapped_column(ForeignKey("departments.code"), index=True)
    # Deactivated (撤销/合并): kept for the history of its tickets, offered to nobody.
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CatalogueEntry(Base):
    """派单目录: which department leads (主办) and assists (协办) a category (in a district)."""

    __tablename__ = "catalogue_entries"
    __table_args__ = (Index("ix_catalogue_entries_category", "category", "district"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    lead: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    assisting: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(200), default="")


class CatalogueChange(Base):
    """Who changed the catalogue or the departments, when, and the row before and after."""

    __tablename__ = "catalogue_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(32))  # entry.create|update|delete, department.*
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class GrabOffer(Base):
    """A department that may claim a ticket published to the grab pool (抢单)."""

    __tablename__ = "grab_offers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "department", name="uq_grab_offers_ticket_department"),
        Index("ix_grab_offers_department", "department", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    department: Mapped[str] = mapped_column(String(64))


class Reply(Base):
    """A department's answer (答复); a reopened ticket's next answer is the next round."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Attachment(Base):
    """A file a department attached (photo, PDF …), stored under <data_dir>/attachments."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    stored_as: Mapped[str] = mapped_column(String(100))  # name inside the attachments folder
    uploaded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dispute(Base):
    """派单异议: pending → approved (first reviewer) → confirmed (a second one) | rejected."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_status", "status", "filed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    new_department: Mapped[str | None] = mapped_column(String(64))


class Extension(Base):
    """延期申请: pending → approved (reply_due_at moves by ``days`` working days) | refused."""

    __tablename__ = "extensions"
    __table_args__ = (Index("ix_extensions_status", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class Supervision(Base):
    """督办: a reminder, an overdue flag, a forced assignment, or a supervisor's own (by level)."""

    __tablename__ = "supervisions"
    __table_args__ = (Index("ix_supervisions_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(64))
    # reminder, overdue (reply), sign_overdue (签收超时), forced, manual
    kind: Mapped[str] = mapped_column(String(12))
    level: Mapped[str | None] = mapped_column(String(12))  # phone, written, onsite (manual)
    note: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KpiExcludedPeriod(Base):
    """剔除时段: calls that joined a queue in ``[starts_at, ends_at)`` are left out of the
    adjusted 人工接通率 (an outage, traffic beyond the seats); written by supervisors."""

    __tablename__ = "kpi_excluded_periods"
    __table_args__ = (Index("ix_kpi_excluded_periods_starts", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(16))  # kpis.ExclusionReason: outage, surge, other
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredReport(Base):
    """A report (日报, 周报, 月报, 季报, 专报) and its figures, built by ``app.reports``.

    ``status``: queued → running → done | failed; ``progress`` 0–100 while it runs. ``data``
    is the report as JSON (``app.reports.service.ReportData``): the page and the XLSX/CSV
    exports are made from it, so a report keeps the figures of the moment it was built.
    ``dedup_key`` is set on scheduled reports only (``schedule:daily:2025-10-01``): its unique
    index keeps a re-run of the schedule from making the same report twice.
    """

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # daily, weekly, monthly, quarterly, special
    period_first: Mapped[date] = mapped_column(Date)
    period_last: Mapped[date] = mapped_column(Date)
    topic: Mapped[str | None] = mapped_column(String(64))  # the category of a 专报
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))  # "supervisor:wang", "schedule"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True)


# --- intake from the non-phone channels and the push-back outbox (app.intake) ---------------


class IntakeRequest(Base):
    """A channel's request that made a ticket: the idempotency key (channel + the channel's own
    id) with the hash of what was asked, and the citizen's query code (查询码), hashed."""

    __tablename__ = "intake_requests"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_intake_requests_channel_external"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    body_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the normalised request
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    query_code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PushBack(Base):
    """回传 outbox: one state change of a channel's ticket, to be POSTed to its webhook.

    Written in the transaction that moves the ticket, so no change is lost across a restart.
    ``status``: pending → sent | retrying (waits for ``next_at``) → … → failed (attempts used
    up) | skipped (the channel has no webhook).
    """

    __tablename__ = "push_backs"
    __table_args__ = (Index("ix_push_backs_status_next", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # the ticket state entered
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    ticket: Mapped[Ticket] = relationship()


class ConfidentialView(Base):
    """One unmasked view of a 保密件's citizen data: who received it, when, through which route."""

    __tablename__ = "confidential_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    who: Mapped[str] = mapped_column(String(64))  # Principal.actor: "supervisor:wang"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    route: Mapped[str] = mapped_column(String(120))  # "GET /api/tickets/{ticket_id}"


# --- the knowledge base (app.knowledge) -----------------------------------------------------

# The full-text index lives beside the models, built by migration 0016 only: on SQLite the
# FTS5 table ``kb_articles_fts`` (and its shadow tables) kept in step by triggers, on
# PostgreSQL the generated column ``kb_articles.search_vector`` with its GIN index. Neither
# has a portable SQLAlchemy type, so schema comparisons skip them (see ``schema_object``).
SEARCH_INDEX_OBJECTS = ("kb_articles_fts", "search_vector", "ix_kb_articles_search")


def schema_object(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    """Alembic's ``include_object``: everything but the knowledge base's search index."""
    return not (reflected and name is not None and name.startswith(SEARCH_INDEX_OBJECTS))


class KbArticle(Base):
    """A knowledge-base article (知识库文章) as it stands now: its latest version, the tokens
    the search index is built from, and how often agents answered with it."""

    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_department", "department"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64))  # owning department's code
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    question_tokens: Mapped[str] = mapped_column(Text, default="")  # knowledge.index_tokens
    body_tokens: Mapped[str] = mapped_column(Text, default="")  # answer and category
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))  # Principal.actor

    versions: Mapped[list[KbArticleVersion]] = relationship(
        back_populates="article", order_by="KbArticleVersion.version"
    )


class KbArticleVersion(Base):
    """Every version of an article, the first and the current included: an edit adds one,
    none is changed afterwards (a direct answer cites the version the agent read)."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_kb_article_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"))
    version: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edited_by: Mapped[str] = mapped_column(String(64))
    edited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    article: Mapped[KbArticle] = relationship(back_populates="versions")


class KbTerm(Base):
    """How many articles hold each indexed word (``knowledge.rounds`` asks the rarest first),
    kept by the service with every article written."""

    __tablename__ = "kb_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)  # ≤ MAX_TOKEN_CHARS
    docs: Mapped[int] = mapped_column(Integer, default=0)


class KbUse(Base):
    """A direct answer (直接答复) given with an article: the ticket cites its id and version."""

    __tablename__ = "kb_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- surge alerts (突增预警, app.surges) -----------------------------------------------------


class SurgeAlertRow(Base):
    """One surge (casework.surge): a category in one place or district, one hour or day, with
    more tickets than its history makes likely. One row per (category, area, window): a later,
    higher count updates it. Acknowledged (已知悉) by a supervisor."""

    __tablename__ = "surge_alerts"
    __table_args__ = (
        UniqueConstraint(
            "category", "area_kind", "area", "window", "window_start", name="uq_surge_alerts_key"
        ),
        Index("ix_surge_alerts_window_start", "window_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(64))
    area_kind: Mapped[str] = mapped_column(String(12))  # district | place
    area: Mapped[str] = mapped_column(String(200))  # a department code, or a place key
    window: Mapped[str] = mapped_column(String(8))  # hour | day
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)  # the baseline λ
    p_value: Mapped[float] = mapped_column(Float)
    robust_z: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))

    tickets: Mapped[list[SurgeAlertTicket]] = relationship(
        order_by="SurgeAlertTicket.ticket_id", cascade="all, delete-orphan"
    )


class SurgeAlertTicket(Base):
    """The tickets behind a surge alert."""

    __tablename__ = "surge_alert_tickets"

    alert_id: Mapped[int] = mapped_column(ForeignKey("surge_alerts.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, index=True)
