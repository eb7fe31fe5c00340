"""Call control over AMI: what an agent's desk (or the app on its behalf) asks Asterisk to do.

Each method is one AMI action with the exact fields Asterisk 22 expects; errors come back as
``AmiActionError`` (Asterisk refused) or ``AmiUnavailable`` (no link). Transfers need the
agent's channel (from ``AgentConnected.agent_channel``): attended transfer and its cancel act
on it, three-way brings the centre into the agent's bridge, completion hangs the agent up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cti.connection import AmiResponse

log = logging.getLogger(__name__)

TRANSFER_CONTEXT = "hotline-transfer"
CALLOUT_CONTEXT = "hotline-callout"
SURVEY_CONTEXT = "hotline-survey"


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """How an Async Originate ended: OriginateResponse ``Response`` and ``Reason`` (Asterisk's
    AST_CONTROL code: 4 answered, 5 busy, 8 congestion, 3/1 no answer, 0 failed)."""

    response: str
    reason: int | None

    @classmethod
    def from_events(cls, events: Sequence[Mapping[str, str | Sequence[str]]]) -> OriginateResult:
        for event in reversed(events):
            if _one(event.get("Event")) == "OriginateResponse":
                reason = _one(event.get("Reason"))
                return cls(
                    _one(event.get("Response")) or "Failure",
                    int(reason) if reason.isdigit() else None,
                )
        return cls("Failure", None)


def _one(value: str | Sequence[str] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else (value[-1] if value else "")


class ActionSender(Protocol):
    """The one thing control needs from the AMI connection."""

    async def send_action(
        self, action: Mapping[str, str | Sequence[str]], follow_up_within: float | None = None
    ) -> AmiResponse: ...


class CallControl:
    def __init__(self, ami: ActionSender, hotline_number: str = "12345") -> None:
        self._ami = ami
        self._number = hotline_number

    async def attended_transfer(self, agent_channel: str, target: str) -> AmiResponse:
        """Consult ``target`` (119 …): the citizen waits with music while the agent talks."""
        return await self._ami.send_action(
            {
                "Action": "Atxfer",
                "Channel": agent_channel,
                "Exten": target,
                "Context": TRANSFER_CONTEXT,
            }
        )

    async def cancel_attended_transfer(self, agent_channel: str) -> AmiResponse:
        """Drop the consulted centre; the agent is back with the citizen."""
        return await self._ami.send_action({"Action": "CancelAtxfer", "Channel": agent_channel})

    async def complete_attended_transfer(self, agent_channel: str) -> AmiResponse:
        """The agent leaves: Asterisk joins the citizen with the consulted centre."""
        return await self.hangup(agent_channel)

    async def blind_transfer(self, agent_channel: str, target: str) -> AmiResponse:
        """Send the agent's caller to ``target`` without consulting first."""
        return await self._ami.send_action(
            {
                "Action": "BlindTransfer",
                "Channel": agent_channel,
                "Exten": target,
                "Context": TRANSFER_CONTEXT,
            }
        )

    async def three_way(
        self, agent_channel: str, target: str, endpoint: str, call_id: str, ring_seconds: int = 30
    ) -> AmiResponse:
        """Call ``target`` and, once it answers, add it to the agent's bridge: citizen, agent
        and centre talk together; the agent may leave later."""
        return await self._ami.send_action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{target}@{endpoint}",
                "Application": "BridgeAdd",
                "Data": agent_channel,
                "CallerID": f"{self._number} <{self._number}>",
                "Timeout": str(ring_seconds * 1000),
                "Async": "true",
                # Carried on the centre's AMI events, so its joining is tied to our call.
                "Variable": f"HOTLINE_CALL_ID={call_id}",
            }
        )

    async def click_to_call(
        self, agent_id: str, number: str, variables: Mapping[str, str], ring_seconds: int = 30
    ) -> AmiResponse:
        """Ring the agent's phone first; when the agent answers, dial the citizen."""
        return await self._ami.send_action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{agent_id}",
                "Context": CALLOUT_CONTEXT,
                "Exten": number,
                "Priority": "1",
                # What the agent's phone shows; the citizen sees the hotline's number.
                "CallerID": f"回拨 <{number}>",
                "Timeout": str(ring_seconds * 1000),
                "Async": "true",
                "Variable": [f"{k}={v}" for k, v in variables.items()],
            }
        )

    async def survey_call(
        self,
        number: str,
        trunk: str,
        caller_id: str,
        ring_seconds: int,
        attempt_id: int,
        channel_id: str,
    ) -> OriginateResult:
        """Ring a citizen for a satisfaction callback; on answer the ``hotline-survey`` context
        runs the survey. Returns once Asterisk knows how the dialling went: OriginateResponse
        ``Response`` (Success/Failure) and ``Reason`` (4 answered, 3 no answer …). The channel
        gets ``channel_id`` as its uniqueid, so its Hangup (with the cause) can be matched."""
        response = await self._ami.send_action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{number}@{trunk}",
                "ChannelId": channel_id,
                "Context": SURVEY_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "CallerID": f"{caller_id} <{caller_id}>",
                "Timeout": str(ring_seconds * 1000),
                "Async": "true",
                "Variable": f"CALLBACK_ATTEMPT={attempt_id}",
            },
            # Async Originate answers when the call is answered or has failed.
            follow_up_within=ring_seconds + 15,
        )
        return OriginateResult.from_events(response.events)

    async def tap_audio(
        self, channel: str, host: str, port: int, stream_id: str, timeout_seconds: int = 10
    ) -> AmiResponse:
        """Stream what ``channel`` says to our AudioSocket server, without touching its call:
        an AudioSocket channel runs ChanSpy on it (q: quiet, E: end with the spied channel,
        o: only the spied channel's own audio — the caller, not the agent)."""
        return await self._ami.send_action(
            {
                "Action": "Originate",
                "Channel": f"AudioSocket/{host}:{port}/{stream_id}",
                "Application": "ChanSpy",
                "Data": f"{channel},qEo",
                "Timeout": str(timeout_seconds * 1000),
                "Async": "true",
            }
        )

    async def hangup(self, channel: str) -> AmiResponse:
        return await self._ami.send_action({"Action": "Hangup", "Channel": channel})
