"""The case loop's service on SQLite and PostgreSQL: first claim wins under real concurrency,
forced assignment after the window, reminders and overdue once, disputes with two reviewers,
extensions, department scoping, and every bad input refused whole."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.service import Principal, Role
from app.cases.attachments import AttachmentStore
from app.cases.loop import CaseLoop, CaseRefused
from app.cases.service import as_utc
from app.departments.service import (
    CatalogueProblem,
    DepartmentConflict,
    DepartmentPatch,
    DepartmentService,
    EntryIn,
)
from app.models import Ticket
from casework import (
    CalendarGapError,
    CaseClock,
    CaseworkSettings,
    DeadlinePolicy,
    DepartmentKind,
    DisputeRefused,
    ExtensionRefused,
    GrabWindow,
    WorkingCalendar,
)
from casework.lifecycle import InvalidTransition, TicketState
from core.db import create_engine, session_factory
from core.events import (
    DeadlineWarning,
    Event,
    SignForOverdue,
    TicketClaimed,
    TicketForceAssigned,
    TicketOverdue,
)
from tests.conftest import EXAMPLE_CATALOGUE, TEST_CALENDAR

# Wednesday 25 November 2026, 09:00 in Shanghai (office hours).
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
DISPATCHER = Principal(username="zhao", role=Role.DISPATCHER)
DISPATCHER_2 = Principal(username="qian", role=Role.DISPATCHER)
SUPERVISOR = Principal(username="boss", role=Role.SUPERVISOR)


def dept(code: str) -> Principal:
    return Principal(username=f"u-{code}", role=Role.DEPARTMENT, department=code)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Events:
    seen: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.seen.append(event)

    def subscribe(self, *args: object, **kwargs: object) -> None:  # pragma: no cover
        raise NotImplementedError

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.seen if isinstance(e, kind)]


def build_loop(engine: AsyncEngine, clock: Clock, events: Events, **cfg: object) -> CaseLoop:
    settings = CaseworkSettings(**cfg)  # type: ignore[arg-type]
    calendar = WorkingCalendar.from_settings(settings, TEST_CALENDAR.read_text())
    sessions = session_factory(engine)
    return CaseLoop(
        sessions,
        events,
        DepartmentService(sessions, clock),
        CaseClock(calendar, DeadlinePolicy.from_settings(settings)),
        GrabWindow.from_settings(calendar, settings),
        settings,
        clock,
    )


@dataclass
class Bed:
    loop: CaseLoop
    clock: Clock
    events: Events
    engine: AsyncEngine
    url: str

    async def ticket(self, category: str = "城管", **values: object) -> int:
        async with session_factory(self.engine).begin() as session:
            row = Ticket(
                state=TicketState.REGISTERED,
                source="phone:12345",
                caller="13800000001",
                category=category,
                summary="占道经营",
                **values,
            )
            session.add(row)
            await session.flush()
            return row.id

    async def get(self, ticket_id: int) -> Ticket:
        async with session_factory(self.engine)() as session:
            found = await session.get(Ticket, ticket_id)
        assert found is not None
        return found


@pytest.fixture
async def bed(db_url: str) -> AsyncIterator[Bed]:
    engine = create_engine(db_url)
    clock, events = Clock(), Events()
    loop = build_loop(engine, clock, events)
    await loop.departments.load_file(EXAMPLE_CATALOGUE, actor="test")
    try:
        yield Bed(loop, clock, events, engine, db_url)
    finally:
        await engine.dispose()


async def refused(coro: object, status: int, words: str) -> CaseRefused:
    with pytest.raises(CaseRefused) as caught:
        await coro  # type: ignore[misc]
    assert caught.value.status == status, caught.value
    assert words in str(caught.value)
    return caught.value


# --- the race --------------------------------------------------------------------------------


async def test_two_concurrent_claims_give_one_owner_and_one_409(bed: Bed) -> None:
    """Two nodes (two engines, two connections) claim at the same moment, many times."""
    engines = [create_engine(bed.url), create_engine(bed.url)]
    loops = [build_loop(e, bed.clock, bed.events) for e in engines]
    try:
        for _ in range(12):
            ticket_id = await bed.ticket("噪音")  # eligible: sthjj (lead), gaj, cgj
            await bed.loop.dispatch(ticket_id, DISPATCHER, mode="grab")
            results = await asyncio.gather(
                loops[0].claim(ticket_id, dept("sthjj")),
                loops[1].claim(ticket_id, dept("cgj")),
                return_exceptions=True,
            )
            losers = [r for r in results if isinstance(r, BaseException)]
            assert len(losers) == 1, results
            assert isinstance(losers[0], CaseRefused) and losers[0].status == 409
            winner = await bed.get(ticket_id)
            assert "already claimed by " + str(winner.department) in str(losers[0])
            assert winner.state is TicketState.ACCEPTED and winner.reply_due_at is not None
        assert len(bed.events.of(TicketClaimed)) == 12
    finally:
        for engine in engines:
            await engine.dispose()


async def test_claim_refusals_name_the_problem(bed: Bed) -> None:
    ticket_id = await bed.ticket("噪音")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="grab")
    await refused(bed.loop.claim(ticket_id, dept("hexi")), 404, "does not exist")
    await refused(bed.loop.claim(ticket_id, SUPERVISOR), 403, "department")
    bed.clock.now = as_utc((await bed.get(ticket_id)).grab_until or T0) + timedelta(seconds=1)
    await refused(bed.loop.claim(ticket_id, dept("cgj")), 409, "grab window of ticket")


# --- the sweep --------------------------------------------------------------------------------


async def test_unclaimed_ticket_is_force_assigned_to_the_lead_after_the_window(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="grab", eligible=["cgj", "hedong.cgj"])
    assert (await bed.loop.sweep()).forced == 0  # window still open
    bed.clock.now = T0 + timedelta(hours=3, minutes=1)  # 3 office hours later, same day
    assert (await bed.loop.sweep()).forced == 1
    ticket = await bed.get(ticket_id)
    assert (ticket.department, ticket.forced, ticket.supervised) == ("cgj", True, True)
    assert ticket.reply_due_at is not None and ticket.sla_status == "on_track"
    assert (await bed.loop.sweep()).forced == 0
    (event,) = bed.events.of(TicketForceAssigned)
    assert event.department == "cgj"  # type: ignore[attr-defined]
    await refused(bed.loop.claim(ticket_id, dept("hedong.cgj")), 409, "already claimed by cgj")


async def test_the_tickets_district_picks_the_catalogues_district_entry(bed: Bed) -> None:
    """城管 in 河东 goes to 河东区城管局, in the pool and after the window; without a district
    the city-wide entry (cgj) applies."""
    ticket_id = await bed.ticket("城管", district="hedong")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="grab")
    assert [t.id for t in await bed.loop.portal(dept("hedong.cgj"), "pool")] == [ticket_id]
    assert await bed.loop.portal(dept("cgj"), "pool") == []
    bed.clock.now = T0 + timedelta(hours=3, minutes=1)
    assert (await bed.loop.sweep()).forced == 1
    assert (await bed.get(ticket_id)).department == "hedong.cgj"
    found = await bed.loop.departments.suggest("供暖", "linjiang")
    assert found == {"lead": "linjiang.heat", "assisting": ["linjiang.cgj"]}
    assert (await bed.loop.departments.suggest("供暖", None))["lead"] == "heat"


async def test_reminder_and_overdue_are_marked_once(bed: Bed) -> None:
    ticket_id = await bed.ticket("供水")  # 2 working days
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="water")
    await bed.loop.accept(ticket_id, dept("water"))
    ticket = await bed.get(ticket_id)
    assert ticket.reminder_at is not None and ticket.reply_due_at is not None
    bed.clock.now = as_utc(ticket.reminder_at) + timedelta(minutes=1)
    assert (await bed.loop.sweep()).reminded == 1
    assert (await bed.loop.sweep()).reminded == 0
    assert (await bed.get(ticket_id)).sla_status == "warning"
    bed.clock.now = as_utc(ticket.reply_due_at) + timedelta(minutes=1)
    first = await bed.loop.sweep()
    assert (first.overdue, (await bed.loop.sweep()).overdue) == (1, 0)
    assert len(bed.events.of(DeadlineWarning)) == len(bed.events.of(TicketOverdue)) == 1
    assert (await bed.get(ticket_id)).sla_status == "overdue"
    assert bed.loop.seconds_left(await bed.get(ticket_id)) == -60
    await refused(bed.loop.reply(ticket_id, dept("hexi"), "不是我们"), 404, "does not exist")


async def test_a_ticket_not_signed_for_in_time_is_flagged_once(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
    ticket = await bed.get(ticket_id)
    due = as_utc(ticket.sign_due_at or T0)
    assert due == T0 + timedelta(hours=2)  # 2 office hours, Wednesday morning
    assert bed.loop.sign_seconds_left(ticket) == 7200
    bed.clock.now = due
    assert (await bed.loop.sweep()).sign_overdue == 0  # due, not late yet
    bed.clock.now = due + timedelta(minutes=1)
    other = create_engine(bed.url)  # a second node sweeping at the same moment
    try:
        both = await asyncio.gather(
            bed.loop.sweep(), build_loop(other, bed.clock, bed.events).sweep()
        )
    finally:
        await other.dispose()
    assert sorted(r.sign_overdue for r in both) == [0, 1]
    assert (await bed.loop.sweep()).sign_overdue == 0
    ticket = await bed.get(ticket_id)
    assert as_utc(ticket.sign_overdue_at or T0) == bed.clock.now
    assert bed.loop.sign_seconds_left(ticket) == -60
    assert ticket.sla_status is None  # the reply clock has not started
    (event,) = bed.events.of(SignForOverdue)
    assert (event.department, event.due) == ("cgj", due)  # type: ignore[attr-defined]
    assert [t.id for t in await bed.loop.portal(dept("cgj"), "overdue")] == [ticket_id]
    assert (await bed.loop.summary())["sign_overdue"] == 1
    # Signed for late: the reply clock starts, the ticket leaves the overdue tab.
    await bed.loop.accept(ticket_id, dept("cgj"))
    ticket = await bed.get(ticket_id)
    assert bed.loop.sign_seconds_left(ticket) is None and ticket.sla_status == "on_track"
    assert await bed.loop.portal(dept("cgj"), "overdue") == []
    assert (await bed.loop.summary())["sign_overdue"] == 0


async def test_a_new_dispatch_gets_a_new_sign_for_deadline(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
    bed.clock.now = T0 + timedelta(hours=3)
    assert (await bed.loop.sweep()).sign_overdue == 1
    dispute = await bed.loop.file_dispute(ticket_id, dept("cgj"), "应由区城管处理")
    assert (await bed.loop.sweep()).sign_overdue == 0  # disputed: not waiting to be signed
    await bed.loop.review_dispute(
        dispute.id, DISPATCHER, approve=True, note=None, new_department="hedong.cgj"
    )
    await bed.loop.confirm_dispute(dispute.id, DISPATCHER_2, None)
    ticket = await bed.get(ticket_id)
    assert ticket.sign_overdue_at is None and ticket.department == "hedong.cgj"
    assert (await bed.loop.sweep()).sign_overdue == 0
    bed.clock.now = as_utc(ticket.sign_due_at or T0) + timedelta(seconds=1)
    assert (await bed.loop.sweep()).sign_overdue == 1
    assert [e.department for e in bed.events.of(SignForOverdue)] == ["cgj", "hedong.cgj"]  # type: ignore[attr-defined]


# --- disputes and extensions ------------------------------------------------------------------


async def test_dispute_needs_two_different_reviewers_before_the_ticket_leaves(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="hedong.cgj")
    dispute = await bed.loop.file_dispute(ticket_id, dept("hedong.cgj"), "不属于本单位职责")
    ticket = await bed.get(ticket_id)
    assert (ticket.state, ticket.department) == (TicketState.DISPUTED, "hedong.cgj")
    with pytest.raises(CatalogueProblem):
        await bed.loop.review_dispute(
            dispute.id, DISPATCHER, approve=True, note="ok", new_department="nowhere"
        )
    await bed.loop.review_dispute(
        dispute.id, DISPATCHER, approve=True, note="属实", new_department="hexi.cgj"
    )
    assert (await bed.get(ticket_id)).department == "hedong.cgj"  # not yet
    await refused(
        bed.loop.confirm_dispute(dispute.id, DISPATCHER, None), 409, "second, different reviewer"
    )
    done = await bed.loop.confirm_dispute(dispute.id, DISPATCHER_2, "同意")
    assert (done.status, done.confirmed_by) == ("confirmed", "dispatcher:qian")
    ticket = await bed.get(ticket_id)
    assert (ticket.state, ticket.department) == (TicketState.DISPATCHED, "hexi.cgj")
    await refused(bed.loop.confirm_dispute(dispute.id, SUPERVISOR, None), 409, "confirmed")


async def test_confirmed_dispute_without_a_department_goes_back_to_the_queue(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
    dispute = await bed.loop.file_dispute(ticket_id, dept("cgj"), "应由区里处理")
    await bed.loop.review_dispute(dispute.id, SUPERVISOR, approve=True, note=None)
    await bed.loop.confirm_dispute(dispute.id, DISPATCHER, None)
    ticket = await bed.get(ticket_id)
    assert (ticket.state, ticket.department) == (TicketState.REGISTERED, None)
    assert [t.id for t in await bed.loop.dispatch_queue()] == [ticket_id]


async def test_rejected_dispute_keeps_the_ticket_and_late_disputes_are_refused(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
    dispute = await bed.loop.file_dispute(ticket_id, dept("cgj"), "不是我们的")
    await bed.loop.review_dispute(dispute.id, DISPATCHER, approve=False, note="属于城管")
    ticket = await bed.get(ticket_id)
    assert (ticket.state, ticket.department) == (TicketState.ACCEPTED, "cgj")
    bed.clock.now = T0 + timedelta(days=6)  # long after the next working day
    with pytest.raises(DisputeRefused, match="dispute window closed"):
        await bed.loop.file_dispute(ticket_id, dept("cgj"), "再次异议")


async def test_extension_moves_the_deadline_and_is_refused_when_overdue(bed: Bed) -> None:
    ticket_id = await bed.ticket("供水")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="water")
    await bed.loop.accept(ticket_id, dept("water"))
    due = as_utc((await bed.get(ticket_id)).reply_due_at or T0)
    ext = await bed.loop.request_extension(ticket_id, dept("water"), 3, "管网改造")
    await refused(
        bed.loop.request_extension(ticket_id, dept("water"), 1, "again"), 409, "still pending"
    )
    await bed.loop.decide_extension(ext.id, SUPERVISOR, approve=True, note="同意")
    moved = as_utc((await bed.get(ticket_id)).reply_due_at or T0)
    assert moved - due == timedelta(days=5)  # Fri 27 Nov → Wed 2 Dec: 3 working days
    bed.clock.now = moved + timedelta(hours=1)
    with pytest.raises(ExtensionRefused, match="already overdue"):
        await bed.loop.request_extension(ticket_id, dept("water"), 1, "too late")


# --- scoping and bad input ---------------------------------------------------------------------


async def test_a_department_sees_its_own_and_its_childrens_tickets_only(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="hedong.cgj")
    await bed.loop.check_visible(ticket_id, dept("hedong"))  # the district above it
    await refused(bed.loop.check_visible(ticket_id, dept("hexi")), 404, "does not exist")
    await refused(bed.loop.accept(ticket_id, dept("hexi.cgj")), 404, "does not exist")
    assert [t.id for t in await bed.loop.portal(dept("hedong"), "to_sign")] == [ticket_id]
    assert await bed.loop.portal(dept("hexi"), "to_sign") == []
    pool_id = await bed.ticket("噪音")
    await bed.loop.dispatch(pool_id, DISPATCHER, mode="grab")
    assert [t.id for t in await bed.loop.portal(dept("gaj"), "pool")] == [pool_id]
    assert await bed.loop.portal(dept("hexi"), "pool") == []


async def test_bad_input_is_refused_whole(bed: Bed) -> None:
    ticket_id = await bed.ticket("城管")
    await refused(bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct"), 409, "lead")
    with pytest.raises(CatalogueProblem, match="unknown department 'nope'"):
        await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="nope")
    assert (await bed.get(ticket_id)).state is TicketState.REGISTERED  # nothing half-written
    unknown = await bed.ticket("未列入目录")
    await refused(bed.loop.dispatch(unknown, DISPATCHER, mode="grab"), 422, "no entry")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
    await refused(bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct"), 409, "registered")
    await bed.loop.accept(ticket_id, dept("cgj"))
    await bed.loop.reply(ticket_id, dept("cgj"), "已处理")
    await refused(bed.loop.reply(ticket_id, dept("cgj"), "again"), 409, "replied")
    departments = bed.loop.departments
    with pytest.raises(CatalogueProblem, match="names no lead"):
        await departments.put_entry(EntryIn("城管", None, None), actor="admin:a")
    with pytest.raises(CatalogueProblem, match="unknown department 'ghost'"):
        await departments.put_entry(EntryIn("城管", None, "ghost"), actor="admin:a")
    # A deadline in a year with no working-day data (2028) is refused, not guessed.
    bed.clock.now = datetime(2027, 12, 30, 2, 0, tzinfo=UTC)
    late = await bed.ticket("城管")
    await bed.loop.dispatch(late, DISPATCHER, mode="direct", lead="cgj")
    with pytest.raises(CalendarGapError, match="2028"):
        await bed.loop.accept(late, dept("cgj"))
    assert (await bed.get(late)).state is TicketState.DISPATCHED


async def test_phone_confirmation_is_required_when_set(bed: Bed) -> None:
    loop = build_loop(bed.engine, bed.clock, bed.events, confirm_by_phone=True)
    ticket_id = await bed.ticket("城管")
    await refused(loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj"), 409, "by phone")
    await loop.confirm_phone(ticket_id, DISPATCHER, "市民确认")
    await loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")


async def test_catalogue_load_is_idempotent_and_logged(bed: Bed) -> None:
    again = await bed.loop.departments.load_file(EXAMPLE_CATALOGUE, actor="cli")
    assert (again.departments, again.entries) == (0, 0)
    entry = await bed.loop.departments.put_entry(
        EntryIn("城管", None, "cgj", ("jtj",)), actor="admin:a"
    )
    assert entry.assisting == ["jtj"]
    (change, *_) = await bed.loop.departments.changes()
    assert (change.action, change.actor) == ("entry.put", "admin:a")
    assert change.before is not None and change.after is not None
    assert change.after["assisting"] == ["jtj"] and change.before["assisting"] == []


async def test_admins_edit_the_department_tree_with_the_change_log(bed: Bed) -> None:
    deps = bed.loop.departments
    bureau = DepartmentKind.BUREAU
    await deps.create_department("hedong.xfb", "河东区信访办", bureau, "hedong", actor="admin:a")
    assert "hedong.xfb" in await deps.scope("hedong")
    with pytest.raises(DepartmentConflict, match=re.escape("'hedong.xfb' already exists")):
        await deps.create_department("hedong.xfb", "重复", bureau, None, actor="admin:a")
    with pytest.raises(CatalogueProblem, match="unknown parent department 'ghost'"):
        await deps.create_department("x1", "某局", bureau, "ghost", actor="admin:a")
    move = DepartmentPatch(name="河西区信访办", move=True, parent="hexi")
    await deps.update_department("hedong.xfb", move, actor="admin:a")
    assert (await deps.catalogue()).departments["hedong.xfb"].parent == "hexi"
    assert "hedong.xfb" in await deps.scope("hexi")
    with pytest.raises(CatalogueProblem, match=re.escape("cycle: hexi → hedong.xfb → hexi")):
        await deps.update_department(
            "hexi", DepartmentPatch(move=True, parent="hedong.xfb"), actor="admin:a"
        )
    # Deactivation is refused while the department has work or a place in the catalogue.
    ticket_id = await bed.ticket("城管")
    await bed.loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="hedong.cgj")
    off = DepartmentPatch(active=False)
    with pytest.raises(DepartmentConflict) as busy:
        await deps.update_department("hedong.cgj", off, actor="admin:a")
    assert "catalogue entries name it (" in str(busy.value) and "城管 in hedong" in str(busy.value)
    assert f"open tickets still with it (#{ticket_id})" in str(busy.value)
    with pytest.raises(DepartmentConflict, match="噪音"):  # an assisting department (协办)
        await deps.update_department("gaj", off, actor="admin:a")
    with pytest.raises(DepartmentConflict, match="active departments below it"):
        await deps.update_department("hexi", off, actor="admin:a")
    await deps.update_department("hedong.xfb", off, actor="admin:a")
    (row,) = [d for d in await deps.departments() if d["code"] == "hedong.xfb"]
    assert row["active"] is False
    with pytest.raises(CatalogueProblem, match=re.escape("deactivated department 'hedong.xfb'")):
        await bed.loop.dispatch(await bed.ticket(), DISPATCHER, mode="direct", lead="hedong.xfb")
    with pytest.raises(CatalogueProblem, match=re.escape("parent 'hedong.xfb' is deactivated")):
        await deps.create_department("x2", "某科", bureau, "hedong.xfb", actor="admin:a")
    latest = [(c.action, c.actor) for c in (await deps.changes())[:3]]
    assert latest == [
        ("department.deactivate", "admin:a"),
        ("department.update", "admin:a"),
        ("department.create", "admin:a"),
    ]
    deactivated = (await deps.changes())[0]
    assert deactivated.before is not None and deactivated.after is not None
    assert (deactivated.before["active"], deactivated.after["active"]) == (True, False)
    assert deactivated.after["name"] == "河西区信访办"


def test_lifecycle_refuses_moves_the_loop_does_not_make() -> None:
    from casework.lifecycle import check_move

    with pytest.raises(InvalidTransition):
        check_move(1, TicketState.DISPUTED, TicketState.REPLIED)


# --- attachments -------------------------------------------------------------------------------


async def test_an_attachment_whose_row_fails_leaves_no_file(bed: Bed, tmp_path: Path) -> None:
    store = AttachmentStore(session_factory(bed.engine), tmp_path / "attachments", bed.clock)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    ghost = Ticket(id=987654, state=TicketState.ACCEPTED, source="phone:12345")
    with pytest.raises(IntegrityError):  # the foreign key to tickets, on either database
        await store.add(ghost, "现场.png", png, "department:u-cgj")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    row = await store.add(await bed.get(await bed.ticket()), "现场.png", png, "department:u-cgj")
    (stored,) = [p for p in store.root.rglob("*") if p.is_file()]
    assert stored.read_bytes() == png and stored.name == row.stored_as.split("/")[1]
    assert (await store.get(row.id))[1] == stored
