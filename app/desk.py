"""Routes of the agent desk: sign-in, users, agent states, saving the ticket, the page itself.

The HTTP edge for what ``app/static/desk.html`` does (and any other client): every route but
sign-in and the static page needs a bearer token (``app.http.authenticated``) and a role.
"""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from app.agents import AgentStateError
from app.auth import AuthError, Principal, Role
from app.call_actions import CallActionError
from app.http import (
    STAFF,
    SUPERVISORS,
    CurrentUser,
    RowId,
    RuntimeDep,
    TicketOut,
    allow,
    authenticated,
)
from app.ticket_edits import TicketEdit, TicketEditError
from cti import AmiError
from cti.supervision import SpyMode, spy

STATIC = Path(__file__).parent / "static"

pages = APIRouter()
sign_in = APIRouter(prefix="/api")
desk = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])

_bearer = HTTPBearer(auto_error=False)
ADMINS = allow()
AgentId = Annotated[str, Field(pattern=r"^[0-9]{3,6}$")]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str
    role: Role
    agent_id: str | None
    display_name: str = ""


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserOut


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{2,64}$")
    password: str = Field(min_length=10, max_length=256)
    role: Role
    agent_id: AgentId | None = None
    display_name: str = Field(default="", max_length=64)


class AgentStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    agent_id: str
    state: str
    reason: str | None
    since: datetime


class StateChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    agent_id: str
    state: str
    reason: str | None
    source: str
    at: datetime


class AgentActionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=16)


class TicketPatchIn(BaseModel):
    category: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    address: str | None = Field(default=None, max_length=200)
    urgency: Literal["normal", "urgent"] | None = None
    contact_consent: bool | None = None
    # Move the draft to 已受理 (registered) with this save.
    register_ticket: bool = False


@pages.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/desk")


@pages.get("/desk", include_in_schema=False)
async def desk_page() -> FileResponse:
    """The page carries no data: it signs in and reads everything through the API."""
    return FileResponse(STATIC / "desk.html", media_type="text/html; charset=utf-8")


@sign_in.post("/login", response_model=LoginOut)
async def login(body: LoginIn, rt: RuntimeDep) -> Any:
    """Sign in with username and password; the token goes in ``Authorization: Bearer``."""
    try:
        token, who, expires = await rt.users.login(body.username, body.password)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    return LoginOut(
        token=token,
        expires_at=expires,
        user=UserOut(username=who.username, role=who.role, agent_id=who.agent_id),
    )


@desk.post("/logout", status_code=204)
async def logout(
    rt: RuntimeDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """End this session (the token stops working)."""
    if creds is not None:
        await rt.users.logout(creds.credentials)


@desk.get("/me", response_model=UserOut)
async def me(who: CurrentUser) -> Any:
    return UserOut(username=who.username, role=who.role, agent_id=who.agent_id)


@desk.get("/users", response_model=list[UserOut], dependencies=[ADMINS])
async def list_users(rt: RuntimeDep) -> Any:
    return await rt.users.list_users()


@desk.post("/users", response_model=UserOut, status_code=201, dependencies=[ADMINS])
async def create_user(body: UserIn, rt: RuntimeDep) -> Any:
    if body.agent_id and body.agent_id not in rt.settings.agents:
        raise HTTPException(422, f"agent {body.agent_id} is not configured on this node")
    try:
        return await rt.users.create_user(
            body.username,
            body.password,
            body.role,
            agent_id=body.agent_id,
            display_name=body.display_name,
        )
    except AuthError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@desk.get("/pause-reasons")
async def pause_reasons(rt: RuntimeDep) -> list[str]:
    return rt.agents.pause_reasons


@desk.get("/agents", response_model=list[AgentStatusOut], dependencies=[SUPERVISORS])
async def agent_states(rt: RuntimeDep) -> Any:
    return rt.agents.board.all()


def _own(who: Principal, agent_id: str) -> None:
    if not who.may_act_for(agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not act for agent {agent_id}")


@desk.get("/agents/{agent_id}", response_model=AgentStatusOut)
async def agent_state(agent_id: str, rt: RuntimeDep, who: CurrentUser) -> Any:
    _own(who, agent_id)
    if agent_id not in rt.agents.board:
        raise HTTPException(404, f"agent {agent_id} is not configured on this node")
    return rt.agents.board.status(agent_id)


class SoftphoneOut(BaseModel):
    webrtc: bool  # False: the agent uses a SIP phone of its own (README: Softphones)
    ws_url: str | None = None
    uri: str | None = None
    password: str | None = None


@desk.get("/agents/{agent_id}/softphone", response_model=SoftphoneOut)
async def softphone(agent_id: str, rt: RuntimeDep, who: CurrentUser) -> Any:
    """What the desk's browser phone registers with: only to the agent itself."""
    if who.agent_id != agent_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only the agent's own desk registers its phone"
        )
    settings = rt.settings
    if agent_id not in settings.webrtc.agents:
        return SoftphoneOut(webrtc=False)
    try:
        secrets = tomllib.loads(settings.agent_secrets_file.read_text())["agents"]
        password = str(secrets[agent_id])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise HTTPException(
            503, f"no SIP secret for agent {agent_id}: run hotline install"
        ) from exc
    return SoftphoneOut(
        webrtc=True,
        ws_url=settings.webrtc_ws_url,
        uri=f"sip:{agent_id}@{settings.sip.bind}",
        password=password,
    )


@desk.get("/agents/{agent_id}/history", response_model=list[StateChangeOut])
async def agent_history(
    agent_id: str,
    rt: RuntimeDep,
    who: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The agent's state changes, newest first (occupancy reports read the same rows)."""
    _own(who, agent_id)
    return await rt.agents.history(agent_id, limit)


class DialIn(BaseModel):
    number: str = Field(pattern=r"^[0-9]{3,20}$", description="the citizen's number")


@desk.post("/agents/{agent_id}/dial", status_code=202, dependencies=[STAFF])
async def dial(agent_id: str, body: DialIn, rt: RuntimeDep, who: CurrentUser) -> dict[str, str]:
    """Click-to-call: the agent's phone rings first, then the citizen is dialled through the
    carrier showing 12345 (from a ticket; missed calls use /api/missed-calls/{id}/call)."""
    _own(who, agent_id)
    if agent_id not in rt.settings.agents:
        raise HTTPException(404, f"agent {agent_id} is not configured on this node")
    try:
        await rt.control.click_to_call(agent_id, body.number, {"HOTLINE_DIAL_BY": who.actor})
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc
    return {"agent_id": agent_id, "requested": "dial", "number": body.number}


class SpyIn(BaseModel):
    mode: SpyMode = "listen"
    phone: AgentId = Field(description="the supervisor's extension; its phone rings first")


@desk.post("/agents/{agent_id}/spy", status_code=202, dependencies=[SUPERVISORS])
async def spy_on_agent(agent_id: str, body: SpyIn, rt: RuntimeDep) -> dict[str, str]:
    """Listen to, whisper to, or barge into the agent's call from the supervisor's phone."""
    for ext in (agent_id, body.phone):
        if ext not in rt.settings.agents:
            raise HTTPException(422, f"extension {ext} is not configured on this node")
    if rt.agents.board.status(agent_id).state != "on_call":
        raise HTTPException(status.HTTP_409_CONFLICT, f"agent {agent_id} is not on a call")
    try:
        await spy(rt.ami, body.phone, agent_id, body.mode)
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc
    return {"agent_id": agent_id, "requested": body.mode}


@desk.get("/wallboard", dependencies=[SUPERVISORS])
async def wallboard(rt: RuntimeDep) -> Any:
    """Queues (waiting now, longest wait, today's offered/answered/abandoned, service level)
    and agents by state with their time in it."""
    return dataclasses.asdict(await rt.wallboard.board())


@pages.get("/wallboard", include_in_schema=False)
async def wallboard_page() -> FileResponse:
    return FileResponse(STATIC / "wallboard.html", media_type="text/html; charset=utf-8")


@pages.get("/callbacks", include_in_schema=False)
async def callbacks_page() -> FileResponse:
    """The satisfaction-callback campaign monitor (supervisors; data through the API)."""
    return FileResponse(STATIC / "callbacks.html", media_type="text/html; charset=utf-8")


@desk.post("/agents/{agent_id}/{action}", status_code=202)
async def agent_action(
    agent_id: str,
    action: Literal["login", "logout", "ready", "pause", "end-wrapup"],
    rt: RuntimeDep,
    who: CurrentUser,
    body: AgentActionIn | None = None,
) -> dict[str, str]:
    """Asked of Asterisk; the new state arrives on the agent's WebSocket (``agent.state``)
    and at ``GET /api/agents/{id}`` once Asterisk confirms it."""
    _own(who, agent_id)
    svc, by = rt.agents, who.actor
    try:
        if action == "login":
            await svc.login(agent_id, by)
        elif action == "logout":
            await svc.logout(agent_id, by)
        elif action == "ready":
            await svc.ready(agent_id, by)
        elif action == "pause":
            await svc.pause(agent_id, (body.reason if body else None) or "", by)
        else:
            await svc.end_wrapup(agent_id, by)
    except AgentStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc
    return {"agent_id": agent_id, "requested": action}


@desk.post("/calls/{call_id}/hangup", status_code=202, dependencies=[STAFF])
async def hang_up(
    call_id: Annotated[str, PathParam(max_length=64)], rt: RuntimeDep, who: CurrentUser
) -> dict[str, str]:
    """End the agent's call (the agent's own, or any for a supervisor)."""
    try:
        await rt.call_actions.hangup(call_id, who)
    except CallActionError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc
    return {"call_id": call_id, "requested": "hangup"}


@desk.patch(
    "/tickets/{ticket_id}",
    response_model=TicketOut,
    dependencies=[allow(Role.AGENT, Role.SUPERVISOR)],
)
async def save_ticket(
    ticket_id: RowId, body: TicketPatchIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    """Save what the agent wrote; ``register_ticket: true`` also moves the draft to 已受理."""
    try:
        await rt.ticket_edits.save(ticket_id, TicketEdit(**body.model_dump()), who)
    except TicketEditError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return TicketOut.model_validate(await rt.tickets.get_ticket(ticket_id))
