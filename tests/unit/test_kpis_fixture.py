"""Every KPI of a hand-counted fixture across 国庆 2025, on SQLite and PostgreSQL.

The period is the custom fortnight Mon 29 Sep .. Sun 12 Oct 2025 (Shanghai): the National Day
holiday (1–8 Oct) and the make-up working Saturday 11 Oct (调休) lie inside it; the previous
period is 15..28 Sep. Deadlines below are as the case clock sets them (7 calendar days ending
on a holiday move to the next working day, 9 Oct; 供水 2 working days from Thu 9 Oct end on
the make-up Saturday). "Now" is Mon 13 Oct 09:00, after the period.

Each expected figure is (numerator, denominator), counted by hand in the comment above it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.departments.service import DepartmentService
from app.kpis.service import KpiService, Report, Scope
from app.models import (
    Agent,
    AgentStateChange,
    Call,
    Callback,
    Dispute,
    GrabOffer,
    KpiExcludedPeriod,
    MissedCall,
    QueueEntry,
    Ticket,
    TicketTransition,
)
from casework.lifecycle import TicketState
from core.db import create_engine, session_factory
from core.kpis import KpiSettings
from kpis import SHANGHAI, Dimension, Rate, custom
from tests.conftest import EXAMPLE_CATALOGUE

S = TicketState
NOW = datetime(2025, 10, 13, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
PERIOD = custom(date(2025, 9, 29), date(2025, 10, 12))


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Shanghai wall-clock time in 2025, as the UTC instant the database stores."""
    return datetime(2025, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


# --- the fixture -----------------------------------------------------------------------------


def queue_entries() -> list[QueueEntry]:
    rows = [
        # (queue, joined, outcome, wait, agent)
        ("main", at(9, 29), "answered", 0, "1002"),  # exactly at the period's start: in
        ("main", at(9, 30, 9, 0), "answered", 10, "1001"),
        ("main", at(9, 30, 9, 5), "answered", 15, "1001"),  # 15 s is within 15 s
        ("main", at(9, 30, 9, 10), "answered", 16, "1002"),
        ("main", at(10, 1, 10, 0), "abandoned", 40, None),  # 1 s before the outage: kept
        ("main", at(10, 1, 10, 0, 30), "answered", 30, "1002"),  # in the outage
        ("main", at(10, 1, 10, 1), "abandoned", 50, None),  # in the outage
        ("main", at(10, 1, 10, 2), "abandoned", 20, None),  # in the outage
        ("gjj", at(10, 3, 14, 0), "answered", 5, "1001"),
        ("main", at(10, 11, 8, 59), None, None, None),  # left by timeout, make-up Saturday
        ("main", at(10, 13), "answered", 3, "1001"),  # the period's end: out
        ("main", at(9, 28, 23, 59, 59), "answered", 20, "1001"),  # previous period
        ("main", at(9, 20, 10, 0), "abandoned", 60, None),  # previous period
    ]
    return [
        QueueEntry(
            node_id="node1",
            uniqueid=f"q{i}",
            queue=queue,
            joined_at=joined,
            outcome=outcome,
            wait_seconds=wait,
            agent_id=agent,
            ended_at=joined + timedelta(seconds=wait or 0),
        )
        for i, (queue, joined, outcome, wait, agent) in enumerate(rows)
    ]


def call(name: str, started: datetime, **values: Any) -> Call:
    return Call(
        id=f"node1:{name}",
        node_id="node1",
        uniqueid=name,
        linkedid=name,
        channel=f"PJSIP/carrier-{name}",
        caller=values.pop("caller", "13900000000"),
        dialled="12345",
        started_at=started,
        **values,
    )


def calls() -> list[Call]:
    def answered(name: str, started: datetime, talk: int | None, agent: str, queue: str) -> Call:
        answer = started + timedelta(seconds=10)
        ended = None if talk is None else answer + timedelta(seconds=talk)
        return call(
            name,
            started,
            outcome="answered",
            answered_at=answer,
            ended_at=ended,
            agent_id=agent,
            queue=queue,
        )

    return [
        answered("c1", at(9, 30, 9, 0), 300, "1001", "main"),
        answered("c2", at(10, 1, 10, 0, 30), 120, "1002", "main"),
        answered("c3", at(10, 3, 14, 0), 90, "1001", "gjj"),
        answered("c4", at(10, 12, 23, 0), None, "1002", "main"),  # still up: not counted
        answered("c6", at(9, 20, 9, 0), 60, "1001", "main"),  # previous period
        call("c5", at(10, 1, 10, 1), outcome="abandoned", queue="main"),
        call("c7", at(10, 2, 20, 0), outcome="abandoned", queue="main"),
        call("c8", at(10, 5, 9, 0), outcome="abandoned", queue="main"),
        call("c9", at(10, 6, 9, 0), outcome="abandoned", queue="main"),
        call("c10", at(9, 25, 9, 0), outcome="abandoned", queue="main"),
    ]


def missed_calls() -> list[MissedCall]:
    def missed(name: str, when: datetime, state: str, by: str | None, after: int | None) -> Any:
        closed = None if after is None else when + timedelta(seconds=after)
        return MissedCall(
            call_id=f"node1:{name}",
            caller="13900000000",
            dialled="12345",
            at=when,
            state=state,
            claimed_by=by,
            closed_at=closed,
        )

    return [
        missed("c5", at(10, 1, 10, 1), "done", "1001", 1800),
        missed("c7", at(10, 2, 20, 0), "done", "1002", 50400),  # called back next morning
        missed("c8", at(10, 5, 9, 0), "cleared", None, 600),  # got through by themselves
        missed("c9", at(10, 6, 9, 0), "open", None, None),
        missed("c10", at(9, 25, 9, 0), "done", "1001", 600),  # previous period
    ]


class Tickets:
    """Tickets with their audit trail, written in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.ids: dict[str, int] = {}

    async def add(
        self, name: str, moves: list[tuple[S | None, S, datetime]], **values: Any
    ) -> Ticket:
        values.setdefault("source", "phone:12345")
        ticket = Ticket(state=moves[-1][1] if moves else S.DRAFT, **values)
        self.session.add(ticket)
        await self.session.flush()
        self.ids[name] = ticket.id
        for before, after, when in moves:
            self.session.add(
                TicketTransition(
                    ticket_id=ticket.id, from_state=before, to_state=after, actor="test", at=when
                )
            )
        return ticket


async def tickets(session: AsyncSession) -> dict[str, int]:
    t = Tickets(session)
    # T1: answered directly at the desk (直接答复), closed after its callback.
    await t.add(
        "T1",
        [
            (S.DRAFT, S.REGISTERED, at(9, 30, 9, 3)),
            (S.REGISTERED, S.ANSWERED, at(9, 30, 9, 4)),
            (S.ANSWERED, S.CLOSED, at(9, 30, 12, 0)),
        ],
        caller="13800000001",
        category="咨询",
        agent_id="1001",
        created_at=at(9, 30, 9, 1),
    )
    # T2: direct to a community; a dispute rejected; signed in time; replied on a holiday
    # before its deadline (9 Oct 17:30); satisfied callback, closed.
    await t.add(
        "T2",
        [
            (S.DRAFT, S.REGISTERED, at(9, 30, 10, 2)),
            (S.REGISTERED, S.DISPATCHED, at(9, 30, 10, 30)),
            (S.DISPATCHED, S.DISPUTED, at(9, 30, 10, 45)),
            (S.DISPUTED, S.ACCEPTED, at(9, 30, 11, 0)),
            (S.ACCEPTED, S.REPLIED, at(10, 8, 10, 0)),
            (S.REPLIED, S.CALLBACK, at(10, 8, 13, 55)),
            (S.CALLBACK, S.CLOSED, at(10, 8, 14, 0)),
        ],
        caller="13800000002",
        category="噪音",
        agent_id="1001",
        created_at=at(9, 30, 10, 0),
        department="hedong.dongguan.xinhua",
        dispatch_mode="direct",
        dispatched_at=at(9, 30, 10, 30),
        sign_due_at=at(9, 30, 14, 0),
        reply_started_at=at(9, 30, 11, 0),
        reply_due_at=at(10, 9, 17, 30),
        sla_status="met",
    )
    # T3: the same caller as T1 on another matter; signed late (16:00 > 14:30); the callback
    # is unsatisfied and reopens it, so its reply clock restarted (due 17 Oct, not in the
    # period: an earlier round is not counted by 按时办结率).
    await t.add(
        "T3",
        [
            (S.DRAFT, S.REGISTERED, at(9, 30, 11, 2)),
            (S.REGISTERED, S.DISPATCHED, at(9, 30, 11, 30)),
            (S.DISPATCHED, S.ACCEPTED, at(9, 30, 16, 0)),
            (S.ACCEPTED, S.REPLIED, at(10, 10, 9, 0)),
            (S.REPLIED, S.CALLBACK, at(10, 10, 14, 55)),
            (S.CALLBACK, S.REOPENED, at(10, 10, 15, 0)),
        ],
        caller="13800000001",
        category="占道经营",
        agent_id="1002",
        created_at=at(9, 30, 11, 0),
        department="hedong.cgj",
        dispatch_mode="direct",
        dispatched_at=at(9, 30, 11, 30),
        sign_due_at=at(9, 30, 14, 30),
        reply_started_at=at(10, 10, 15, 0),
        reply_due_at=at(10, 17, 17, 30),
        sla_status="on_track",
    )
    # T4: from the web (registered at intake, no draft); published to the grab pool on the
    # holiday, claimed by the street on 2 Oct (a claim is the signature); replied on time.
    await t.add(
        "T4",
        [
            (None, S.REGISTERED, at(10, 1, 9, 5)),
            (S.REGISTERED, S.DISPATCHED, at(10, 1, 9, 30)),
            (S.DISPATCHED, S.ACCEPTED, at(10, 2, 8, 0)),
            (S.ACCEPTED, S.REPLIED, at(10, 6, 10, 0)),
        ],
        source="web",
        caller="13800000003",
        category="噪音",
        created_at=at(10, 1, 9, 0),
        department="hedong.dongguan",
        dispatch_mode="grab",
        published_at=at(10, 1, 9, 30),
        grab_until=at(10, 9, 11, 30),
        claimed_at=at(10, 2, 8, 0),
        dispatched_at=at(10, 2, 8, 0),
        sign_due_at=at(10, 9, 10, 30),
        reply_started_at=at(10, 2, 8, 0),
        reply_due_at=at(10, 9, 17, 30),
        sla_status="met",
    )
    # T5: published, nobody claimed: forced to the city bureau (指定派发) on 9 Oct, signed
    # the next day, after its sign-for time.
    await t.add(
        "T5",
        [
            (S.DRAFT, S.REGISTERED, at(10, 2, 9, 2)),
            (S.REGISTERED, S.DISPATCHED, at(10, 2, 9, 30)),
            (S.DISPATCHED, S.ACCEPTED, at(10, 10, 9, 0)),
        ],
        caller="13800000004",
        category="占道经营",
        agent_id="1002",
        created_at=at(10, 2, 9, 0),
        department="cgj",
        dispatch_mode="grab",
        published_at=at(10, 2, 9, 30),
        grab_until=at(10, 9, 11, 30),
        forced=True,
        supervised=True,
        dispatched_at=at(10, 9, 11, 31),
        sign_due_at=at(10, 9, 13, 31),
        reply_started_at=at(10, 9, 11, 31),
        reply_due_at=at(10, 16, 17, 30),
        sla_status="on_track",
    )
    # T6: T2's caller again, same matter, 2 days 22 h later: merged into T2 (a repeat).
    await t.add(
        "T6",
        [
            (S.DRAFT, S.REGISTERED, at(10, 3, 8, 1)),
            (S.REGISTERED, S.MERGED, at(10, 3, 8, 5)),
        ],
        caller="13800000002",
        category="噪音",
        agent_id="1001",
        created_at=at(10, 3, 8, 0),
    )
    # T7: T2's caller again, 8 days 1 h after T6 (out of the window) but 4 d 23 h after T8
    # (in it); waits for dispatch.
    await t.add(
        "T7",
        [(S.DRAFT, S.REGISTERED, at(10, 11, 9, 2))],
        caller="13800000002",
        category="噪音",
        agent_id="1001",
        created_at=at(10, 11, 9, 0),
    )
    # T8: T2's caller exactly 7 days after T2 (within the window) and 4 days after T6;
    # dispatched on 12 Oct 20:00, its sign-for time (13 Oct 10:00) still ahead: not due yet.
    await t.add(
        "T8",
        [
            (S.DRAFT, S.REGISTERED, at(10, 7, 10, 1)),
            (S.REGISTERED, S.DISPATCHED, at(10, 12, 20, 0)),
        ],
        caller="13800000002",
        category="噪音",
        agent_id="1001",
        created_at=at(10, 7, 10, 0),
        department="hedong.dongguan.xinhua",
        dispatch_mode="direct",
        dispatched_at=at(10, 12, 20, 0),
        sign_due_at=at(10, 13, 10, 0),
    )
    # T9: a draft (the caller hung up in the IVR): in no cohort, and no "earlier ticket".
    await t.add("T9", [], caller="13800000005", category="咨询", created_at=at(10, 4, 9, 0))
    # T10: answered directly; the citizen is on the do-not-call list.
    await t.add(
        "T10",
        [
            (S.DRAFT, S.REGISTERED, at(10, 5, 9, 2)),
            (S.REGISTERED, S.ANSWERED, at(10, 5, 9, 3)),
        ],
        caller="13800000005",
        category="咨询",
        agent_id="1002",
        created_at=at(10, 5, 9, 0),
    )
    # T11: previous period, answered directly and closed.
    await t.add(
        "T11",
        [
            (S.DRAFT, S.REGISTERED, at(9, 22, 9, 1)),
            (S.REGISTERED, S.ANSWERED, at(9, 22, 9, 2)),
            (S.ANSWERED, S.CLOSED, at(9, 22, 15, 0)),
        ],
        caller="13800000006",
        category="咨询",
        agent_id="1001",
        created_at=at(9, 22, 9, 0),
    )
    # T12: previous period's intake and dispatch (signed in time); its reply was due on
    # 30 Sep 17:30, in this period, and has not come: overdue.
    await t.add(
        "T12",
        [
            (S.DRAFT, S.REGISTERED, at(9, 23, 9, 1)),
            (S.REGISTERED, S.DISPATCHED, at(9, 23, 9, 30)),
            (S.DISPATCHED, S.ACCEPTED, at(9, 23, 10, 0)),
        ],
        source="wechat",
        caller="13800000007",
        category="占道经营",
        created_at=at(9, 23, 9, 0),
        department="cgj",
        dispatch_mode="direct",
        dispatched_at=at(9, 23, 9, 30),
        sign_due_at=at(9, 23, 11, 30),
        reply_started_at=at(9, 23, 10, 0),
        reply_due_at=at(9, 30, 17, 30),
        sla_status="overdue",
    )
    # T13: 供水 to the district's bureau, which disputes it; confirmed to the water company
    # (re-dispatched 14:00, signed 15:00); 2 working days end on the make-up Saturday 11 Oct,
    # replied that day at 16:00: on time.
    await t.add(
        "T13",
        [
            (S.DRAFT, S.REGISTERED, at(10, 9, 9, 1)),
            (S.REGISTERED, S.DISPATCHED, at(10, 9, 9, 30)),
            (S.DISPATCHED, S.DISPUTED, at(10, 9, 10, 0)),
            (S.DISPUTED, S.DISPATCHED, at(10, 9, 14, 0)),
            (S.DISPATCHED, S.ACCEPTED, at(10, 9, 15, 0)),
            (S.ACCEPTED, S.REPLIED, at(10, 11, 16, 0)),
        ],
        caller="13800000008",
        category="供水",
        agent_id="1002",
        created_at=at(10, 9, 9, 0),
        department="water",
        dispatch_mode="direct",
        dispatched_at=at(10, 9, 14, 0),
        sign_due_at=at(10, 9, 16, 0),
        reply_started_at=at(10, 9, 15, 0),
        reply_due_at=at(10, 11, 17, 30),
        sla_status="met",
    )
    return t.ids


def case_rows(ids: dict[str, int]) -> list[Any]:
    def cb(name: str, created: datetime, status: str, **values: Any) -> Callback:
        return Callback(
            ticket_id=ids[name], campaign="default", number="138", status=status,
            created_at=created, **values,
        )  # fmt: skip

    return [
        Dispute(
            ticket_id=ids["T2"], department="hedong.dongguan.xinhua", reason="不属本社区",
            filed_by="department:x", filed_at=at(9, 30, 10, 45), status="rejected",
            reviewed_by="dispatcher:z", reviewed_at=at(9, 30, 10, 55),
        ),
        Dispute(
            ticket_id=ids["T13"], department="hedong.cgj", reason="供水归水务公司",
            filed_by="department:c", filed_at=at(10, 9, 10, 0), status="confirmed",
            reviewed_by="dispatcher:z", reviewed_at=at(10, 9, 11, 0),
            confirmed_by="dispatcher:q", confirmed_at=at(10, 9, 14, 0), new_department="water",
        ),
        GrabOffer(ticket_id=ids["T4"], department="hedong.dongguan"),
        GrabOffer(ticket_id=ids["T4"], department="hedong.cgj"),
        GrabOffer(ticket_id=ids["T5"], department="hedong.dongguan.xinhua"),
        GrabOffer(ticket_id=ids["T5"], department="cgj"),
        # (service 一次一评, outcome 一事一评)
        cb("T2", at(10, 8, 10, 0), "done", finished_at=at(10, 8, 14, 0),
           service_rating=1, outcome_rating=1),
        cb("T3", at(10, 10, 9, 0), "done", finished_at=at(10, 10, 15, 0),
           service_rating=2, outcome_rating=3),
        cb("T4", at(10, 6, 10, 0), "pending"),
        cb("T10", at(10, 5, 9, 3), "do_not_call", finished_at=at(10, 5, 9, 3)),
        cb("T1", at(9, 30, 9, 4), "done", finished_at=at(9, 30, 12, 0),
           service_rating=3, outcome_rating=2),
        cb("T13", at(10, 11, 16, 0), "unreachable", finished_at=at(10, 12, 20, 0)),
        cb("T6", at(10, 3, 8, 5), "cancelled"),
        cb("T11", at(9, 22, 9, 2), "done", finished_at=at(9, 22, 15, 0),
           service_rating=1, outcome_rating=1),
    ]  # fmt: skip


def state_changes() -> list[AgentStateChange]:
    rows = [
        ("1001", at(9, 28, 8, 0), "ready"),  # previous period only
        ("1001", at(9, 28, 20, 0), "logged_out"),  # in force when the period starts
        ("1001", at(9, 30, 8, 0), "ready"),
        ("1001", at(9, 30, 9, 0), "on_call"),
        ("1001", at(9, 30, 9, 5, 10), "wrapup"),
        ("1001", at(9, 30, 9, 5, 40), "ready"),
        ("1001", at(9, 30, 12, 0), "paused"),
        ("1001", at(9, 30, 12, 30), "ready"),
        ("1001", at(9, 30, 17, 0), "logged_out"),
        ("1002", at(10, 1, 9, 0), "ready"),
        ("1002", at(10, 1, 10, 0, 30), "on_call"),
        ("1002", at(10, 1, 10, 2, 30), "wrapup"),
        ("1002", at(10, 1, 10, 3), "ready"),
        ("1002", at(10, 1, 11, 0), "logged_out"),
        ("1002", at(10, 13, 8, 0), "ready"),  # after the period
    ]
    return [
        AgentStateChange(node_id="node1", agent_id=a, state=s, source="test", at=when)
        for a, when, s in rows
    ]


def excluded_periods() -> list[KpiExcludedPeriod]:
    return [
        # A carrier outage on National Day morning, 10:00:15–10:05.
        KpiExcludedPeriod(
            starts_at=at(10, 1, 10, 0, 15),
            ends_at=at(10, 1, 10, 5),
            reason="outage",
            note="运营商中继故障",
            created_by="supervisor:wang",
        ),
        # Outside the period: changes nothing.
        KpiExcludedPeriod(
            starts_at=at(10, 20), ends_at=at(10, 20, 1), reason="surge", created_by="x"
        ),
    ]


async def load_fixture(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[DepartmentService, dict[str, int]]:
    """The example catalogue and every row above; the tickets' ids by name (the reports'
    tests build on the same fixture)."""
    departments = DepartmentService(sessions)
    await departments.load_file(EXAMPLE_CATALOGUE, actor="test")
    async with sessions.begin() as session:
        session.add_all([Agent(id="1001"), Agent(id="1002")])
        await session.flush()
        session.add_all([*queue_entries(), *calls()])
        await session.flush()
        session.add_all([*missed_calls(), *state_changes(), *excluded_periods()])
        ids = await tickets(session)
        session.add_all(case_rows(ids))
    return departments, ids


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[KpiService]:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    departments, _ = await load_fixture(sessions)
    try:
        yield KpiService(sessions, departments, KpiSettings(), SHANGHAI, lambda: NOW)
    finally:
        await engine.dispose()


def figures(report: Report, key: str | None = "all") -> dict[str, tuple[float, float]]:
    row = next(r for r in report.rows if r.key == key)
    return {code: (rate.numerator, rate.denominator) for code, rate in row.kpis.items()}


def previous(report: Report, key: str | None = "all") -> dict[str, tuple[float, float]]:
    row = next(r for r in report.rows if r.key == key)
    return {code: (rate.numerator, rate.denominator) for code, rate in row.previous.items()}


# --- the whole centre ------------------------------------------------------------------------


async def test_every_kpi_of_the_fortnight(service: KpiService) -> None:
    report = await service.report(PERIOD, Dimension.NONE)
    assert figures(report) == {
        # Queue entries joined 29 Sep 00:00 .. 13 Oct 00:00: the first ten (the one at
        # 13 Oct 00:00 is out). Answered: 29 Sep 00:00, 30 Sep ×3, 1 Oct 10:00:30, gjj = 6.
        "answer_rate": (6, 10),
        # The outage 10:00:15–10:05 holds 3 entries (one answered): 5 of 7 left.
        "answer_rate_adjusted": (5, 7),
        # Waits of the answered: 0, 10, 15, 16, 30, 5 → ≤ 15 s: 0, 10, 15, 5.
        "service_level": (4, 6),
        "avg_wait": (0 + 10 + 15 + 16 + 30 + 5, 6),
        # Ended answered calls started in the period: 300 + 120 + 90 s (c4 is still up).
        "avg_talk": (510, 3),
        "abandon_rate": (3, 10),
        # Missed in the period: c5 done, c7 done, c8 cleared (not owed), c9 open.
        "missed_callback_rate": (2, 3),
        "missed_callback_time": (1800 + 50400, 2),
        # First registered in the period: T1 T2 T3 T4(web) T5 T6 T7 T8 T10 T13 (T9 a draft);
        # T6 merged → 9. Directly answered: T1, T10. Closed: T1, T2.
        "direct_answer_rate": (2, 9),
        "completion_rate": (2, 9),
        # All 10 have a number; repeats: T6 (T2 2 d 22 h before), T8 (T2 exactly 7 days
        # before, T6), T7 (T8 4 d 23 h before; T6 is 8 d 1 h before, out of the window).
        # Not T3 (T1 is another matter), T10 (its earlier T9 is a draft).
        "repeat_caller_rate": (3, 10),
        # Dispatched to a department in the period: T2 T3 T4 T5 T8 T13 (T13 by its second
        # dispatch); T8's sign-for time is still ahead → 5 due. In time: T2 (11:00 ≤ 14:00),
        # T4 (claimed), T13 (15:00 ≤ 16:00); late: T3, T5 (forced, signed next day).
        "response_rate": (3, 5),
        # Reply deadlines in the period: T2, T4 (9 Oct), T12 (30 Sep, not replied), T13
        # (the make-up Saturday); replied in time: T2, T4, T13.
        "on_time_rate": (3, 4),
        # Disputes filed in the period: 2 (T2's rejected, T13's confirmed) of 6 dispatched.
        "dispute_rate": (2, 6),
        "return_rate": (1, 6),
        # Published to the grab pool: T4 (claimed), T5 (forced).
        "grab_rate": (1, 2),
        "forced_rate": (1, 2),
        # Finished callbacks with ratings: T2 (1, 1), T3 (2, 3), T1 (3, 2).
        "satisfaction_rate": (2, 3),
        "resolution_rate": (2, 3),
        # Owed (created in the period, not cancelled): T2 T3 T4 T10 T1 T13 = 6; rated 3.
        "valid_callback_rate": (3, 6),
        "reopen_rate": (1, 3),
        # 1001: on call 310 s + wrap-up 30 s; ready 3600 + 10460 + 16200.
        # 1002: on call 120 s + wrap-up 30 s; ready 3630 + 3420.
        "occupancy": (310 + 30 + 120 + 30, 310 + 30 + 3600 + 10460 + 16200 + 120 + 30 + 7050),
    }
    assert previous(report) == {
        "answer_rate": (1, 2),
        "answer_rate_adjusted": (1, 2),
        "service_level": (0, 1),  # waited 20 s
        "avg_wait": (20, 1),
        "avg_talk": (60, 1),
        "abandon_rate": (1, 2),
        "missed_callback_rate": (1, 1),
        "missed_callback_time": (600, 1),
        "direct_answer_rate": (1, 2),  # T11 of T11, T12
        "completion_rate": (1, 2),
        "repeat_caller_rate": (0, 2),
        "response_rate": (1, 1),  # T12 signed 10:00 ≤ 11:30
        "on_time_rate": (0, 0),
        "dispute_rate": (0, 1),
        "return_rate": (0, 1),
        "grab_rate": (0, 0),
        "forced_rate": (0, 0),
        "satisfaction_rate": (1, 1),
        "resolution_rate": (1, 1),
        "valid_callback_rate": (1, 1),
        "reopen_rate": (0, 1),
        # 1001 ready 28 Sep 08:00–20:00; 1002 has no state before 29 Sep.
        "occupancy": (0, 12 * 3600),
    }
    assert report.rows[0].kpis["on_time_rate"].value == 0.75
    assert report.rows[0].previous["on_time_rate"].value is None  # nothing due: no value


async def test_settings_change_the_formulas(service: KpiService) -> None:
    # The same fixture under other rules.
    service._settings = KpiSettings(
        service_level_denominator="offered",
        satisfied_answers=[1],
        same_matter="any",
        repeat_window_days=3,
        service_level_seconds=10,
    )
    got = figures(await service.report(PERIOD, Dimension.NONE))
    assert got["service_level"] == (3, 10)  # waits 0, 10, 5 of 10 offered
    assert got["satisfaction_rate"] == (1, 3)  # only T2's 满意
    # Any matter, 3 days: T3 (T1 2 h before), T6 (T2 2 d 22 h before); out: T8 (4 d 2 h
    # after T6), T7 (3 d 23 h after T8).
    assert got["repeat_caller_rate"] == (2, 10)


# --- breakdowns ------------------------------------------------------------------------------


async def test_by_department_adds_up_the_subtree(service: KpiService) -> None:
    report = await service.report(PERIOD, Dimension.DEPARTMENT)
    names = {r.key: r.name for r in report.rows}
    assert names["hedong"] == "河东区人民政府"
    assert "answer_rate" not in report.rows[0].kpis  # calls have no department
    xinhua = figures(report, "hedong.dongguan.xinhua")
    # T2, T8; disputes: T2's; responded: T2 (T8 not due yet).
    assert xinhua["completion_rate"] == (1, 2)
    assert xinhua["dispute_rate"] == (1, 2)
    assert xinhua["response_rate"] == (1, 1)
    assert xinhua["grab_rate"] == (0, 1)  # offered T5, which was forced to cgj
    assert xinhua["satisfaction_rate"] == (1, 1)
    dongguan = figures(report, "hedong.dongguan")
    # Itself (T4) and xinhua (T2, T8).
    assert dongguan["completion_rate"] == (1, 3)
    assert dongguan["grab_rate"] == (1, 2)
    assert dongguan["on_time_rate"] == (2, 2)  # T2, T4
    hedong = figures(report, "hedong")
    # + hedong.cgj: T3 (intake, dispatched late), T13's confirmed dispute.
    assert hedong["completion_rate"] == (1, 4)
    assert hedong["dispute_rate"] == (2, 4)
    assert hedong["return_rate"] == (1, 4)
    assert hedong["response_rate"] == (2, 3)
    assert hedong["grab_rate"] == (1, 3)
    assert hedong["satisfaction_rate"] == (2, 2)  # T2 满意, T3 基本满意
    assert hedong["valid_callback_rate"] == (2, 3)  # + T4's pending
    cgj = figures(report, "cgj")
    assert cgj["forced_rate"] == (1, 1) and cgj["response_rate"] == (0, 1)
    assert figures(report, "water")["on_time_rate"] == (1, 1)
    assert figures(report, None)["direct_answer_rate"] == (2, 3)  # T1, T7, T10 (T6 merged)


async def test_by_district_category_channel_and_agent(service: KpiService) -> None:
    district = await service.report(PERIOD, Dimension.DISTRICT)
    assert figures(district, "hedong")["completion_rate"] == (1, 4)  # T2 T3 T4 T8
    assert figures(district, None)["completion_rate"] == (1, 5)  # T1 T5 T7 T10 T13

    category = await service.report(PERIOD, Dimension.CATEGORY)
    # 噪音: T2, T4, T6, T7, T8 → repeats T6, T7, T8; 咨询: T1, T10 both answered directly.
    assert figures(category, "噪音")["repeat_caller_rate"] == (3, 5)
    assert figures(category, "咨询")["direct_answer_rate"] == (2, 2)

    channel = await service.report(PERIOD, Dimension.CHANNEL)
    assert figures(channel, "main")["answer_rate"] == (5, 9)
    assert figures(channel, "gjj")["answer_rate"] == (1, 1)
    assert figures(channel, "web")["on_time_rate"] == (1, 1)  # T4
    assert figures(channel, "wechat")["on_time_rate"] == (0, 1)  # T12

    agent = await service.report(PERIOD, Dimension.AGENT)
    one, two = figures(agent, "1001"), figures(agent, "1002")
    assert "answer_rate" not in one  # offered to queues, not to agents
    assert one["service_level"] == (3, 3) and two["service_level"] == (1, 3)
    assert one["avg_wait"] == (30, 3) and two["avg_wait"] == (46, 3)
    assert one["avg_talk"] == (390, 2) and two["avg_talk"] == (120, 1)
    assert one["missed_callback_time"] == (1800, 1)
    assert one["satisfaction_rate"] == (1, 2)  # T2 满意, T1 不满意
    assert one["occupancy"] == (340, 30600) and two["occupancy"] == (150, 7200)
    row = next(r for r in agent.rows if r.key == "1001")
    assert row.state_seconds == {
        "logged_out": 32 * 3600 + 12 * 86400 + 7 * 3600,
        "ready": 30260,
        "on_call": 310,
        "wrapup": 30,
        "paused": 1800,
    }


async def test_scopes_a_department_and_an_agent(service: KpiService) -> None:
    dongguan = frozenset({"hedong.dongguan", "hedong.dongguan.xinhua", "hedong.dongguan.binhe"})
    report = await service.report(PERIOD, Dimension.DEPARTMENT, Scope(departments=dongguan))
    assert {r.key for r in report.rows} == {"hedong.dongguan", "hedong.dongguan.xinhua"}
    assert figures(report, "hedong.dongguan")["completion_rate"] == (1, 3)
    whole = figures(await service.report(PERIOD, Dimension.NONE, Scope(departments=dongguan)))
    assert "answer_rate" not in whole and "occupancy" not in whole
    assert whole["grab_rate"] == (1, 2)  # offers to dongguan (T4 won) and xinhua (T5)

    mine = await service.report(PERIOD, Dimension.NONE, Scope(agent="1002"))
    assert [r.key for r in mine.rows] == ["1002"]
    assert figures(mine, "1002")["avg_talk"] == (120, 1)


async def test_an_empty_period_reports_no_values(service: KpiService) -> None:
    report = await service.report(custom(date(2024, 1, 1), date(2024, 1, 2)), Dimension.NONE)
    row = report.rows[0]
    assert all(rate == Rate(0, 0) and rate.value is None for rate in row.kpis.values())
