"""Wallboard figures from a scripted day: known queue entries with known waits give known
offered / answered / abandoned and service level; who waits now comes from Asterisk."""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.wallboard import Wallboard
from core.db import create_engine, session_factory
from core.events import AgentConnected, CallerAbandoned, CallQueued
from cti import AgentBoard, AmiUnavailable, QueueMemberAdded
from cti.agent_states import QueueCaller, QueueSnapshot
from cti.media_ports import MediaPortGauge

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai; local midnight is 16:00 UTC the day before.
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def queued(uid: str, queue: str, at: datetime) -> CallQueued:
    return CallQueued(
        node_id="n1",
        uniqueid=uid,
        linkedid=uid,
        queue=queue,
        caller="138" + uid,
        dialled="12345",
        position=1,
        ticket_id=None,
        at=at,
    )


def answered(uid: str, queue: str, wait: int) -> AgentConnected:
    return AgentConnected(
        node_id="n1",
        uniqueid=uid,
        linkedid=uid,
        queue=queue,
        agent_id="1001",
        agent_channel="PJSIP/1001-1",
        caller="138",
        dialled="12345",
        hold_seconds=wait,
        ticket_id=None,
    )


def abandoned(uid: str, queue: str, wait: int) -> CallerAbandoned:
    return CallerAbandoned(node_id="n1", uniqueid=uid, queue=queue, hold_seconds=wait, position=1)


class Live:
    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = QueueSnapshot(members=[], callers=[], queues=[])

    async def __call__(self) -> QueueSnapshot:
        if self.snapshot is None:
            raise AmiUnavailable("AMI link is down")
        return self.snapshot


@pytest.fixture
async def wallboard(db_url: str) -> AsyncIterator[tuple[Wallboard, Live, AgentBoard]]:
    engine = create_engine(db_url)
    live = Live()
    agents = AgentBoard(["1001", "1002"], lambda: NOW - timedelta(seconds=90))
    try:
        yield (
            Wallboard(
                session_factory(engine),
                agents,
                live,
                lambda: ["main", "gjj"],
                TZ,
                "n1",
                lambda: NOW,
            ),
            live,
            agents,
        )
    finally:
        await engine.dispose()


async def test_scripted_day_gives_known_figures(
    wallboard: tuple[Wallboard, Live, AgentBoard],
) -> None:
    board, live, agents = wallboard
    script = [
        # yesterday (local): not counted today
        (queued("0", "main", datetime(2026, 11, 21, 15, 59, tzinfo=UTC)), answered("0", "main", 3)),
        (queued("1", "main", NOW - timedelta(hours=1)), answered("1", "main", 5)),
        (queued("2", "main", NOW - timedelta(hours=1)), answered("2", "main", 15)),  # on target
        (queued("3", "main", NOW - timedelta(hours=1)), answered("3", "main", 16)),  # late
        (queued("4", "main", NOW - timedelta(minutes=30)), abandoned("4", "main", 40)),
        (queued("5", "gjj", NOW - timedelta(minutes=5)), abandoned("5", "gjj", 2)),
        (queued("6", "main", NOW - timedelta(seconds=30)), None),  # still waiting
    ]
    for join, outcome in script:
        await board.on_event(join)
        if outcome is not None:
            await board.on_event(outcome)
    # An answer for a caller who joined while the app was away still counts.
    await board.on_event(answered("7", "gjj", 4))
    await board.start()
    await asyncio.sleep(0.5)  # the writer stores the facts on its own
    await board.stop()

    live.snapshot = QueueSnapshot(
        members=[],
        callers=[QueueCaller("main", "6", "1386", 1, 30), QueueCaller("main", "8", "1388", 2, 12)],
        queues=["main", "gjj", "yb"],
    )
    agents.member_event(
        QueueMemberAdded(
            queue="main",
            interface="PJSIP/1001",
            member_name="1001",
            membership="dynamic",
            paused=False,
            paused_reason="",
            in_call=False,
            status=1,
        )
    )
    got = await board.board()
    by_queue = {q.queue: q for q in got.queues}
    assert [q.queue for q in got.queues] == ["main", "gjj", "yb"]
    main, gjj = by_queue["main"], by_queue["gjj"]
    assert (main.waiting, main.longest_wait) == (2, 30)
    assert (main.offered, main.answered, main.abandoned) == (5, 3, 1)
    assert main.answered_within_target == 2
    assert main.service_level == 0.4  # 2 answered within 15 s of 5 offered
    assert (gjj.offered, gjj.answered, gjj.abandoned, gjj.service_level) == (2, 1, 1, 0.5)
    assert (gjj.waiting, gjj.longest_wait) == (0, 0)
    assert by_queue["yb"].offered == 0 and by_queue["yb"].service_level is None
    assert [(a.agent_id, a.state, a.seconds_in_state) for a in got.agents] == [
        ("1001", "ready", 90),
        ("1002", "logged_out", 90),
    ]

    live.snapshot = None  # AMI down: today's figures still shown, waiting unknown
    down = await board.board()
    assert not down.asterisk
    assert {q.queue: (q.waiting, q.offered) for q in down.queues}["main"] == (None, 5)


async def test_board_shows_the_media_port_reading(db_url: str) -> None:
    engine = create_engine(db_url)
    gauge = MediaPortGauge(30000, 30199)
    board = Wallboard(
        session_factory(engine),
        AgentBoard(["1001"], lambda: NOW),
        Live(),
        lambda: ["main"],
        TZ,
        "n1",
        lambda: NOW,
        lambda: gauge.last,
    )
    try:
        assert (await board.board()).media_ports is None  # not read yet
        gauge.update(100)
        got = (await board.board()).media_ports
        assert got is not None and (got.in_use, got.capacity, got.level) == (100, 100, "out")
    finally:
        await engine.dispose()
