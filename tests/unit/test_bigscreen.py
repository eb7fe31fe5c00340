"""The big screen's aggregator: bus events in, today's counters out; the day read from the
database at start and again at local midnight (injected clock); pushes throttled; the
WebSocket for supervisors only; registering a ticket at the desk publishes TicketRegistered."""

from __future__ import annotations

import asyncio
import dataclasses
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth.service import Principal, Role
from app.bigscreen.service import BigScreen, Today
from app.cases.edits import TicketEdit, TicketEditor
from app.cases.service import TicketService
from app.departments.service import DepartmentService
from app.migrate import upgrade
from app.models import QueueEntry, SurgeAlertRow, Ticket, TicketTransition
from casework.lifecycle import TicketState
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import (
    AgentStateChanged,
    Event,
    KeywordAlert,
    RecordingSpace,
    SignForOverdue,
    SurgeAlert,
    TicketDispatched,
    TicketOverdue,
    TicketRegistered,
)
from core.kpis import KpiSettings
from cti import AgentBoard, AmiUnavailable
from cti.agent_states import QueueCaller, QueueSnapshot
from tests.conftest import TEST_TOKEN
from tests.unit.call_events import NODE, connected, inbound
from tests.unit.test_wallboard import abandoned, answered, queued

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai on 22 November; local midnight was 16:00 UTC on the 21st.
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
DAY = date(2026, 11, 22)


def registered(tid: int, category: str | None, at: datetime = NOW) -> TicketRegistered:
    return TicketRegistered(
        ticket_id=tid, category=category, source="phone:12345", actor="x", at=at
    )


def at(event: Event, moment: datetime = NOW) -> Event:
    return dataclasses.replace(event, at=moment)


def state(agent: str, to: str, at: datetime = NOW) -> AgentStateChanged:
    return AgentStateChanged(
        node_id="n1", agent_id=agent, state=to, reason=None, source="asterisk", at=at
    )


def alert(at: datetime = NOW) -> KeywordAlert:
    return KeywordAlert(
        alert_id=1,
        agent_id="1001",
        call_id="n1:1",
        ticket_id=7,
        category="fire",
        category_zh="火警",
        centre="119",
        phrase="着火",
        speaker="citizen",
        offset=3.0,
        transfer_path=None,
        at=at,
    )


def test_events_in_counters_out() -> None:
    today = Today(day=DAY)
    events: list[Event] = [
        queued("1", "main", NOW),
        queued("2", "main", NOW + timedelta(seconds=1)),
        queued("3", "gjj", NOW + timedelta(seconds=2)),
        queued("4", "main", NOW + timedelta(seconds=3)),
        at(answered("1", "main", 10)),
        at(answered("2", "main", 40)),
        at(abandoned("3", "gjj", 20)),
        state("1001", "on_call"),
        state("1002", "paused"),
        state("1003", "ready"),
        state("1003", "on_call"),
        registered(1, "供水"),
        registered(2, "供水"),
        registered(3, "噪音"),
        registered(4, None),
        TicketDispatched(ticket_id=1, department="water", mode="direct", at=NOW),
        TicketDispatched(ticket_id=2, department=None, mode="grab", at=NOW),
        TicketOverdue(ticket_id=9, department="water", due=NOW, at=NOW),
        SignForOverdue(ticket_id=8, department="water", due=NOW, at=NOW),
        alert(),
        SurgeAlert(
            category="供水", count=42, window_minutes=30, message="停水 30 分钟 42 件", at=NOW
        ),
        # A caller who joined yesterday and still waits: waiting now, not offered today.
        queued("0", "main", NOW - timedelta(days=1)),
    ]
    for event in events:
        assert today.apply(event, TZ, 15)
    # Yesterday's ticket delivered late is not today's.
    assert not today.apply(registered(5, "供水", NOW - timedelta(days=1)), TZ, 15)
    assert not today.apply(Event(at=NOW), TZ, 15)  # nothing the screen shows

    view = today.view(NOW + timedelta(seconds=63), 15, "answered")
    calls = view["calls"]
    assert (calls["offered"], calls["answered"], calls["abandoned"]) == (4, 2, 1)
    assert calls["answered_in_time"] == 1
    assert calls["answer_rate"] == 0.5 and calls["service_level"] == 0.5
    # Waiting now: caller 4 (today) and caller 0 (joined yesterday, still in the queue).
    assert calls["waiting"] == 2
    assert calls["longest_wait"] == 86400 + 63
    assert today.view(NOW, 15, "offered")["calls"]["service_level"] == 0.25
    assert view["agents"]["counts"] == {
        "ready": 0,
        "on_call": 2,
        "wrapup": 0,
        "paused": 1,
        "logged_out": 0,
    }
    assert view["tickets"] == {"received": 4, "dispatched": 2, "overdue": 1, "sign_overdue": 1}
    assert view["categories"] == [
        {"category": "供水", "count": 2},
        {"category": "噪音", "count": 1},
        {"category": "未分类", "count": 1},
    ]
    assert view["alerts_today"] == 1 and view["alerts"][0]["phrase"] == "着火"
    assert view["surges"][0]["count"] == 42


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Live:
    def __init__(self) -> None:
        self.callers: list[QueueCaller] | None = []

    async def __call__(self) -> QueueSnapshot:
        if self.callers is None:
            raise AmiUnavailable("down")
        return QueueSnapshot(members=[], callers=self.callers, queues=["main"])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bigscreen.db'}"
    upgrade(url)
    return url


async def seed_day(url: str, base: datetime) -> None:
    """Three queue entries and two registered tickets at ``base``, one of each a day earlier."""
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as s:
            for i, (outcome, wait, at) in enumerate(
                [
                    ("answered", 5, base),
                    ("answered", 30, base),
                    ("abandoned", 40, base),
                    ("answered", 5, base - timedelta(days=1)),
                ]
            ):
                s.add(
                    QueueEntry(
                        node_id="n1",
                        uniqueid=f"u{i}",
                        queue="main",
                        joined_at=at,
                        outcome=outcome,
                        wait_seconds=wait,
                    )
                )
            for i, (category, at) in enumerate(
                [("供水", base), ("供水", base), ("噪音", base - timedelta(days=1))]
            ):
                t = Ticket(
                    source="phone:12345",
                    category=category,
                    state=TicketState.REGISTERED,
                    created_at=at,
                    dispatch_mode="direct" if i == 0 else None,
                    dispatched_at=at if i == 0 else None,
                )
                s.add(t)
                s.add(
                    TicketTransition(
                        ticket=t,
                        from_state=TicketState.DRAFT,
                        to_state=TicketState.REGISTERED,
                        actor="agent:1001",
                        at=at,
                    )
                )
            # A surge alert today (app.surges stored it before publishing it), one yesterday.
            for day_back, count in ((0, 4), (1, 9)):
                moment = base - timedelta(days=day_back)
                s.add(
                    SurgeAlertRow(
                        category="交通事故", area_kind="place", area="人民路×解放路",
                        window="day", window_start=moment, window_end=moment, count=count,
                        expected=0.2, p_value=1e-5, robust_z=4.0, created_at=moment,
                        updated_at=moment, message=f"人民路×解放路 交通事故 当日 {count} 件",
                    )
                )  # fmt: skip
    finally:
        await engine.dispose()


@pytest.fixture
async def screen(sqlite_url: str) -> AsyncIterator[tuple[BigScreen, Clock, Live]]:
    engine = create_engine(sqlite_url)
    clock, live = Clock(NOW), Live()
    board = AgentBoard(["1001", "1002"], clock)
    svc = BigScreen(session_factory(engine), board, live, KpiSettings(), TZ, clock, 0.2)
    try:
        yield svc, clock, live
    finally:
        await svc.stop()
        await engine.dispose()


def test_a_node_short_of_recording_space_is_on_the_screen_until_it_recovers() -> None:
    today = Today(day=DAY)
    low = RecordingSpace(node_id="n2", low=True, free_mb=12, min_free_mb=1024, at=NOW)
    assert today.apply(low, TZ, 15)
    assert today.view(NOW, 15, "offered")["disk_low"] == [{"node_id": "n2", "free_mb": 12}]
    # It is a fact of now, not of the day: the next day keeps it.
    tomorrow = today.next_day(DAY + timedelta(days=1))
    assert tomorrow.view(NOW, 15, "offered")["disk_low"] == [{"node_id": "n2", "free_mb": 12}]
    back = RecordingSpace(node_id="n2", low=False, free_mb=5000, min_free_mb=1024, at=NOW)
    assert tomorrow.apply(back, TZ, 15)
    assert tomorrow.view(NOW, 15, "offered")["disk_low"] == []


async def test_start_reads_today_from_the_database(
    screen: tuple[BigScreen, Clock, Live], sqlite_url: str
) -> None:
    svc, _, live = screen
    await seed_day(sqlite_url, NOW - timedelta(hours=1))
    live.callers = [QueueCaller("main", "w1", "138", 1, 25)]
    await svc.start()
    view = svc.view()
    assert view["day"] == "2026-11-22"
    assert (view["calls"]["offered"], view["calls"]["answered"]) == (3, 2)
    assert (view["calls"]["abandoned"], view["calls"]["answered_in_time"]) == (1, 1)
    assert view["calls"]["waiting"] == 1 and view["calls"]["longest_wait"] == 25
    assert view["tickets"]["received"] == 2 and view["tickets"]["dispatched"] == 1
    assert view["categories"] == [{"category": "供水", "count": 2}]
    assert view["agents"]["counts"]["logged_out"] == 2
    assert [(a["category"], a["count"], a["window_minutes"]) for a in view["surges"]] == [
        ("交通事故", 4, 24 * 60)
    ]
    # Then it follows the bus only.
    await svc.on_event(at(answered("w1", "main", 26)))
    assert svc.view()["calls"]["answered"] == 3 and svc.view()["calls"]["waiting"] == 0


async def test_midnight_starts_a_new_day_from_the_database(
    screen: tuple[BigScreen, Clock, Live], sqlite_url: str
) -> None:
    svc, clock, live = screen
    before_midnight = datetime(2026, 11, 22, 15, 59, 50, tzinfo=UTC)  # 23:59:50 local
    clock.now = before_midnight
    live.callers = None  # Asterisk not reachable: still starts
    await seed_day(sqlite_url, before_midnight - timedelta(hours=2))
    await svc.start()
    assert svc.seconds_to_midnight() == 10
    await svc.on_event(queued("late", "main", before_midnight))
    await svc.on_event(state("1001", "on_call", before_midnight))
    assert svc.view()["calls"]["offered"] == 4 and svc.reloads == 1

    clock.now = before_midnight + timedelta(seconds=15)  # 00:00:05 on the 23rd
    assert await svc.roll_over()
    assert not await svc.roll_over()  # once a day
    view = svc.view()
    assert view["day"] == "2026-11-23" and svc.reloads == 2
    assert view["calls"]["offered"] == 0 and view["tickets"]["received"] == 0
    assert view["categories"] == []
    # Now, not today: the caller still waiting carries over (Asterisk not reachable); agents
    # are read again from the agent board, their source of truth (here: both logged out).
    assert view["calls"]["waiting"] == 1
    assert view["agents"]["counts"]["logged_out"] == 2
    # An event after midnight also turns the day, before it is counted.
    clock.now += timedelta(days=1)
    await svc.on_event(registered(50, "供水", clock.now))
    assert svc.view()["day"] == "2026-11-24" and svc.view()["tickets"]["received"] == 1


async def test_pushes_are_throttled(screen: tuple[BigScreen, Clock, Live]) -> None:
    svc, _, _ = screen
    await svc.start()
    got: list[str] = []

    async def sink(text: str) -> None:
        got.append(text)

    svc.attach(sink)
    for i in range(100):
        await svc.on_event(queued(str(i), "main", NOW))
    await asyncio.sleep(0.35)  # min_interval 0.2: the first push at once, one more after
    assert 1 <= svc.pushes <= 3, svc.pushes
    assert '"offered": 100' in got[-1]

    async def broken(text: str) -> None:
        raise ConnectionError

    svc.attach(broken)
    await svc.on_event(queued("x", "main", NOW))
    await asyncio.sleep(0.3)
    assert '"offered": 101' in got[-1]  # the dead socket is dropped, the others still get it


async def test_the_desk_publishes_ticket_registered(db_url: str) -> None:
    engine = create_engine(db_url)
    bus = InProcessBus()
    seen: list[TicketRegistered] = []

    async def on(event: TicketRegistered) -> None:
        seen.append(event)

    bus.subscribe(TicketRegistered, on, name="test")
    await bus.start()
    try:
        sessions = session_factory(engine)
        tickets = TicketService(sessions, bus, NODE)
        editor = TicketEditor(sessions, DepartmentService(sessions), bus.publish)
        li = Principal(username="li", role=Role.AGENT, agent_id="1001", user_id=1)
        for uid in ("400.1", "400.2"):
            opened = await tickets.open_call(inbound(uid))
            assert opened.ticket_id is not None
            await tickets.on_agent_connected(connected(uid, opened.ticket_id))
        first, second = await tickets.list_calls(limit=2)
        edit = TicketEdit(category="供水", description="停水", register_ticket=True)
        assert first.ticket_id is not None and second.ticket_id is not None
        await editor.save(first.ticket_id, edit, li)
        await editor.save(first.ticket_id, edit, li)  # already registered: no second event
        await tickets.request_transition(
            second.ticket_id, TicketState.REGISTERED, actor="supervisor:boss"
        )
        await bus.drain()
    finally:
        await bus.stop()
        await engine.dispose()
    assert sorted(e.ticket_id for e in seen) == sorted([first.ticket_id, second.ticket_id])
    assert {e.actor for e in seen} == {"agent:1001", "supervisor:boss"}


@pytest.fixture
def app_client(client: TestClient) -> Iterator[TestClient]:
    yield client


def test_socket_sends_the_view_to_supervisors_only(app_client: TestClient) -> None:
    c = app_client
    with c.websocket_connect(f"/ws/bigscreen?token={TEST_TOKEN}") as ws:
        first = ws.receive_json()
        assert first["event"] == "bigscreen" and "calls" in first
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        c.websocket_connect("/ws/bigscreen?token=x"),
    ):
        pass
    assert refused.value.code == 1008
    got = c.get("/api/bigscreen", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert got.status_code == 200 and got.json()["tickets"]["received"] == 0
    page = c.get("/bigscreen")
    assert page.status_code == 200 and "bigscreen.js" in page.text
