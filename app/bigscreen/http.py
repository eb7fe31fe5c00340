"""Routes of the big screen: ``GET /api/bigscreen`` (the view once) and the WebSocket
``/ws/bigscreen?token=…`` (the view on connect, then again after each change, at most twice a
second). Supervisors and admins (the service token too); the page is ``/bigscreen``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, WebSocket, status
from starlette.websockets import WebSocketDisconnect

from app.auth.service import Role
from app.edge import SUPERVISORS, RuntimeDep, authenticated
from app.runtime import Runtime

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])
sockets = APIRouter()

WATCHERS = (Role.SUPERVISOR, Role.ADMIN)


@router.get("/bigscreen", dependencies=[SUPERVISORS])
async def bigscreen(rt: RuntimeDep) -> dict[str, Any]:
    """Today's calls, agents by state, tickets, top categories, keyword and surge alerts."""
    return rt.bigscreen.view()


@sockets.websocket("/ws/bigscreen")
async def bigscreen_socket(ws: WebSocket, token: str | None = None) -> None:
    """The view on connect, then after every change (throttled). Browsers cannot set headers
    here, so the token is a query parameter; anyone but a supervisor or admin is refused
    (close 1008)."""
    rt: Runtime = ws.app.state.runtime
    who = await rt.users.resolve(token)
    if who is None or who.role not in WATCHERS:
        reason = "invalid token" if who is None else "supervisors only"
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
        return
    await ws.accept()
    screen = rt.bigscreen
    await ws.send_json(screen.view())
    screen.attach(ws.send_text)
    try:
        while True:
            await ws.receive_text()  # nothing is expected; reading notices the close
    except WebSocketDisconnect:
        pass
    finally:
        screen.detach(ws.send_text)
