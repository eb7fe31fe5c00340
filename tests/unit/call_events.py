"""Call facts as the ticket service receives them, for the service's unit tests."""

from __future__ import annotations

from typing import Any

from core.events import AgentConnected
from ivr.ports import InboundCall

NODE = "n1"


def inbound(uid: str, caller: str | None = "13800000001", **route: Any) -> InboundCall:
    values: dict[str, Any] = {"dialled": "12345", **route}
    return InboundCall(
        uniqueid=uid,
        linkedid=uid,
        channel=f"PJSIP/carrier-{uid}",
        caller=caller,
        caller_name=None,
        **values,
    )


def connected(uid: str, ticket_id: int | None, caller: str = "13800000001") -> AgentConnected:
    return AgentConnected(
        node_id=NODE,
        uniqueid=uid,
        linkedid=uid,
        queue="main",
        agent_id="1001",
        agent_channel="PJSIP/1001-00000001",
        caller=caller,
        dialled="12345",
        hold_seconds=7,
        ticket_id=ticket_id,
    )
