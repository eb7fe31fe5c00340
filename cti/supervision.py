"""Supervisor listen / whisper / barge on an agent's call: AMI Originate rings the supervisor's
phone and, once answered, runs ChanSpy on the agent's channel.

Sits beside ``cti.control``: the app's wallboard route asks, Asterisk does the audio.
"""

from __future__ import annotations

from typing import Literal

from cti.agent_states import ActionSender, interface
from cti.connection import AmiResponse

SpyMode = Literal["listen", "whisper", "barge"]
# ChanSpy options: q no beep/announcement, E end when the spied channel hangs up,
# w the supervisor speaks to the agent only, B to both parties.
CHANSPY_OPTIONS: dict[str, str] = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}


async def spy(
    ami: ActionSender, supervisor_phone: str, agent_id: str, mode: SpyMode, ring_seconds: int = 30
) -> AmiResponse:
    # "PJSIP/1001-" matches the agent's channels (PJSIP/1001-0000002a) but not PJSIP/10010-….
    target = f"{interface(agent_id)}-"
    return await ami.send_action(
        {
            "Action": "Originate",
            "Channel": interface(supervisor_phone),
            "Application": "ChanSpy",
            "Data": f"{target},{CHANSPY_OPTIONS[mode]}",
            "CallerID": f"质检{agent_id} <{agent_id}>",
            "Timeout": str(ring_seconds * 1000),
            "Async": "true",
        }
    )
