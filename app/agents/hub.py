"""Agent WebSocket hub: delivers screen pops (and later call-control updates) to agent screens.

Call flow: cti → bus ``AgentConnected`` → ticket service → bus ``ScreenPop`` → this hub → every
browser tab the agent has open on ``/ws/agents/{id}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

from fastapi import WebSocket

from core.events import Event, ScreenPop

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0


class AgentHub:
    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def attach(self, agent_id: str, ws: WebSocket) -> None:
        self._sockets[agent_id].add(ws)

    def detach(self, agent_id: str, ws: WebSocket) -> None:
        self._sockets[agent_id].discard(ws)
        if not self._sockets[agent_id]:
            del self._sockets[agent_id]

    def connected(self, agent_id: str) -> int:
        return len(self._sockets.get(agent_id, ()))

    async def send(self, agent_id: str, event: Event) -> None:
        text = json.dumps(event.to_dict(), ensure_ascii=False)
        for ws in list(self._sockets.get(agent_id, ())):
            try:
                await asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT)
            except Exception:
                # A dead tab must not keep the pop from the agent's other tabs.
                log.info("dropping WebSocket of agent %s after a failed send", agent_id)
                self.detach(agent_id, ws)

    async def on_screen_pop(self, event: ScreenPop) -> None:
        if not self.connected(event.agent_id):
            log.warning(
                "screen pop for ticket %s: agent %s has no screen connected",
                event.ticket_id,
                event.agent_id,
            )
        await self.send(event.agent_id, event)
