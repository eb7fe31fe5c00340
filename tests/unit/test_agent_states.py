"""Agent states: the board derives one state from what Asterisk reports; the service sends the
queue actions, stores every change with its time, runs after-call work, rebuilds after a
reconnect. Asterisk's side is a FakeQueueAsterisk that answers actions with the member events
Asterisk 22 sends (field names as recorded from a real node)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.agents.service import AgentService, AgentStateError, memberships
from app.migrate import upgrade
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import AgentCallEnded, AgentConnected, Event
from core.settings import Settings
from cti import (
    WRAPUP_REASON,
    AgentBoard,
    AgentState,
    AmiActionError,
    AmiResponse,
    QueueMemberAdded,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMembership,
    parse_event,
)
from ivr.numberplan import NumberPlan, load_number_plan
from tests.conftest import EXAMPLE_PLAN, make_settings

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def member(cls: type[QueueMemberEvent], agent: str, queue: str = "main", **kw: Any) -> Any:
    fields = {"queue": queue, "interface": f"PJSIP/{agent}", "member_name": agent}
    fields |= {"membership": "dynamic", "paused": False, "paused_reason": ""}
    fields |= {"in_call": False, "status": 1}
    return cls(**(fields | kw))


def test_board_derives_states_from_asterisk_facts() -> None:
    clock = Clock()
    board = AgentBoard(["1001", "1002"], clock)
    assert board.status("1001").state is AgentState.LOGGED_OUT
    clock.tick(5)
    s = board.member_event(member(QueueMemberAdded, "1001"))
    assert s is not None and (s.state, s.since) == (AgentState.READY, T0 + timedelta(seconds=5))
    # joining a second queue changes nothing
    assert board.member_event(member(QueueMemberAdded, "1001", "gjj")) is None
    s = board.member_event(member(QueueMemberPause, "1001", paused=True, paused_reason="小休"))
    assert s is not None and (s.state, s.reason) == (AgentState.PAUSED, "小休")
    assert (
        board.member_event(
            member(QueueMemberPause, "1001", "gjj", paused=True, paused_reason="小休")
        )
        is None
    )
    assert board.call_started("1001") is not None
    assert board.status("1001").state is AgentState.ON_CALL
    s = board.call_ended("1001")
    assert s is not None and s.state is AgentState.PAUSED  # paused during the call: stays
    s = board.member_event(
        member(QueueMemberPause, "1001", paused=True, paused_reason=WRAPUP_REASON)
    )
    assert s is not None and (s.state, s.reason) == (AgentState.WRAPUP, None)
    board.member_event(member(QueueMemberRemoved, "1001"))
    assert board.status("1001").state is AgentState.WRAPUP  # still in gjj
    s = board.member_event(member(QueueMemberRemoved, "1001", "gjj"))
    assert s is not None and s.state is AgentState.LOGGED_OUT
    assert board.member_event(member(QueueMemberAdded, "9999")) is None  # not ours
    assert board.status("1002").state is AgentState.LOGGED_OUT


def test_rebuild_replaces_what_we_believed() -> None:
    board = AgentBoard(["1001", "1002", "1003"], Clock())
    board.member_event(member(QueueMemberAdded, "1001"))
    board.member_event(member(QueueMemberAdded, "1003"))
    changes = board.rebuild(
        [
            member(QueueMemberAdded, "1002", paused=True, paused_reason="会议"),
            member(QueueMemberAdded, "1003", "gjj", in_call=True),
            member(QueueMemberAdded, "1003"),
        ]
    )
    assert {(c.agent_id, c.state, c.reason) for c in changes} == {
        ("1001", AgentState.LOGGED_OUT, None),
        ("1002", AgentState.PAUSED, "会议"),
        ("1003", AgentState.ON_CALL, None),
    }


def test_queue_status_member_is_parsed() -> None:
    # A QueueMember block of Asterisk 22's QueueStatus answer.
    event = parse_event(
        {
            "Event": "QueueMember",
            "Queue": "main",
            "Name": "1001",
            "Location": "PJSIP/1001",
            "StateInterface": "PJSIP/1001",
            "Membership": "dynamic",
            "Penalty": "0",
            "CallsTaken": "2",
            "InCall": "1",
            "Status": "2",
            "Paused": "1",
            "PausedReason": "小休",
            "Wrapuptime": "0",
        }
    )
    assert isinstance(event, QueueMemberEvent)
    assert (event.agent_id, event.in_call, event.paused, event.paused_reason) == (
        "1001",
        True,
        True,
        "小休",
    )


class FakeQueueAsterisk:
    """app_queue's side of the AMI: keeps members and answers like Asterisk 22."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.actions: list[dict[str, Any]] = []
        self.emitted: list[QueueMemberEvent] = []

    def _emit(self, cls: type[QueueMemberEvent], queue: str, agent: str) -> None:
        m = self.members.get((queue, agent), {"paused": False, "reason": ""})
        self.emitted.append(
            member(cls, agent, queue, paused=m["paused"], paused_reason=m["reason"])
        )

    async def send_action(self, action: Mapping[str, str | Sequence[str]]) -> AmiResponse:
        a = dict(action)
        self.actions.append(a)
        agent = str(a.get("Interface", "")).removeprefix("PJSIP/")
        ok = AmiResponse(fields={"Response": "Success"}, events=(), content="")
        if a["Action"] == "QueueAdd":
            key = (str(a["Queue"]), agent)
            if key in self.members:
                raise AmiActionError(
                    "QueueAdd",
                    AmiResponse(
                        fields={
                            "Response": "Error",
                            "Message": "Unable to add interface: Already there",
                        },
                        events=(),
                        content="",
                    ),
                )
            self.members[key] = {"paused": a["Paused"] == "true", "reason": ""}
            self._emit(QueueMemberAdded, key[0], agent)
        elif a["Action"] == "QueueRemove":
            key = (str(a["Queue"]), agent)
            self.members.pop(key)
            self._emit(QueueMemberRemoved, key[0], agent)
        elif a["Action"] == "QueuePause":
            for (queue, who), m in self.members.items():
                if who == agent:
                    m["paused"] = a["Paused"] == "true"
                    m["reason"] = str(a.get("Reason", "")) if m["paused"] else ""
                    self._emit(QueueMemberPause, queue, agent)
        elif a["Action"] == "QueueStatus":
            events = tuple(
                {
                    "Event": "QueueMember",
                    "Queue": queue,
                    "Name": who,
                    "Location": f"PJSIP/{who}",
                    "Paused": "1" if m["paused"] else "0",
                    "PausedReason": m["reason"],
                    "InCall": "0",
                    "Status": "1",
                }
                for (queue, who), m in self.members.items()
            )
            return AmiResponse(fields={"Response": "Success"}, events=events, content="")
        return ok


class Sockets:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def send(self, agent_id: str, event: Event) -> None:
        self.sent.append((agent_id, event))


class Desk:
    def __init__(self, svc: AgentService, ami: FakeQueueAsterisk, sockets: Sockets) -> None:
        self.svc, self.ami, self.sockets = svc, ami, sockets

    def deliver(self) -> None:
        """Asterisk's events reach the service (the runtime's AMI dispatcher does this)."""
        events, self.ami.emitted = self.ami.emitted, []
        for e in events:
            self.svc.on_member_event(e)

    async def settle(self) -> None:
        self.deliver()
        await asyncio.sleep(0.45)  # the history writer stores in batches (WRITE_DELAY)


@pytest.fixture
async def desk(tmp_path: Any) -> AsyncIterator[Desk]:
    settings: Settings = make_settings(tmp_path, queue={"wrapup_seconds": 1})
    upgrade(settings.db_url)
    engine = create_engine(settings.db_url)
    ami, sockets, bus = FakeQueueAsterisk(), Sockets(), InProcessBus()
    plan = load_number_plan(EXAMPLE_PLAN)
    svc = AgentService(
        session_factory(engine),
        AgentBoard(settings.agents, lambda: datetime.now(UTC)),
        QueueMembership(ami),
        sockets,
        bus,
        settings,
        lambda: plan,
    )
    await svc.start()
    try:
        yield Desk(svc, ami, sockets)
    finally:
        await svc.stop()
        await engine.dispose()


def test_login_joins_main_and_skill_queues_with_penalties(settings: Settings) -> None:
    plan: NumberPlan = load_number_plan(EXAMPLE_PLAN)
    got = dict(memberships(settings, plan, "1002"))
    assert got["main"] == 0
    for line in plan.specialised:
        assert got[line.queue] == (0 if "1002" in line.skilled_agents else 1)


async def test_states_are_stored_and_pushed_with_who_asked(desk: Desk) -> None:
    svc = desk.svc
    with pytest.raises(AgentStateError, match="not logged in"):
        await svc.ready("1001", "agent:1001")
    await svc.login("1001", "agent:1001")
    await svc.login("1001", "agent:1001")  # again: "Already there" is fine
    await desk.settle()
    assert svc.board.status("1001").state is AgentState.READY
    with pytest.raises(AgentStateError, match="unknown pause reason"):
        await svc.pause("1001", "睡觉", "agent:1001")
    await svc.pause("1001", "培训", "supervisor:boss")
    await desk.settle()
    assert (svc.board.status("1001").state, svc.board.status("1001").reason) == (
        AgentState.PAUSED,
        "培训",
    )
    await svc.ready("1001", "agent:1001")
    await svc.logout("1001", "agent:1001")
    await desk.settle()
    rows = list(reversed(await svc.history("1001", 10)))
    assert [(r.state, r.reason, r.source) for r in rows] == [
        ("ready", None, "agent:1001"),
        ("paused", "培训", "supervisor:boss"),
        ("ready", None, "agent:1001"),
        ("logged_out", None, "agent:1001"),
    ]
    assert all(a.at <= b.at for a, b in itertools.pairwise(rows))
    pushed = [(a, e.to_dict()["state"]) for a, e in desk.sockets.sent]
    assert pushed == [
        ("1001", "ready"),
        ("1001", "paused"),
        ("1001", "ready"),
        ("1001", "logged_out"),
    ]
    with pytest.raises(AgentStateError, match="not configured"):
        await svc.login("4242", "admin:x")


def _call(agent: str) -> tuple[AgentConnected, AgentCallEnded]:
    common = {"node_id": "n1", "uniqueid": "1.1", "queue": "main", "agent_id": agent}
    return (
        AgentConnected(
            **common,
            linkedid="1.1",
            agent_channel=f"PJSIP/{agent}-1",
            caller="138",
            dialled="12345",
            hold_seconds=3,
            ticket_id=1,
        ),
        AgentCallEnded(**common, talk_seconds=30, reason="caller"),
    )


async def test_wrapup_after_a_call_ends_by_itself(desk: Desk) -> None:
    svc = desk.svc
    await svc.login("1001", "agent:1001")
    await desk.settle()
    connected, ended = _call("1001")
    await svc.on_call_event(connected)
    assert svc.board.status("1001").state is AgentState.ON_CALL
    await svc.on_call_event(ended)
    await desk.settle()
    assert svc.board.status("1001").state is AgentState.WRAPUP
    pause = desk.ami.actions[-1]
    assert (pause["Action"], pause["Paused"], pause["Reason"]) == (
        "QueuePause",
        "true",
        WRAPUP_REASON,
    )
    await asyncio.sleep(1.2)  # queue.wrapup_seconds = 1
    await desk.settle()
    assert svc.board.status("1001").state is AgentState.READY
    sources = [r.source for r in reversed(await svc.history("1001", 10))]
    assert sources == ["agent:1001", "asterisk", "wrapup", "wrapup-timer"]


async def test_wrapup_can_end_early_and_a_paused_agent_gets_none(desk: Desk) -> None:
    svc = desk.svc
    await svc.login("1002", "agent:1002")
    await desk.settle()
    connected, ended = _call("1002")
    await svc.on_call_event(connected)
    await svc.on_call_event(ended)
    await desk.settle()
    await svc.end_wrapup("1002", "agent:1002")
    await desk.settle()
    assert svc.board.status("1002").state is AgentState.READY
    with pytest.raises(AgentStateError, match="not in after-call work"):
        await svc.end_wrapup("1002", "agent:1002")
    # Paused during the call: after it the agent stays paused, no wrap-up.
    await svc.on_call_event(connected)
    await svc.pause("1002", "会议", "agent:1002")
    await desk.settle()
    await svc.on_call_event(ended)
    await desk.settle()
    assert (svc.board.status("1002").state, svc.board.status("1002").reason) == (
        AgentState.PAUSED,
        "会议",
    )


async def test_rebuild_reads_queue_status(desk: Desk) -> None:
    svc = desk.svc
    await svc.login("1003", "agent:1003")
    await desk.settle()
    # While the AMI link was down, the agent was paused from Asterisk's CLI: we never heard.
    await QueueMembership(desk.ami).pause("1003", True, "小休")
    desk.ami.emitted.clear()
    assert svc.board.status("1003").state is AgentState.READY
    changes = await svc.rebuild()
    await desk.settle()
    assert [(c.agent_id, c.state, c.reason) for c in changes] == [
        ("1003", AgentState.PAUSED, "小休")
    ]
    latest = (await svc.history("1003", 10))[0]
    assert (latest.state, latest.reason, latest.source) == ("paused", "小休", "rebuild")
