"""Agent states (登录/示闲/示忙/通话/话后): what each agent is doing, derived from Asterisk.

Sits between AMI and the app: queue membership and pauses live in Asterisk (dynamic members
added with QueueAdd, paused with QueuePause), so they survive our restarts and are read back
with QueueStatus after every AMI reconnect. :class:`AgentBoard` keeps, per agent, the facts
Asterisk reported (member of which queues, paused with which reason, on a queue call) and
derives one state from them; each input returns the change it caused, if any, so the caller
stores it with its time. :class:`QueueMembership` sends the AMI actions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cti.ami_events import (
    AmiFields,
    QueueMember,
    QueueMemberEvent,
    QueueMemberRemoved,
    parse_event,
)
from cti.connection import AmiResponse

WRAPUP_REASON = "话后处理"
"""The pause reason that marks after-call work (distinct from the agent's own pauses)."""


# AST_DEVICE_INUSE, AST_DEVICE_BUSY, AST_DEVICE_ONHOLD (QueueMember "Status").
BUSY_DEVICE_STATES = frozenset({2, 3, 8})


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"  # 未登录
    READY = "ready"  # 示闲
    PAUSED = "paused"  # 示忙 (with a reason code)
    ON_CALL = "on_call"  # 通话中
    WRAPUP = "wrapup"  # 话后处理


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent_id: str
    state: AgentState
    reason: str | None
    since: datetime


@dataclass(slots=True)
class _Facts:
    queues: set[str] = field(default_factory=set)
    paused: bool = False
    reason: str = ""
    in_call: bool = False

    def state(self) -> tuple[AgentState, str | None]:
        if not self.queues:
            return AgentState.LOGGED_OUT, None
        if self.in_call:
            return AgentState.ON_CALL, None
        if self.paused and self.reason == WRAPUP_REASON:
            return AgentState.WRAPUP, None
        if self.paused:
            return AgentState.PAUSED, self.reason or None
        return AgentState.READY, None


class AgentBoard:
    """Per-agent facts and the state derived from them. Pure: the clock is injected."""

    def __init__(self, agents: Iterable[str], clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._facts: dict[str, _Facts] = {}
        self._status: dict[str, AgentStatus] = {}
        now = clock()
        for agent in agents:
            self._facts[agent] = _Facts()
            self._status[agent] = AgentStatus(agent, AgentState.LOGGED_OUT, None, now)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._facts

    def status(self, agent_id: str) -> AgentStatus:
        return self._status[agent_id]

    def all(self) -> list[AgentStatus]:
        return [self._status[a] for a in sorted(self._status)]

    def paused(self, agent_id: str) -> bool:
        return self._facts[agent_id].paused

    def in_call(self, agent_id: str) -> bool:
        return self._facts[agent_id].in_call

    def _settle(self, agent_id: str) -> AgentStatus | None:
        state, reason = self._facts[agent_id].state()
        old = self._status[agent_id]
        if (old.state, old.reason) == (state, reason):
            return None
        new = AgentStatus(agent_id, state, reason, self._clock())
        self._status[agent_id] = new
        return new

    # --- inputs ---------------------------------------------------------------------------

    def member_event(self, event: QueueMemberEvent) -> AgentStatus | None:
        """Asterisk said a member was added, removed, paused or changed."""
        agent = event.agent_id
        if agent not in self._facts:
            return None
        facts = self._facts[agent]
        if isinstance(event, QueueMemberRemoved):
            facts.queues.discard(event.queue)
            if not facts.queues:
                facts.paused, facts.reason = False, ""
        else:
            facts.queues.add(event.queue)
            facts.paused, facts.reason = event.paused, event.paused_reason if event.paused else ""
        return self._settle(agent)

    def pause_confirmed(self, agent_id: str, paused: bool, reason: str) -> AgentStatus | None:
        """Asterisk answered Success to our QueuePause (its member events follow later)."""
        if agent_id not in self._facts or not self._facts[agent_id].queues:
            return None
        facts = self._facts[agent_id]
        facts.paused, facts.reason = paused, reason if paused else ""
        return self._settle(agent_id)

    def call_started(self, agent_id: str) -> AgentStatus | None:
        if agent_id not in self._facts:
            return None
        self._facts[agent_id].in_call = True
        return self._settle(agent_id)

    def call_ended(self, agent_id: str) -> AgentStatus | None:
        if agent_id not in self._facts:
            return None
        self._facts[agent_id].in_call = False
        return self._settle(agent_id)

    def rebuild(self, members: Sequence[QueueMemberEvent]) -> list[AgentStatus]:
        """Replace every agent's facts with a QueueStatus answer (after an AMI reconnect);
        return the states that differ from what we believed."""
        fresh = {agent: _Facts() for agent in self._facts}
        # The latest pause wins where queues disagree (paused from the CLI in one queue).
        for m in sorted(members, key=lambda m: m.last_pause):
            facts = fresh.get(m.agent_id)
            if facts is None:
                continue
            facts.queues.add(m.queue)
            if m.paused:
                facts.paused, facts.reason = True, m.paused_reason
            # InCall covers queue calls; the device state also catches a call the agent is on
            # outside the queues (a click-to-call back to a citizen).
            facts.in_call = facts.in_call or m.in_call or m.status in BUSY_DEVICE_STATES
        self._facts = fresh
        return [s for s in (self._settle(a) for a in sorted(fresh)) if s is not None]


# --- AMI actions ------------------------------------------------------------------------------


class ActionSender(Protocol):
    async def send_action(self, action: Mapping[str, str | Sequence[str]]) -> AmiResponse: ...


def interface(agent_id: str) -> str:
    return f"PJSIP/{agent_id}"


class QueueMembership:
    """QueueAdd / QueueRemove / QueuePause / QueueStatus for agent extensions."""

    def __init__(self, ami: ActionSender) -> None:
        self._ami = ami

    async def add(self, agent_id: str, queue: str, penalty: int, paused: bool) -> None:
        await self._ami.send_action(
            {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": interface(agent_id),
                "Penalty": str(penalty),
                "Paused": "true" if paused else "false",
                "MemberName": agent_id,
                # Ring state from the endpoint, so an agent busy on any call is not offered one.
                "StateInterface": interface(agent_id),
            }
        )

    async def remove(self, agent_id: str, queue: str) -> None:
        await self._ami.send_action(
            {"Action": "QueueRemove", "Queue": queue, "Interface": interface(agent_id)}
        )

    async def pause(self, agent_id: str, paused: bool, reason: str = "") -> None:
        """Pause or unpause the agent in every queue it is a member of."""
        action = {
            "Action": "QueuePause",
            "Interface": interface(agent_id),
            "Paused": "true" if paused else "false",
        }
        if paused and reason:
            action["Reason"] = reason
        await self._ami.send_action(action)

    async def status(self) -> list[QueueMemberEvent]:
        """Every member of every queue, as Asterisk knows them now."""
        return (await self.snapshot()).members

    async def snapshot(self) -> QueueSnapshot:
        """Members and waiting callers of every queue (one QueueStatus)."""
        answer = await self._ami.send_action({"Action": "QueueStatus"})
        members: list[QueueMemberEvent] = []
        callers: list[QueueCaller] = []
        queues: list[str] = []
        for fields in answer.events:
            kind = str(fields.get("Event", "")).lower()
            if kind == "queueparams":
                queues.append(str(fields.get("Queue", "")))
            elif kind == "queueentry":
                callers.append(_queue_caller(fields))
            elif isinstance(event := parse_event(fields), QueueMember):
                members.append(event)
        return QueueSnapshot(members=members, callers=callers, queues=queues)


@dataclass(frozen=True, slots=True)
class QueueCaller:
    """A caller waiting in a queue (a QueueEntry of the QueueStatus answer)."""

    queue: str
    uniqueid: str
    caller: str | None
    position: int
    wait_seconds: int


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    members: list[QueueMemberEvent]
    callers: list[QueueCaller]
    queues: list[str]


def _queue_caller(fields: AmiFields) -> QueueCaller:
    def text(key: str) -> str:
        value = fields.get(key, "")
        return value if isinstance(value, str) else ""

    def number(key: str) -> int:
        value = text(key).strip()
        return int(value) if value.isdigit() else 0

    caller = text("CallerIDNum")
    return QueueCaller(
        queue=text("Queue"),
        uniqueid=text("Uniqueid"),
        caller=None if caller in ("", "<unknown>") else caller,
        position=number("Position"),
        wait_seconds=number("Wait"),
    )


async def live_channel_ids(ami: ActionSender) -> set[str]:
    """The Uniqueid and Linkedid of every channel up in Asterisk now (one CoreShowChannels)."""
    answer = await ami.send_action({"Action": "CoreShowChannels"})
    ids: set[str] = set()
    for fields in answer.events:
        if str(fields.get("Event", "")).lower() == "coreshowchannel":
            ids.update(str(fields[k]) for k in ("Uniqueid", "Linkedid") if fields.get(k))
    return ids
