"""Reconciling calls from Asterisk's queue log, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.reconcile import Reconciler
from app.cases.service import TicketService
from app.models import Call, MissedCall, Ticket, TicketTransition
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import CallEnded, ChannelHungUp, Event, PromptPlayed
from ivr.numberplan import load_number_plan
from tests.conftest import EXAMPLE_PLAN
from tests.unit.call_events import NODE, connected, inbound
from tests.unit.queue_log_sample import (
    T0,
    abandoned,
    answered,
    end,
    in_greeting,
    in_progress,
    start,
    text,
)

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
PLAN = load_number_plan(EXAMPLE_PLAN)
NOW = datetime.fromtimestamp(T0 + 3600, UTC)


@dataclass
class Bed:
    sessions: async_sessionmaker[AsyncSession]
    tickets: TicketService
    log: Path
    mark: Path
    published: list[Event]

    def reconciler(self, now: datetime = NOW) -> Reconciler:
        """A fresh one each time: what a restarted app builds."""
        return Reconciler(
            self.sessions,
            lambda: PLAN,
            SH,
            NODE,
            self.log,
            self.mark,
            self.published.append,
            clock=lambda: now,
        )

    def append(self, lines: list[str]) -> None:
        with self.log.open("a") as f:
            f.write(text(lines))

    async def count(self, model: type) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)

    async def call(self, uid: str) -> Call:
        async with self.sessions() as s:
            row = await s.get(Call, f"{NODE}:{uid}")
            assert row is not None, uid
            return row


@pytest.fixture
async def bed(db_url: str, tmp_path: Path) -> AsyncIterator[Bed]:
    engine = create_engine(db_url)
    bus = InProcessBus()
    await bus.start()
    sessions = session_factory(engine)
    log = tmp_path / "queue_log"
    log.write_text(f"{T0 - 100}|NONE|NONE|NONE|QUEUESTART|\n")
    try:
        yield Bed(sessions, TicketService(sessions, bus, NODE), log, tmp_path / "mark.json", [])
    finally:
        await bus.stop()
        await engine.dispose()


async def test_calls_taken_while_the_app_was_down_get_records_tickets_and_missed(
    bed: Bed,
) -> None:
    bed.append(
        answered(T0, "1.1", "13800000001", dialled="12369")
        + abandoned(T0 + 40, "1.2", "13800000002")
        + in_greeting(T0 + 80, "1.3", "13800000003")
        + in_progress(T0 + 120, "1.4", "13800000004")
    )
    result = await bed.reconciler().run()
    assert (result.created, result.tickets, result.missed, result.open) == (4, 4, 2, 1)

    a = await bed.call("1.1")
    assert (a.node_id, a.uniqueid, a.linkedid, a.channel) == (
        NODE,
        "1.1",
        "1.1",
        "PJSIP/carrier-1.1",
    )
    assert (a.caller, a.dialled, a.queue, a.agent_id, a.outcome) == (
        "13800000001",
        "12369",
        "main",
        "1001",
        "answered",
    )
    assert (a.recording_in, a.recording_out) == ("1.1-in.wav", "1.1-out.wav")
    assert a.route is None and a.prompt == "greeting" and a.hold_seconds == 3
    async with bed.sessions() as s:
        ticket = await s.get(Ticket, a.ticket_id)
        assert ticket is not None
        assert (ticket.state, ticket.category, ticket.source, ticket.agent_id) == (
            "draft",
            "生态环境",  # the retired line's category, from the number plan
            "phone:12369",
            "1001",
        )
        (audit,) = (await s.scalars(select(TicketTransition))).all()[:1]
        assert audit.actor == "reconcile"
        missed = {m.call_id: m for m in (await s.scalars(select(MissedCall))).all()}
    assert set(missed) == {f"{NODE}:1.2", f"{NODE}:1.3"}
    assert missed[f"{NODE}:1.2"].wait_seconds == 5 and missed[f"{NODE}:1.2"].state == "open"

    talking = await bed.call("1.4")
    assert talking.outcome == "answered" and talking.ended_at is None
    assert [e.call_id for e in bed.published if isinstance(e, CallEnded)] == [
        f"{NODE}:1.1",
        f"{NODE}:1.2",
        f"{NODE}:1.3",
    ]

    # A second run (a second restart) adds nothing.
    again = await bed.reconciler().run()
    assert (again.created, again.filled, again.tickets, again.missed) == (0, 0, 0, 0)
    assert (await bed.count(Call), await bed.count(Ticket), await bed.count(MissedCall)) == (
        4,
        4,
        2,
    )

    # The call in progress ends: completed, not duplicated.
    bed.append([f"{T0 + 150}|1.4|main|1002|COMPLETEAGENT|1|21|1", end(T0 + 150, "1.4")])
    done = await bed.reconciler().run()
    assert (done.created, done.filled, done.tickets, done.open) == (0, 1, 0, 0)
    assert (await bed.call("1.4")).ended_at is not None
    assert await bed.count(Ticket) == 4


async def test_calls_the_app_saw_are_completed_not_duplicated(bed: Bed) -> None:
    # Seen live from start to end.
    await bed.tickets.open_call(inbound("2.1", "13800000011"))
    await bed.tickets.on_prompt_played(
        PromptPlayed(node_id=NODE, uniqueid="2.1", prompt="greeting", status="SUCCESS")
    )
    await bed.tickets.on_agent_connected(connected("2.1", None, "13800000011"))
    await bed.tickets.on_hangup(
        ChannelHungUp(
            node_id=NODE,
            uniqueid="2.1",
            linkedid="2.1",
            channel="c",
            cause=16,
            cause_text="Normal Clearing",
            at=datetime.now(UTC),
        )
    )
    # Seen at FastAGI, then the app was killed before the agent answered.
    await bed.tickets.open_call(inbound("2.2", "13800000012"))
    # The log in real time this once: the rows above were written at the real clock's time.
    t = int(time.time()) - 60
    bed.append(
        answered(t, "2.1", "13800000011", dialled="12345")
        + answered(t + 5, "2.2", "13800000012", agent="1002")
    )
    before = (await bed.count(Call), await bed.count(Ticket))
    result = await bed.reconciler(now=datetime.now(UTC)).run()
    assert (result.created, result.filled, result.tickets) == (0, 1, 0)
    assert (await bed.count(Call), await bed.count(Ticket)) == before
    row = await bed.call("2.2")
    assert (row.agent_id, row.outcome, row.queue) == ("1002", "answered", "main")
    assert row.ended_at is not None and row.route == "main"  # what FastAGI wrote stays
    async with bed.sessions() as s:
        ticket = await s.get(Ticket, row.ticket_id)
        assert ticket is not None and ticket.agent_id == "1002"


async def test_calls_cut_by_an_asterisk_restart_are_lost_and_the_waiting_caller_owed(
    bed: Bed,
) -> None:
    """Asterisk killed and started again (its QUEUESTART line): the call an agent had answered
    (seen live as answered) and the caller still waiting in the queue both end as lost at
    their last line; the waiting caller, whom nobody answered, is owed a call-back (漏接)."""
    t = int(time.time()) - 120
    await bed.tickets.open_call(inbound("7.1", "13800000071"))
    await bed.tickets.on_agent_connected(connected("7.1", None, "13800000071"))
    await bed.tickets.open_call(inbound("7.2", "13800000072"))
    waiting = [start(t + 20, "7.2", "13800000072"), f"{t + 28}|7.2|main||ENTERQUEUE||13800000072|1"]
    restart = f"{t + 60}|NONE|NONE|NONE|QUEUESTART|"
    bed.append([*in_progress(t, "7.1", "13800000071"), *waiting, restart])
    result = await bed.reconciler(now=datetime.now(UTC)).run()
    assert (result.created, result.filled, result.open, result.missed) == (0, 2, 0, 1)
    answered_then_lost, waiting_then_lost = await bed.call("7.1"), await bed.call("7.2")
    assert answered_then_lost.outcome == "lost" and answered_then_lost.agent_id == "1001"
    assert answered_then_lost.ended_at is not None
    assert waiting_then_lost.outcome == "lost" and waiting_then_lost.ended_at is not None
    async with bed.sessions() as s:
        (owed,) = (await s.scalars(select(MissedCall))).all()
    assert (owed.caller, owed.state) == ("13800000072", "open")


async def test_a_missed_call_answered_later_is_cleared_and_cancelled_numbers_get_nothing(
    bed: Bed,
) -> None:
    bed.append(
        abandoned(T0, "3.1", "13800000021")
        + answered(T0 + 60, "3.2", "13800000021")
        + [start(T0 + 100, "3.3", "13800000022", dialled="12328"), end(T0 + 104, "3.3", "stopped")]
    )
    result = await bed.reconciler().run()
    assert (result.created, result.tickets) == (3, 2)
    async with bed.sessions() as s:
        (entry,) = (await s.scalars(select(MissedCall))).all()
    assert entry.call_id == f"{NODE}:3.1"
    assert (entry.state, entry.cleared_by_call) == ("cleared", f"{NODE}:3.2")
    stopped = await bed.call("3.3")
    assert stopped.route == "stopped" and stopped.ticket_id is None


async def test_the_watermark_keeps_restarts_to_new_lines(bed: Bed) -> None:
    bed.append(answered(T0, "4.1", "1") + answered(T0 + 40, "4.2", "2"))
    first = await bed.reconciler().run()
    assert first.offset == bed.log.stat().st_size and first.lines == 13
    bed.append(abandoned(T0 + 80, "4.3", "3"))
    second = await bed.reconciler().run()
    assert (second.lines, second.created) == (4, 1)
    assert (await bed.reconciler().run()).lines == 0


async def test_without_a_watermark_a_start_reads_from_an_hour_before_the_newest_call(
    bed: Bed,
) -> None:
    """Ten hours of calls: the first run reads them all; with the watermark lost, the next
    run bisects to an hour before the newest call it knows and adds nothing."""
    day = [line for i in range(600) for line in answered(T0 + 60 * i, f"5.{i}", "4")]
    bed.append(day)
    first = await bed.reconciler(now=datetime.fromtimestamp(T0 + 86400, UTC)).run()
    assert first.created == 600 and first.lines == len(day) + 1
    bed.mark.unlink()
    again = await bed.reconciler(now=datetime.fromtimestamp(T0 + 86400, UTC)).run()
    assert again.created == 0 and 0 < again.lines <= len(day) / 9


async def test_a_call_younger_than_the_grace_is_left_to_fastagi(bed: Bed) -> None:
    bed.append(in_progress(T0, "6.1", "13800000031"))
    young = await bed.reconciler(now=datetime.fromtimestamp(T0 + 3, UTC)).run()
    assert (young.created, young.open) == (0, 1)
    assert young.offset < bed.log.stat().st_size  # it will be read again
    # FastAGI wrote it meanwhile: the next run completes that row.
    await bed.tickets.open_call(inbound("6.1", "13800000031"))
    later = await bed.reconciler().run()
    assert (later.created, later.filled, later.tickets) == (0, 1, 0)
    assert await bed.count(Ticket) == 1
