"""Routes of tickets (工单): read one with its calls, transcripts and callbacks; the handling
workflow's moves; the desk's save and register; the case loop (dispatch, the department
portal, disputes, extensions, supervision, attachments)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth.service import Principal, Role
from app.callbacks.http import CallbackOut
from app.calls.http import CallOut, TransferOut
from app.cases.attachments import MAX_BYTES
from app.cases.confidential import mask_number
from app.cases.edits import TicketEdit, TicketEditError
from app.cases.loop import VIEWS, CaseRefused
from app.departments.service import CatalogueProblem
from app.edge import (
    DEPARTMENTS,
    DISPATCHERS,
    READERS,
    SUPERVISORS,
    CurrentUser,
    RouteDep,
    RowId,
    RuntimeDep,
    allow,
    authenticated,
)
from app.intake.service import first_reply_status
from app.knowledge.service import KnowledgeRefused
from app.models import Dispute, Extension, Reply, Supervision, Ticket
from app.runtime import Runtime
from app.speech.http import LiveAlertOut, TranscriptOut
from casework import CalendarGapError, DisputeRefused, ExtensionRefused
from casework.lifecycle import InvalidTransition, TicketState
from core.events import utcnow

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])

# The case-loop rows that name the department they belong to.
_OwnedRow = TypeVar("_OwnedRow", Reply, Dispute, Extension, Supervision)


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    from_state: TicketState | None
    to_state: TicketState
    actor: str
    reason: str | None
    at: datetime


class ReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    text: str
    department: str | None
    by: str
    at: datetime
    round: int


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    at: datetime


class DisputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    department: str
    reason: str
    filed_by: str
    filed_at: datetime
    status: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    note: str | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    new_department: str | None


class ExtensionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    department: str  # who asks (the dispatch page's review list shows it)
    days: int
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class SupervisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    level: str | None
    note: str | None
    by: str
    at: datetime


class CitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    article_id: int
    version: int
    actor: str
    at: datetime


class DirectAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article_id: int = Field(ge=1, le=2**31 - 1)
    version: int = Field(ge=1, le=2**31 - 1)  # the version the agent read


class MergedTickets(BaseModel):
    """并单: the tickets merged into this one, read from the master's ``duplicates`` list."""

    merged_tickets: list[int] = Field(default=[], validation_alias="duplicates")

    @field_validator("merged_tickets", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [d["id"] if isinstance(d, dict) else d for d in value or []]


class TicketOut(MergedTickets):
    model_config = ConfigDict(from_attributes=True)
    id: int
    state: TicketState
    source: str
    caller: str | None
    dialled: str | None
    category: str | None
    summary: str | None
    description: str | None
    department: str | None = None
    agent_id: str | None
    created_at: datetime
    updated_at: datetime
    transitions: list[TransitionOut]
    calls: list[CallOut]
    transfers: list[TransferOut]
    transcripts: list[TranscriptOut] = []
    alerts: list[LiveAlertOut] = []  # heard live, while the call was up
    callbacks: list[CallbackOut] = []
    # The case loop
    address: str | None = None
    district: str | None = None
    assisting: list[str] = []
    urgency: str | None = None
    dispatch_mode: str | None = None
    published_at: datetime | None = None
    grab_until: datetime | None = None
    claimed_at: datetime | None = None
    forced: bool = False
    supervised: bool = False
    sign_due_at: datetime | None = None
    sign_overdue_at: datetime | None = None  # flagged by the sweep: not signed for in time
    sign_seconds_left: int | None = None  # while waiting to be signed for; negative: late
    reply_due_at: datetime | None = None
    sla_status: str | None = None
    seconds_left: int | None = None
    phone_confirmed_at: datetime | None = None
    # Intake channels: the channel and its first-reply time (GB/T 33358)
    channel: str | None = None
    first_reply_due_at: datetime | None = None
    first_reply_at: datetime | None = None
    first_reply_status: str | None = None  # met | breached | pending | overdue
    # 保密件: for whoever lacks the right, caller (and the calls' and callbacks' numbers) masked
    confidential: bool = False
    direct_answer: CitationOut | None = None  # 答复并办结: the knowledge-base article cited
    # 并单: this ticket's master (已并单), or the tickets merged into this one
    merged_into: int | None = None
    merged_at: datetime | None = None
    replies: list[ReplyOut] = []
    attachments: list[AttachmentOut] = []
    disputes: list[DisputeOut] = []
    extensions: list[ExtensionOut] = []
    supervisions: list[SupervisionOut] = []


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: TicketState
    reason: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, min_length=1, max_length=64)


class TicketPatchIn(BaseModel):
    category: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    address: str | None = Field(default=None, max_length=200)
    # The district's department code (GET /api/departments, kind district); "" clears it.
    district: str | None = Field(default=None, max_length=64)
    urgency: Literal["normal", "urgent"] | None = None
    contact_consent: bool | None = None
    confidential: bool | None = None  # 保密件
    # Move the draft to 已受理 (registered) with this save.
    register_ticket: bool = False


@contextmanager
def refusals() -> Iterator[None]:
    """The case loop's and the lifecycle's refusals as 4xx answers that name the problem."""
    try:
        yield
    except (CaseRefused, KnowledgeRefused) as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except (CatalogueProblem, CalendarGapError) as exc:
        raise HTTPException(422, str(exc)) from exc
    except (InvalidTransition, DisputeRefused, ExtensionRefused) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.get("/tickets/{ticket_id}", response_model=TicketOut, dependencies=[READERS])
async def get_ticket(ticket_id: RowId, rt: RuntimeDep, who: CurrentUser, route: RouteDep) -> Any:
    with refusals():
        await rt.caseloop.check_visible(ticket_id, who)
    return await _ticket_out(ticket_id, rt, who, route)


async def _ticket_out(ticket_id: int, rt: Runtime, who: Principal, route: str) -> TicketOut:
    out = await _ticket_view(ticket_id, rt, who)
    if out.confidential and await rt.confidential.masked_for(who, [ticket_id], route):
        return _masked(out)
    return out


def _masked(out: TicketOut) -> TicketOut:
    """A 保密件 for whoever lacks the right: every copy of the citizen's number masked."""
    return out.model_copy(
        update={
            "caller": mask_number(out.caller),
            "calls": [c.model_copy(update={"caller": mask_number(c.caller)}) for c in out.calls],
            "callbacks": [
                c.model_copy(update={"number": mask_number(c.number)}) for c in out.callbacks
            ],
        }
    )


async def _ticket_view(ticket_id: int, rt: Runtime, who: Principal) -> TicketOut:
    ticket = await rt.tickets.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} does not exist")
    out = TicketOut.model_validate(ticket)
    out.seconds_left = rt.caseloop.seconds_left(ticket)
    out.sign_seconds_left = rt.caseloop.sign_seconds_left(ticket)
    out.first_reply_status = first_reply_status(ticket, utcnow())
    if ticket.state is not TicketState.DRAFT:
        cited = await rt.knowledge.citation(ticket_id)
        out.direct_answer = CitationOut.model_validate(cited) if cited else None
    scope = await rt.caseloop.scope_of(who)
    if scope is not None:
        return await _department_view(out, ticket, scope, rt)
    out.transcripts = [
        TranscriptOut.model_validate(t) for t in await rt.transcription.for_ticket(ticket_id)
    ]
    out.callbacks = [
        CallbackOut.model_validate(c)
        for c in await rt.callbacks.list(status=None, ticket_id=ticket_id, limit=50)
    ]
    out.alerts = [
        LiveAlertOut.model_validate(a) for a in await rt.live.list_alerts(ticket_id=ticket_id)
    ]
    return out


async def _department_view(
    out: TicketOut, ticket: Ticket, scope: frozenset[str], rt: Runtime
) -> TicketOut:
    """What a department handler sees: the request with the citizen's number (to handle it;
    masked on a 保密件),
    the ticket's handling from its first dispatch on, and its own departments' replies,
    disputes, extensions and supervision. Not the calls (recording paths), hand-overs,
    transcripts, live alerts, callbacks or the agent; another department's words in the
    history are blanked (README: what each role sees)."""

    def ours(rows: Iterable[_OwnedRow]) -> list[_OwnedRow]:
        return [row for row in rows if row.department in scope]

    states = [t.to_state for t in ticket.transitions]
    first = states.index(TicketState.DISPATCHED) if TicketState.DISPATCHED in states else 0
    shown = ticket.transitions[first:]
    owners = await rt.caseloop.departments_of({t.actor for t in shown})
    history = []
    for move in shown:
        row = TransitionOut.model_validate(move)
        if move.actor.startswith("department:") and owners.get(move.actor) not in scope:
            row.reason = None
        history.append(row)
    return out.model_copy(
        update={
            "agent_id": None,
            "calls": [],
            "transfers": [],
            "transitions": history,
            "replies": [ReplyOut.model_validate(r) for r in ours(ticket.replies)],
            "disputes": [DisputeOut.model_validate(d) for d in ours(ticket.disputes)],
            "extensions": [ExtensionOut.model_validate(e) for e in ours(ticket.extensions)],
            "supervisions": [SupervisionOut.model_validate(s) for s in ours(ticket.supervisions)],
        }
    )


# Who may move a ticket where: agents take calls in (register, answer directly, dispatch;
# merging has its own route, app.duplicates); departments handle what was dispatched to them
# (accept, dispute, reply); supervisors may do all of it, and close or reopen after a
# callback by hand.
WORKFLOW_STEPS: dict[Role, frozenset[TicketState]] = {
    Role.AGENT: frozenset({TicketState.REGISTERED, TicketState.ANSWERED, TicketState.DISPATCHED}),
    Role.DEPARTMENT: frozenset({TicketState.ACCEPTED, TicketState.DISPUTED, TicketState.REPLIED}),
    Role.DISPATCHER: frozenset({TicketState.DISPATCHED}),
}


@router.post("/tickets/{ticket_id}/transitions", response_model=TicketOut, dependencies=[READERS])
async def move_ticket(
    ticket_id: RowId, body: TransitionIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    """The handling workflow: register, dispatch (with the department), accept, dispute,
    reply, answer directly, close, reopen. A reply or direct answer schedules the
    satisfaction callback in the same transaction. 409 when the lifecycle forbids the move,
    403 when the caller's role may not make it."""
    if body.to is TicketState.MERGED:
        raise HTTPException(
            422,
            f"merge with POST /api/tickets/{ticket_id}/merge, naming the master ticket",
        )
    steps = WORKFLOW_STEPS.get(who.role)
    if steps is not None and body.to not in steps:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the {who.role.value} role may not move a ticket to {body.to}",
        )
    with refusals():
        await rt.move_ticket(ticket_id, body.to, body.reason, body.department, who=who)
    return await _ticket_out(ticket_id, rt, who, route)


@router.post(
    "/tickets/{ticket_id}/direct-answer",
    response_model=TicketOut,
    dependencies=[allow(Role.AGENT, Role.SUPERVISOR)],
)
async def answer_directly(
    ticket_id: RowId, body: DirectAnswerIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    """答复并办结: a registered ticket answered on the spot (直接答复) with a knowledge-base
    article, citing its id and the version the agent read; the satisfaction callback follows
    as for any direct answer. 409 unless registered or when the article is not valid now,
    404 for an unknown article or version."""
    with refusals():
        await rt.answer_directly(ticket_id, body.article_id, body.version, who)
    return await _ticket_out(ticket_id, rt, who, route)


@router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketOut,
    dependencies=[allow(Role.AGENT, Role.SUPERVISOR)],
)
async def save_ticket(
    ticket_id: RowId, body: TicketPatchIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    """Save what the agent wrote; ``register_ticket: true`` also moves the draft to 已受理."""
    try:
        await rt.ticket_edits.save(ticket_id, TicketEdit(**body.model_dump()), who)
    except TicketEditError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return await _ticket_out(ticket_id, rt, who, route)


# --- the case loop ---------------------------------------------------------------------------

DeptCode = Annotated[str, Field(min_length=1, max_length=64)]
Note = Annotated[str | None, Field(default=None, max_length=2000)]


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["direct", "grab"]
    lead: DeptCode | None = None
    assisting: list[DeptCode] = Field(default_factory=list, max_length=20)
    eligible: list[DeptCode] = Field(default_factory=list, max_length=50)
    note: Note = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    note: Note = None
    new_department: DeptCode | None = None


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=365)
    reason: str = Field(min_length=1, max_length=2000)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    note: Note = None


class SuperviseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["phone", "written", "onsite"]
    note: str = Field(min_length=1, max_length=2000)


class SuggestionOut(BaseModel):
    lead: str | None
    assisting: list[str]


class QueueRowOut(MergedTickets):
    model_config = ConfigDict(from_attributes=True)
    id: int
    category: str | None
    summary: str | None
    description: str | None  # the desk writes the request here; summary is often empty
    address: str | None
    district: str | None = None
    urgency: str | None
    created_at: datetime
    confidential: bool = False  # 保密件 (rows never carry the citizen's number)
    suggestion: SuggestionOut | None = None


class PortalRowOut(MergedTickets):
    model_config = ConfigDict(from_attributes=True)
    id: int
    category: str | None
    summary: str | None
    description: str | None
    address: str | None
    district: str | None = None
    urgency: str | None
    state: TicketState
    department: str | None
    dispatch_mode: str | None
    grab_until: datetime | None
    sign_due_at: datetime | None
    sign_overdue_at: datetime | None = None
    sign_seconds_left: int | None = None
    reply_due_at: datetime | None
    seconds_left: int | None = None
    sla_status: str | None
    forced: bool
    supervised: bool
    confidential: bool = False  # 保密件 (rows never carry the citizen's number)
    created_at: datetime


class ReviewsOut(BaseModel):
    disputes: list[DisputeOut]
    extensions: list[ExtensionOut]


class SummaryOut(BaseModel):
    overdue: int
    warning: int
    sign_overdue: int
    forced_today: int
    disputes_pending: int
    extensions_pending: int


@router.get("/dispatch/queue", response_model=list[QueueRowOut], dependencies=[DISPATCHERS])
async def dispatch_queue(rt: RuntimeDep, limit: int = Query(default=100, ge=1, le=500)) -> Any:
    """Registered tickets waiting for dispatch, oldest first, with the catalogue's proposal."""
    rows = []
    for ticket in await rt.caseloop.dispatch_queue(limit):
        row = QueueRowOut.model_validate(ticket)
        found = await rt.departments.suggest(ticket.category, ticket.district)
        row.suggestion = SuggestionOut(**found)
        rows.append(row)
    return rows


@router.get("/dispatch/reviews", response_model=ReviewsOut, dependencies=[DISPATCHERS])
async def reviews(rt: RuntimeDep) -> Any:
    """Disputes and extensions waiting for a reviewer."""
    disputes, extensions = await rt.caseloop.pending_reviews()
    return ReviewsOut(
        disputes=[DisputeOut.model_validate(d) for d in disputes],
        extensions=[ExtensionOut.model_validate(e) for e in extensions],
    )


@router.post("/tickets/{ticket_id}/dispatch", response_model=TicketOut, dependencies=[DISPATCHERS])
async def dispatch(
    ticket_id: RowId, body: DispatchIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    with refusals():
        await rt.caseloop.dispatch(
            ticket_id,
            who,
            mode=body.mode,
            lead=body.lead,
            assisting=body.assisting,
            eligible=body.eligible,
            note=body.note,
        )
    return await _ticket_out(ticket_id, rt, who, route)


@router.post(
    "/tickets/{ticket_id}/confirmations",
    response_model=TicketOut,
    dependencies=[allow(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)],
)
async def confirm_by_phone(
    ticket_id: RowId, body: NoteIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    with refusals():
        await rt.caseloop.confirm_phone(ticket_id, who, body.note)
    return await _ticket_out(ticket_id, rt, who, route)


@router.get("/portal/tickets", response_model=list[PortalRowOut], dependencies=[DEPARTMENTS])
async def portal(
    rt: RuntimeDep,
    who: CurrentUser,
    view: str = Query(default="in_progress", pattern="^(" + "|".join(VIEWS) + ")$"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> Any:
    rows = []
    for ticket in await rt.caseloop.portal(who, view, limit=limit, offset=offset):
        row = PortalRowOut.model_validate(ticket)
        row.seconds_left = rt.caseloop.seconds_left(ticket)
        row.sign_seconds_left = rt.caseloop.sign_seconds_left(ticket)
        rows.append(row)
    return rows


@router.post("/tickets/{ticket_id}/claim", response_model=TicketOut, dependencies=[DEPARTMENTS])
async def claim(ticket_id: RowId, rt: RuntimeDep, who: CurrentUser, route: RouteDep) -> Any:
    with refusals():
        await rt.caseloop.claim(ticket_id, who)
    return await _ticket_out(ticket_id, rt, who, route)


@router.post("/tickets/{ticket_id}/accept", response_model=TicketOut, dependencies=[DEPARTMENTS])
async def accept(ticket_id: RowId, rt: RuntimeDep, who: CurrentUser, route: RouteDep) -> Any:
    with refusals():
        await rt.caseloop.accept(ticket_id, who)
    return await _ticket_out(ticket_id, rt, who, route)


@router.post("/tickets/{ticket_id}/reply", response_model=TicketOut, dependencies=[DEPARTMENTS])
async def reply(
    ticket_id: RowId, body: ReplyIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    with refusals():
        await rt.caseloop.reply(ticket_id, who, body.text, then=rt.callbacks.schedule_for)
    return await _ticket_out(ticket_id, rt, who, route)


@router.post(
    "/tickets/{ticket_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    dependencies=[DEPARTMENTS],
)
async def attach(ticket_id: RowId, file: UploadFile, rt: RuntimeDep, who: CurrentUser) -> Any:
    data = await file.read(MAX_BYTES + 1)
    with refusals():
        ticket = await rt.caseloop.held_ticket(ticket_id, who)
        return await rt.attachments.add(ticket, file.filename or "file", data, who.actor)


@router.get("/attachments/{attachment_id}", dependencies=[READERS])
async def attachment(attachment_id: RowId, rt: RuntimeDep, who: CurrentUser) -> Any:
    with refusals():
        row, path = await rt.attachments.get(attachment_id)
        await rt.caseloop.check_visible(row.ticket_id, who)
    return FileResponse(path, media_type=row.content_type, filename=row.filename)


@router.post(
    "/tickets/{ticket_id}/disputes",
    response_model=DisputeOut,
    status_code=201,
    dependencies=[DEPARTMENTS],
)
async def file_dispute(ticket_id: RowId, body: DisputeIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    with refusals():
        return await rt.caseloop.file_dispute(ticket_id, who, body.reason)


@router.post("/disputes/{dispute_id}/review", response_model=DisputeOut, dependencies=[DISPATCHERS])
async def review_dispute(
    dispute_id: RowId, body: ReviewIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    with refusals():
        return await rt.caseloop.review_dispute(
            dispute_id,
            who,
            approve=body.decision == "approve",
            note=body.note,
            new_department=body.new_department,
        )


@router.post(
    "/disputes/{dispute_id}/confirm", response_model=DisputeOut, dependencies=[DISPATCHERS]
)
async def confirm_dispute(dispute_id: RowId, body: NoteIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    with refusals():
        return await rt.caseloop.confirm_dispute(dispute_id, who, body.note)


@router.post(
    "/tickets/{ticket_id}/extensions",
    response_model=ExtensionOut,
    status_code=201,
    dependencies=[DEPARTMENTS],
)
async def request_extension(
    ticket_id: RowId, body: ExtensionIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    with refusals():
        return await rt.caseloop.request_extension(ticket_id, who, body.days, body.reason)


@router.post(
    "/extensions/{extension_id}/decide", response_model=ExtensionOut, dependencies=[SUPERVISORS]
)
async def decide_extension(
    extension_id: RowId, body: DecideIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    with refusals():
        return await rt.caseloop.decide_extension(
            extension_id, who, approve=body.approve, note=body.note
        )


@router.post(
    "/tickets/{ticket_id}/supervisions", response_model=TicketOut, dependencies=[SUPERVISORS]
)
async def supervise(
    ticket_id: RowId, body: SuperviseIn, rt: RuntimeDep, who: CurrentUser, route: RouteDep
) -> Any:
    with refusals():
        await rt.caseloop.supervise(ticket_id, who, body.level, body.note)
    return await _ticket_out(ticket_id, rt, who, route)


@router.get("/supervision/summary", response_model=SummaryOut, dependencies=[SUPERVISORS])
async def supervision_summary(rt: RuntimeDep) -> Any:
    return await rt.caseloop.summary()


class ConfidentialViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    who: str
    at: datetime
    route: str


@router.get(
    "/tickets/{ticket_id}/confidential-views",
    response_model=list[ConfidentialViewOut],
    dependencies=[SUPERVISORS],
)
async def confidential_views(ticket_id: RowId, rt: RuntimeDep) -> Any:
    """保密件: who received the ticket's citizen data unmasked, when, through which route."""
    if await rt.tickets.get_ticket(ticket_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} does not exist")
    return await rt.confidential.views(ticket_id)
