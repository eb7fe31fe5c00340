"""Surge alerts stored and published (app.surges), on SQLite and PostgreSQL, under an injected
clock: the seeds' crossing makes one alert with its tickets; later passes and a fifth ticket
update it instead of adding one; drafts and merged tickets do not count; acknowledgement; the
reports' surge section reads the table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.departments.service import DepartmentService
from app.models import Ticket
from app.surges.service import SurgeNotFound, SurgeService
from casework.lifecycle import TicketState
from core.db import create_engine, session_factory
from core.events import Event, SurgeAlert
from core.surges import SurgeSettings
from kpis import SHANGHAI
from tests.conftest import EXAMPLE_CATALOGUE

DAY = date(2026, 11, 20)
CROSSING = ["人民路与解放路交叉口", "解放路和人民路路口", "人民路/解放路", "人民路与解放路"]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Surges:
    def __init__(self, service: SurgeService, clock: Clock, sessions: object) -> None:
        self.service, self.clock, self.sessions = service, clock, sessions
        self.events: list[Event] = []


@pytest.fixture
async def surges(db_url: str) -> AsyncIterator[Surges]:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    departments = DepartmentService(sessions)
    await departments.load_file(EXAMPLE_CATALOGUE, actor="test")
    clock = Clock(at(DAY, 18))
    box = Surges(None, clock, sessions)  # type: ignore[arg-type]
    box.service = SurgeService(
        sessions, box.events.append, SurgeSettings(), SHANGHAI, departments, clock
    )
    async with sessions.begin() as session:
        # A quiet history: a collision elsewhere in the district every few days.
        for back in range(3, 29, 3):
            session.add(ticket(at(DAY - timedelta(days=back), 9), f"滨河路{back}号"))
    try:
        yield box
    finally:
        await engine.dispose()


def ticket(created: datetime, address: str, state: TicketState = TicketState.DISPATCHED) -> Ticket:
    return Ticket(
        state=state,
        source="phone:12345",
        category="交通事故",
        district="hedong",
        address=address,
        summary="追尾",
        created_at=created,
        updated_at=created,
    )


async def add(box: Surges, *tickets: Ticket) -> list[int]:
    async with box.sessions.begin() as session:  # type: ignore[attr-defined]
        session.add_all(tickets)
        await session.flush()
        return [t.id for t in tickets]


async def test_four_collisions_at_a_crossing_make_one_alert(surges: Surges) -> None:
    hours = [(8, 10), (11, 30), (14, 50), (17, 20)]
    ids = await add(surges, *(ticket(at(DAY, h, m), CROSSING[i]) for i, (h, m) in enumerate(hours)))
    # A draft (a call still on the desk) and a merged duplicate at the same crossing: not counted.
    await add(
        surges,
        ticket(at(DAY, 17, 30), CROSSING[0], TicketState.DRAFT),
        ticket(at(DAY, 17, 40), CROSSING[0], TicketState.MERGED),
    )

    stored = await surges.service.scan()
    assert len(stored) == 1
    row = stored[0]
    assert (row.category, row.area_kind, row.area, row.window, row.count) == (
        "交通事故",
        "place",
        "人民路×解放路",
        "day",
        4,
    )
    assert sorted(link.ticket_id for link in row.tickets) == ids
    assert row.message == "人民路×解放路 交通事故 当日 4 件（平时约 0.2 件）"
    [event] = surges.events
    assert isinstance(event, SurgeAlert)
    assert (event.category, event.count, event.window_minutes, event.district, event.area) == (
        "交通事故",
        4,
        24 * 60,
        "hedong",
        "人民路×解放路",
    )

    # The next pass finds the same alert: nothing new, nothing published.
    assert await surges.service.scan() == []
    assert len(surges.events) == 1

    # A fifth collision raises the count of the same alert.
    [fifth] = await add(surges, ticket(at(DAY, 18, 30), CROSSING[3]))
    surges.clock.now = at(DAY, 19)
    [raised] = await surges.service.scan()
    assert raised.id == row.id and raised.count == 5
    assert len(surges.events) == 1
    listed = await surges.service.alerts(at(DAY, 0), at(DAY + timedelta(days=1), 0))
    assert [(a.id, a.count) for a in listed] == [(row.id, 5)]
    assert sorted(link.ticket_id for link in listed[0].tickets) == sorted([*ids, fifth])
    alert, tickets = await surges.service.tickets_of(row.id)
    assert alert.count == 5
    assert [t.id for t in tickets] == sorted([*ids, fifth])

    # Acknowledged once; a second supervisor changes nothing.
    acked = await surges.service.acknowledge(row.id, "supervisor:wang")
    assert acked.acknowledged_by == "supervisor:wang" and acked.acknowledged_at == surges.clock.now
    surges.clock.now = at(DAY, 20)
    again = await surges.service.acknowledge(row.id, "supervisor:li")
    assert again.acknowledged_by == "supervisor:wang"
    assert await surges.service.alerts(open_only=True) == []
    with pytest.raises(SurgeNotFound):
        await surges.service.acknowledge(999_999, "supervisor:wang")

    # The day's report lists it; a 专报 on another topic does not.
    report = await surges.service.for_report(at(DAY, 0), at(DAY + timedelta(days=1), 0), None)
    assert [(s.category, s.count, s.expected) for s in report] == [("交通事故", 5, 0.2)]
    assert report[0].note.startswith("人民路×解放路 交通事故 当日 5 件")
    assert await surges.service.for_report(at(DAY, 0), at(DAY, 23), "噪音") == []
    # The next day the alert is not in that day's span.
    assert await surges.service.alerts(at(DAY + timedelta(days=1), 0)) == []


async def test_a_quiet_day_reads_no_history_and_stores_nothing(surges: Surges) -> None:
    await add(surges, *(ticket(at(DAY, 9 + i), CROSSING[i]) for i in range(2)))
    assert await surges.service.scan() == []
    assert surges.events == []
