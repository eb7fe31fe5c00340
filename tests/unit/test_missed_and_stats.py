"""Missed calls (漏接回拨) and per-number statistics on SQLite and a real PostgreSQL."""

from __future__ import annotations

import zoneinfo
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.calls.missed import MissedCallError, MissedCalls
from app.calls.stats import NumberStats
from app.cases.service import TicketService
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import CallerAbandoned, ChannelHungUp, PromptPlayed
from ivr.numberplan import load_number_plan
from ivr.ports import InboundCall
from tests.conftest import EXAMPLE_PLAN
from tests.unit.call_events import NODE, connected, inbound

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
PLAN = load_number_plan(EXAMPLE_PLAN)


def hangup(uid: str, at: datetime | None = None) -> ChannelHungUp:
    return ChannelHungUp(
        node_id=NODE,
        uniqueid=uid,
        linkedid=uid,
        channel="c",
        cause=16,
        cause_text="Normal Clearing",
        at=at or datetime.now(UTC),
    )


def abandon(uid: str, held: int) -> CallerAbandoned:
    return CallerAbandoned(node_id=NODE, uniqueid=uid, queue="main", hold_seconds=held, position=1)


@pytest.fixture
async def parts(db_url: str) -> AsyncIterator[tuple[TicketService, MissedCalls, NumberStats]]:
    engine = create_engine(db_url)
    bus = InProcessBus()
    await bus.start()
    sessions = session_factory(engine)
    try:
        yield (
            TicketService(sessions, bus, NODE),
            MissedCalls(sessions),
            NumberStats(sessions, lambda: PLAN, SH),
        )
    finally:
        await bus.stop()
        await engine.dispose()


async def test_abandoned_caller_is_listed_once(parts: tuple) -> None:
    tickets, missed, _ = parts
    await tickets.open_call(inbound("1.1", "13900000001"))
    await tickets.on_abandoned(abandon("1.1", 42))
    await tickets.on_hangup(hangup("1.1"))  # the hangup after an abandon adds nothing
    (entry,) = await missed.list(state="open", limit=10)
    assert (entry.caller, entry.dialled, entry.wait_seconds, entry.state) == (
        "13900000001",
        "12345",
        42,
        "open",
    )


async def test_hangup_before_the_queue_is_a_missed_call_too(parts: tuple) -> None:
    tickets, missed, _ = parts
    await tickets.open_call(inbound("2.1", "13900000002"))
    await tickets.on_hangup(hangup("2.1", datetime.now(UTC) + timedelta(seconds=5)))
    (entry,) = await missed.list(state="open", limit=10)
    assert entry.caller == "13900000002" and entry.wait_seconds in (4, 5)


async def test_cancelled_numbers_and_withheld_callers_are_not_listed(parts: tuple) -> None:
    tickets, missed, _ = parts
    await tickets.open_call(
        inbound("3.1", "13900000003", dialled="12328", route="stopped", wants_ticket=False)
    )
    await tickets.on_hangup(hangup("3.1"))
    await tickets.open_call(
        InboundCall(
            uniqueid="3.2",
            linkedid="3.2",
            channel="c",
            caller=None,
            caller_name=None,
            dialled="12345",
        )
    )
    await tickets.on_abandoned(abandon("3.2", 10))
    assert await missed.list(state=None, limit=10) == []


async def test_getting_through_later_clears_the_entry(parts: tuple) -> None:
    tickets, missed, _ = parts
    await tickets.open_call(inbound("4.1", "13900000004"))
    await tickets.on_abandoned(abandon("4.1", 20))
    await tickets.open_call(inbound("4.2", "13900000004"))
    await tickets.on_agent_connected(connected("4.2", None, "13900000004"))
    assert await missed.list(state="open", limit=10) == []
    (entry,) = await missed.list(state="cleared", limit=10)
    assert entry.cleared_by_call == "n1:4.2"


async def test_claim_and_complete_rules(parts: tuple) -> None:
    tickets, missed, _ = parts
    await tickets.open_call(inbound("5.1", "13900000005"))
    await tickets.on_abandoned(abandon("5.1", 5))
    (entry,) = await missed.list(state="open", limit=10)
    claimed = await missed.claim(entry.id, "1001")
    assert (claimed.state, claimed.claimed_by) == ("claimed", "1001")
    assert (await missed.claim(entry.id, "1001")).state == "claimed"  # idempotent for 1001
    with pytest.raises(MissedCallError, match="claimed by 1001"):
        await missed.claim(entry.id, "1002")
    done = await missed.complete(entry.id, "1001")
    assert done.state == "done" and done.closed_at is not None
    with pytest.raises(MissedCallError, match="is done"):
        await missed.complete(entry.id, "1001")
    with pytest.raises(MissedCallError, match="does not exist"):
        await missed.claim(999, "1001")


async def test_per_number_day_counts(parts: tuple) -> None:
    tickets, _, stats = parts
    await tickets.open_call(
        inbound("6.1", "13900000061", dialled="12369", route="notice", category="生态环境")
    )
    await tickets.on_prompt_played(
        PromptPlayed(node_id=NODE, uniqueid="6.1", prompt="notice-12369", status="SUCCESS")
    )
    await tickets.on_agent_connected(connected("6.1", None, "13900000061"))
    await tickets.open_call(inbound("6.2", "13900000062", dialled="12369", route="notice"))
    await tickets.on_abandoned(abandon("6.2", 9))
    await tickets.open_call(
        inbound("6.3", "13900000063", dialled="12328", route="stopped", wants_ticket=False)
    )
    await tickets.on_prompt_played(
        PromptPlayed(node_id=NODE, uniqueid="6.3", prompt="stopped-12328", status="SUCCESS")
    )
    await tickets.on_hangup(hangup("6.3"))
    rows = {r.number: r for r in await stats.day(datetime.now(SH).date())}
    env = rows["12369"]
    assert (env.kind, env.offered, env.answered, env.abandoned, env.notice_played) == (
        "retired",
        2,
        1,
        1,
        1,
    )
    grain = rows["12328"]
    assert (grain.offered, grain.unanswered, grain.notice_played) == (1, 1, 1)
    assert rows["12345"].offered == 0 and rows["12345"].kind == "main"
    yesterday = await stats.day(datetime.now(SH).date() - timedelta(days=1))
    assert all(r.offered == 0 for r in yesterday)
