"""HTTP and WebSocket routes: the edge of the app. Routes parse, authorise and call services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect

from app.auth import Principal, Role
from app.missed import MissedCallError
from app.models import TicketState
from app.runtime import Runtime
from app.transfers import TransferError
from cti import AmiError

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
    agent_id: str | None
    created_at: datetime
    updated_at: datetime
    transitions: list[TransitionOut]
    calls: list[CallOut]
    transfers: list[TransferOut]
    transcripts: list[TranscriptOut] = []


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
    return out


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
