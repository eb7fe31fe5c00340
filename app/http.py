"""HTTP and WebSocket routes: the edge of the app. Routes parse, authorise and call services."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.websockets import WebSocketDisconnect

from app.models import TicketState
from app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _token_ok(rt: Runtime, token: str | None) -> bool:
    expected = rt.settings.api.token.get_secret_value()
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def require_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if not _token_ok(runtime(request), creds.credentials if creds else None):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


RuntimeDep = Annotated[Runtime, Depends(runtime)]


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


public = APIRouter()
api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


@public.get("/api/health")
async def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness for monitoring; says whether Asterisk's AMI and our FastAGI are up."""
    return rt.health()


@api.get("/tickets/{ticket_id}", response_model=TicketOut)
async def get_ticket(ticket_id: int, rt: RuntimeDep) -> Any:
    ticket = await rt.tickets.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} does not exist")
    return ticket


@api.get("/calls", response_model=list[CallOut])
async def list_calls(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    caller: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
) -> Any:
    return await rt.tickets.list_calls(limit=limit, caller=caller, since=since)


@public.websocket("/ws/agents/{agent_id}")
async def agent_socket(ws: WebSocket, agent_id: str, token: str | None = None) -> None:
    """Screen pops for one agent. Browsers cannot set headers here, so the token is a query
    parameter; the connection is refused (close 1008) without a valid one."""
    rt: Runtime = ws.app.state.runtime
    if not _token_ok(rt, token):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid token")
        return
    if agent_id not in rt.settings.agents:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="unknown agent")
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
