"""HTTP and WebSocket routes: the edge of the app. Routes parse, authorise and call services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, computed_field
from starlette.websockets import WebSocketDisconnect

from app.auth import Principal, Role
from app.callbacks import CallbackError
from app.missed import MissedCallError
from app.models import TicketState
from app.runtime import Runtime
from app.tickets import InvalidTransition
from app.transfers import TransferError
from cti import AmiError
from transcription import CATEGORY_LABELS_ZH

_bearer = HTTPBearer(auto_error=False)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def authenticated(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who is calling: a desk session's token, or the node's API token (service, admin)."""
    found = await runtime(request).users.resolve(creds.credentials if creds else None)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


CurrentUser = Annotated[Principal, Depends(authenticated)]


def allow(*roles: Role) -> Any:
    """A route dependency: only these roles (admin always) may call it."""
    permitted = {*roles, Role.ADMIN}

    def check(who: CurrentUser) -> Principal:
        if who.role not in permitted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the {who.role.value} role may not do this"
            )
        return who

    return Depends(check)


STAFF = allow(Role.AGENT, Role.SUPERVISOR)
READERS = allow(Role.AGENT, Role.SUPERVISOR, Role.DEPARTMENT)
SUPERVISORS = allow(Role.SUPERVISOR)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
# Row ids are SQL INTEGER (32-bit on PostgreSQL): a larger number is a 422, not a 500.
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    from_state: TicketState | None
    to_state: TicketState
    actor: str
    reason: str | None
    at: datetime


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    node_id: str
    uniqueid: str
    linkedid: str
    caller: str | None
    dialled: str
    queue: str | None
    agent_id: str | None
    ticket_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    hold_seconds: int | None
    recording_in: str | None
    recording_out: str | None
    route: str | None
    source: str | None
    prompt: str | None
    prompt_status: str | None


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    agent_id: str | None
    target: str
    mode: str
    outcome: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


class TransferIn(BaseModel):
    target: str = Field(pattern=r"^[0-9]{3,11}$", description="centre number: 110, 119, 12366 …")
    mode: Literal["attended", "threeway", "blind"] = "attended"


class MissedCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    caller: str
    dialled: str
    at: datetime
    wait_seconds: int | None
    state: str
    claimed_by: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    cleared_by_call: str | None


class AgentIn(BaseModel):
    agent_id: str = Field(pattern=r"^[0-9]{3,6}$")


class NumberDayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    name: str
    kind: str
    offered: int
    answered: int
    abandoned: int
    unanswered: int
    notice_played: int


class TranscriptLineOut(BaseModel):
    speaker: Literal["citizen", "agent"]
    start: float
    end: float
    text: str


class TranscriptAlertOut(BaseModel):
    category: str
    centre: str | None
    phrase: str
    speaker: str | None
    at: float


class TranscriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    call_id: str
    text: str
    lines: list[TranscriptLineOut]
    alerts: list[TranscriptAlertOut]
    model: str
    created_at: datetime


class TranscriptionJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    state: str
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TranscriptionJobsOut(BaseModel):
    enabled: bool
    counts: dict[str, int]  # jobs per state: the backlog is "queued" + "running"
    jobs: list[TranscriptionJobOut]


class CallbackAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    attempt_no: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    reason: int | None
    cause: int | None


class CallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    round: int
    campaign: str
    number: str
    status: str
    next_attempt_at: datetime | None
    attempts: int
    service_rating: int | None
    outcome_rating: int | None
    comment_recording: str | None
    call_uniqueid: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_rows: list[CallbackAttemptOut] = Field(serialization_alias="attempt_list")


class LiveAlertOut(BaseModel):
    """An emergency phrase heard live; ``centre`` is the suggested one-key transfer."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    agent_id: str | None
    category: str
    centre: str | None
    phrase: str
    speaker: str | None
    offset: float
    raised_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category_zh(self) -> str:
        """What the wallboard shows: 火警, 医疗急救 … (the code itself for a custom category)."""
        return CATEGORY_LABELS_ZH.get(self.category, self.category)


class TicketOut(BaseModel):
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


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: TicketState
    reason: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, min_length=1, max_length=64)


public = APIRouter()
api = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


@public.get("/api/health")
async def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness for monitoring; says whether Asterisk's AMI and our FastAGI are up."""
    return await rt.health()


@api.get("/openapi.json", include_in_schema=False)
async def openapi_schema(request: Request) -> dict[str, Any]:
    """The OpenAPI description, for clients and schemathesis (token required)."""
    return request.app.openapi()  # type: ignore[no-any-return]


@api.get("/tickets/{ticket_id}", response_model=TicketOut, dependencies=[READERS])
async def get_ticket(ticket_id: RowId, rt: RuntimeDep) -> Any:
    ticket = await rt.tickets.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} does not exist")
    out = TicketOut.model_validate(ticket)
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


# Who may move a ticket where: agents take calls in (register, answer directly, dispatch,
# merge); departments handle what was dispatched to them (accept, dispute, reply);
# supervisors may do all of it, and close or reopen after a callback by hand.
WORKFLOW_STEPS: dict[Role, frozenset[TicketState]] = {
    Role.AGENT: frozenset(
        {TicketState.REGISTERED, TicketState.ANSWERED, TicketState.DISPATCHED, TicketState.MERGED}
    ),
    Role.DEPARTMENT: frozenset({TicketState.ACCEPTED, TicketState.DISPUTED, TicketState.REPLIED}),
}


@api.post("/tickets/{ticket_id}/transitions", response_model=TicketOut, dependencies=[READERS])
async def move_ticket(
    ticket_id: RowId, body: TransitionIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    """The handling workflow: register, dispatch (with the department), accept, dispute,
    reply, answer directly, close, reopen. A reply or direct answer schedules the
    satisfaction callback in the same transaction. 409 when the lifecycle forbids the move,
    403 when the caller's role may not make it."""
    steps = WORKFLOW_STEPS.get(who.role)
    if steps is not None and body.to not in steps:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the {who.role.value} role may not move a ticket to {body.to}",
        )
    try:
        await rt.move_ticket(ticket_id, body.to, body.reason, body.department, actor=who.actor)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return await get_ticket(ticket_id, rt)


@api.get("/callbacks", response_model=list[CallbackOut], dependencies=[SUPERVISORS])
async def list_callbacks(
    rt: RuntimeDep,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_]{1,16}$")] = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Callbacks, newest first; ``status=unreachable`` (or no_rating, do_not_call) is the
    manual follow-up list."""
    return await rt.callbacks.list(status=status_, ticket_id=ticket_id, limit=limit)


@api.get("/callbacks/campaigns", dependencies=[SUPERVISORS])
async def callback_campaigns(rt: RuntimeDep) -> list[dict[str, Any]]:
    """The campaign monitor: callbacks by status, progress, answer rate, ratings."""
    return await rt.callbacks.monitor()


@api.post("/callbacks/campaigns/{name}/{action}", dependencies=[SUPERVISORS])
async def pause_campaign(
    name: Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_-]{0,31}$")],
    action: Literal["pause", "resume"],
    rt: RuntimeDep,
) -> dict[str, Any]:
    try:
        await rt.callbacks.set_paused(name, action == "pause")
    except CallbackError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return {"name": name, "paused": action == "pause"}


@api.get("/alerts", response_model=list[LiveAlertOut], dependencies=[SUPERVISORS])
async def live_alerts(
    rt: RuntimeDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Emergency keyword alerts heard in live calls, newest first (the supervisor's list; each
    also arrives on the bus and the agent's WebSocket as ``keyword_alert``)."""
    return await rt.live.list_alerts(since=since, limit=limit)


@api.get("/transcription/live", dependencies=[SUPERVISORS])
async def live_status(rt: RuntimeDep) -> dict[str, Any]:
    """Live transcription: on which queues, slots in use, fall-backs to post-call only."""
    return rt.live.status()


@api.get("/calls", response_model=list[CallOut], dependencies=[STAFF])
async def list_calls(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    caller: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
) -> Any:
    return await rt.tickets.list_calls(limit=limit, caller=caller, since=since)


@api.post(
    "/calls/{call_id}/transfers",
    response_model=TransferOut,
    status_code=201,
    dependencies=[STAFF],
)
async def start_transfer(call_id: str, body: TransferIn, rt: RuntimeDep) -> Any:
    """Hand the agent's call to another centre: attended (consult first), threeway (all
    three talk), or blind."""
    try:
        return await rt.transfers.start(call_id, body.target, body.mode)
    except TransferError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@api.post("/transfers/{transfer_id}/{action}", response_model=TransferOut, dependencies=[STAFF])
async def finish_transfer(
    transfer_id: RowId, action: Literal["complete", "cancel"], rt: RuntimeDep
) -> Any:
    try:
        return await rt.transfers.finish(transfer_id, action)
    except TransferError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@api.get("/missed-calls", response_model=list[MissedCallOut], dependencies=[STAFF])
async def list_missed_calls(
    rt: RuntimeDep,
    state: Annotated[Literal["open", "claimed", "done", "cleared"] | None, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return await rt.missed.list(state=state, limit=limit)


@api.post("/missed-calls/{entry_id}/{action}", response_model=MissedCallOut)
async def work_missed_call(
    entry_id: RowId,
    action: Literal["claim", "complete", "call"],
    body: AgentIn,
    rt: RuntimeDep,
    who: Annotated[Principal, STAFF],
) -> Any:
    """claim it, complete it, or call the citizen back (the agent's phone rings first)."""
    if not who.may_act_for(body.agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not act for agent {body.agent_id}")
    try:
        if action == "complete":
            return await rt.missed.complete(entry_id, body.agent_id)
        entry = await rt.missed.claim(entry_id, body.agent_id)
        if action == "call":
            await rt.control.click_to_call(
                body.agent_id, entry.caller, {"HOTLINE_MISSED_ID": str(entry.id)}
            )
        return entry
    except MissedCallError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc


@api.get("/stats/numbers", response_model=list[NumberDayOut], dependencies=[SUPERVISORS])
async def number_stats(rt: RuntimeDep, day: date | None = None) -> Any:
    """Calls per service number on one local day (default today): offered, answered,
    abandoned, unanswered, notices played."""
    return await rt.stats.day(day or datetime.now(rt.tz).date())


@api.get("/transcription/jobs", response_model=TranscriptionJobsOut, dependencies=[SUPERVISORS])
async def transcription_jobs(
    rt: RuntimeDep,
    state: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Post-call transcription backlog and progress: counts per state and the latest jobs."""
    return TranscriptionJobsOut(
        enabled=rt.transcription.enabled,
        counts=await rt.transcription.backlog(),
        jobs=[
            TranscriptionJobOut.model_validate(j)
            for j in await rt.transcription.list_jobs(state=state, limit=limit)
        ],
    )


@public.websocket("/ws/agents/{agent_id}")
async def agent_socket(ws: WebSocket, agent_id: str, token: str | None = None) -> None:
    """Screen pops and state changes for one agent. Browsers cannot set headers here, so the
    token is a query parameter; the connection is refused (close 1008) unless it belongs to
    that agent, a supervisor or the service."""
    rt: Runtime = ws.app.state.runtime
    who = await rt.users.resolve(token)
    if who is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid token")
        return
    if agent_id not in rt.settings.agents:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="unknown agent")
        return
    if not who.may_act_for(agent_id):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="not your agent")
        return
    await ws.accept()
    rt.hub.attach(agent_id, ws)
    try:
        await ws.send_json({"event": "hello", "agent_id": agent_id})
        while True:
            # Nothing is expected from the browser yet; reading notices the close.
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        rt.hub.detach(agent_id, ws)
