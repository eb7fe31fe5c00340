"""Routes of agents at work: states (login, ready, pause, after-call work), softphone, history,
click-to-call, supervision (listen/whisper/barge), the wallboard figures, and the agent's
WebSocket (screen pops, state changes, live transcript)."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect

from app.agents.service import AgentStateError
from app.auth.service import Principal
from app.edge import (
    STAFF,
    SUPERVISORS,
    AgentId,
    CurrentUser,
    RuntimeDep,
    authenticated,
)
from app.runtime import Runtime
from cti import AmiError
from cti.supervision import SpyMode, spy

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


sockets = APIRouter()


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


@router.get("/pause-reasons")
async def pause_reasons(rt: RuntimeDep) -> list[str]:
    return rt.agents.pause_reasons


@router.get("/agents", response_model=list[AgentStatusOut], dependencies=[SUPERVISORS])
async def agent_states(rt: RuntimeDep) -> Any:
    return rt.agents.board.all()


def _own(who: Principal, agent_id: str) -> None:
    if not who.may_act_for(agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not act for agent {agent_id}")


@router.get("/agents/{agent_id}", response_model=AgentStatusOut)
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


@router.get("/agents/{agent_id}/softphone", response_model=SoftphoneOut)
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


@router.get("/agents/{agent_id}/history", response_model=list[StateChangeOut])
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


@router.post("/agents/{agent_id}/dial", status_code=202, dependencies=[STAFF])
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


@router.post("/agents/{agent_id}/spy", status_code=202, dependencies=[SUPERVISORS])
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


@router.get("/wallboard", dependencies=[SUPERVISORS])
async def wallboard(rt: RuntimeDep) -> Any:
    """Queues (waiting now, longest wait, today's offered/answered/abandoned, service level)
    and agents by state with their time in it."""
    return dataclasses.asdict(await rt.wallboard.board())


@router.post("/agents/{agent_id}/{action}", status_code=202)
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


@sockets.websocket("/ws/agents/{agent_id}")
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
