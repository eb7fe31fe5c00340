"""The callback service on SQLite and a real PostgreSQL, with an injected clock and a scripted
dialler standing in for Asterisk's OriginateResponse: scheduling inside the window, channel
limits, outcomes and retries, the survey's effect on the ticket, and restart recovery."""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.callbacks.service import HANGUP_GRACE_SECONDS, CallbackService
from app.cases.service import TicketService
from app.models import Callback, CallbackAttempt, Ticket
from casework.lifecycle import TicketState
from core.bus import InProcessBus
from core.campaigns import CallbackSettings, CampaignConfig, RetrySpacing, Window
from core.db import create_engine, session_factory
from core.events import ChannelHungUp
from cti import OriginateResult
from ivr.ports import SurveyAnswers
from tests.unit.call_events import NODE, inbound

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
# Tuesday 2026-12-01 10:00 in Shanghai: inside the 08:30-12:00 window.
MORNING = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ScriptedDialler:
    """Answers each Originate with the next scripted result; ``hold`` keeps calls "ringing"
    until released, to see how many are up at once."""

    results: list[OriginateResult] = field(default_factory=list)
    hold: asyncio.Event | None = None
    calls: list[tuple[str, int, str]] = field(default_factory=list)
    up: int = 0
    peak: int = 0

    async def survey_call(
        self,
        number: str,
        trunk: str,
        caller_id: str,
        ring_seconds: int,
        attempt_id: int,
        channel_id: str,
    ) -> OriginateResult:
        self.calls.append((number, attempt_id, channel_id))
        self.up += 1
        self.peak = max(self.peak, self.up)
        try:
            if self.hold is not None:
                await self.hold.wait()
            return self.results.pop(0) if self.results else OriginateResult("Failure", 3)
        finally:
            self.up -= 1


def campaign(**overrides: Any) -> CallbackSettings:
    values: dict[str, Any] = {
        "windows": [Window(start=time(8, 30), end=time(12, 0))],
        "delay_after_reply": 0,
        "max_attempts": 2,
        "retry": RetrySpacing(busy=600, no_answer=3600),
        "max_channels": 2,
        "max_rate": 1000.0,
        **overrides,
    }
    return CallbackSettings(campaigns=[CampaignConfig(**values)])


@dataclass
class Bed:
    tickets: TicketService
    callbacks: CallbackService
    dialler: ScriptedDialler
    clock: Clock
    sessions: Any

    async def replied(
        self, uid: str, caller: str = "13800000001", consent: bool | None = None
    ) -> int:
        opened = await self.tickets.open_call(inbound(uid, caller=caller))
        assert opened.ticket_id is not None
        ticket_id = opened.ticket_id
        async with self.sessions.begin() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.contact_consent = consent
            ticket.department = "市城管委"
        for to in (TicketState.REGISTERED, TicketState.DISPATCHED, TicketState.ACCEPTED):
            await self.tickets.request_transition(ticket_id, to, actor="test")
        await self.tickets.request_transition(
            ticket_id, TicketState.REPLIED, actor="test", then=self.callbacks.schedule_for
        )
        return ticket_id

    async def settle(self) -> None:
        """Let every dialling task the dispatcher started run to its end."""
        for _ in range(200):
            await asyncio.sleep(0)
            if not self.callbacks._running:
                return
        await asyncio.wait_for(
            asyncio.gather(*(t for _, t in list(self.callbacks._running.values()))), 2
        )

    async def hang_up(self, channel_id: str, cause: int = 16) -> None:
        """Asterisk's Hangup of a callback channel, as the tracker puts it on the bus."""
        await self.callbacks.on_hangup(
            ChannelHungUp(
                node_id=NODE,
                uniqueid=channel_id,
                linkedid=channel_id,
                channel="PJSIP/carrier-1",
                cause=cause,
                cause_text="",
            )
        )

    async def callback(self, ticket_id: int) -> Callback:
        async with self.sessions() as session:
            row = await session.scalar(
                select(Callback).where(Callback.ticket_id == ticket_id).order_by(Callback.id)
            )
            assert row is not None
            return row


def make_bed(db_url: str, settings: CallbackSettings, clock: Clock) -> tuple[Bed, Any]:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    dialler = ScriptedDialler()
    service = CallbackService(sessions, settings, SH, dialler, NODE, clock=clock)
    tickets = TicketService(sessions, InProcessBus(), NODE)
    return Bed(tickets, service, dialler, clock, sessions), engine


@pytest.fixture
async def make(db_url: str) -> AsyncIterator[Callable[[CallbackSettings], Bed]]:
    made: list[tuple[Bed, Any]] = []

    def build(settings: CallbackSettings) -> Bed:
        made.append(make_bed(db_url, settings, Clock(MORNING)))
        return made[-1][0]

    try:
        yield build
    finally:
        for b, engine in made:
            await b.callbacks.stop()
            await engine.dispose()


@pytest.fixture
def bed(make: Callable[[CallbackSettings], Bed]) -> Bed:
    return make(campaign())


async def test_a_reply_late_in_the_evening_is_called_back_next_morning(bed: Bed) -> None:
    bed.clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
    ticket_id = await bed.replied("1.1")
    callback = await bed.callback(ticket_id)
    assert callback.status == "pending"
    due = callback.next_attempt_at
    assert due is not None
    assert due.replace(tzinfo=UTC).astimezone(SH) == datetime(2026, 12, 2, 8, 30, tzinfo=SH)
    await bed.callbacks.dispatch()
    await bed.settle()
    assert bed.dialler.calls == [], "dialled outside the calling window"


async def test_satisfied_closes_and_unsatisfied_reopens_to_the_same_department(bed: Bed) -> None:
    bed.dialler.results = [OriginateResult("Success", 4), OriginateResult("Success", 4)]
    pleased, unhappy = await bed.replied("2.1", "13800000021"), await bed.replied("2.2")
    await bed.callbacks.dispatch()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(bed.dialler.calls) == 2:
            break
    attempt_of = {number: attempt for number, attempt, _ in bed.dialler.calls}
    await bed.callbacks.survey_finished(
        attempt_of["13800000021"], SurveyAnswers("1", "2", None, "u1", completed=True)
    )
    await bed.callbacks.survey_finished(
        attempt_of["13800000001"], SurveyAnswers("3", "3", "survey-u2.wav", "u2", completed=True)
    )
    for _, _, channel_id in bed.dialler.calls:
        await bed.hang_up(channel_id)
    await bed.settle()
    closed = await bed.tickets.get_ticket(pleased)
    reopened = await bed.tickets.get_ticket(unhappy)
    assert closed is not None and reopened is not None
    assert closed.state is TicketState.CLOSED
    assert reopened.state is TicketState.REOPENED
    assert reopened.department == "市城管委"
    assert "survey-u2.wav" in (reopened.transitions[-1].reason or "")
    done = await bed.callback(unhappy)
    assert (done.status, done.service_rating, done.outcome_rating) == ("done", 3, 3)


async def test_no_outcome_rating_is_left_for_a_person(bed: Bed) -> None:
    bed.dialler.results = [OriginateResult("Success", 4)]
    ticket_id = await bed.replied("3.1")
    await bed.callbacks.dispatch()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if bed.dialler.calls:
            break
    ((_, attempt_id, channel_id),) = bed.dialler.calls
    await bed.callbacks.survey_finished(
        attempt_id, SurveyAnswers("1", None, None, "u3", completed=False)
    )
    await bed.hang_up(channel_id)
    await bed.settle()
    assert (await bed.callback(ticket_id)).status == "no_rating"
    ticket = await bed.tickets.get_ticket(ticket_id)
    assert ticket is not None and ticket.state is TicketState.CALLBACK


async def test_busy_retries_after_its_spacing_and_the_last_attempt_is_unreachable(
    bed: Bed,
) -> None:
    bed.dialler.results = [OriginateResult("Failure", 0), OriginateResult("Failure", 3)]
    ticket_id = await bed.replied("4.1")

    async def busy_cause() -> None:
        # Asterisk reports busy as Reason 0; the channel's Hangup carries cause 17.
        for _ in range(200):
            await asyncio.sleep(0.005)
            if bed.dialler.calls:
                break
        await bed.hang_up(bed.dialler.calls[0][2], cause=17)

    await asyncio.gather(bed.callbacks.dispatch(), busy_cause())
    await bed.settle()
    first = await bed.callback(ticket_id)
    assert first.status == "pending"
    assert first.next_attempt_at is not None
    assert first.next_attempt_at.replace(tzinfo=UTC) == MORNING + timedelta(seconds=600)
    bed.clock.now = MORNING + timedelta(seconds=600)
    await bed.callbacks.dispatch()
    await bed.settle()
    last = await bed.callback(ticket_id)
    assert (last.status, last.attempts) == ("unreachable", 2)
    async with bed.sessions() as session:
        outcomes = (
            await session.scalars(
                select(CallbackAttempt.outcome).order_by(CallbackAttempt.attempt_no)
            )
        ).all()
    assert outcomes == ["busy", "no_answer"]


async def test_never_more_calls_up_than_the_campaign_channels(bed: Bed) -> None:
    bed.dialler.hold = asyncio.Event()
    for n in range(5):
        await bed.replied(f"5.{n}", f"1380000005{n}")
    for _ in range(3):  # the scheduler runs again while calls are still up
        await bed.callbacks.dispatch()
        await asyncio.sleep(0.02)
    assert (bed.dialler.peak, len(bed.dialler.calls)) == (2, 2)
    bed.dialler.hold.set()
    for _ in range(5):
        await bed.settle()
        await bed.callbacks.dispatch()
    await bed.settle()
    assert len(bed.dialler.calls) == 5
    assert bed.dialler.peak == 2
    assert len({number for number, _, _ in bed.dialler.calls}) == 5, "a number was dialled twice"


async def test_do_not_call_and_paused_campaigns_are_not_dialled(
    make: Callable[[CallbackSettings], Bed],
) -> None:
    b = make(campaign(do_not_call=["+86 138 0000 0061"]))
    blocked = await b.replied("6.1", "13800000061")
    assert (await b.callback(blocked)).status == "do_not_call"
    await b.callbacks.set_paused("default", True)
    paused = await b.replied("6.2", "13800000062")
    await b.callbacks.dispatch()
    await b.settle()
    assert b.dialler.calls == []
    await b.callbacks.set_paused("default", False)
    await b.callbacks.dispatch()
    await b.settle()
    assert [c[0] for c in b.dialler.calls] == ["13800000062"]
    assert (await b.callback(paused)).attempts == 1


async def test_a_restart_turns_an_open_attempt_into_a_later_retry_not_a_second_ring(
    bed: Bed,
) -> None:
    bed.dialler.hold = asyncio.Event()  # the app "dies" while the phone rings
    ticket_id = await bed.replied("7.1")
    await bed.callbacks.dispatch()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if bed.dialler.calls:
            break
    await bed.callbacks.stop()  # tasks cancelled: the attempt row stays open, like a kill
    restarted = CallbackService(bed.sessions, campaign(), SH, bed.dialler, NODE, clock=bed.clock)
    await restarted.start()
    try:
        await restarted.dispatch()
        await asyncio.sleep(0.05)
        assert len(bed.dialler.calls) == 1, "dialled again right after the restart"
        callback = await bed.callback(ticket_id)
        assert callback.status == "pending"
        assert callback.next_attempt_at is not None
        assert callback.next_attempt_at.replace(tzinfo=UTC) == MORNING + timedelta(seconds=1800)
        async with bed.sessions() as session:
            (attempt,) = (await session.scalars(select(CallbackAttempt))).all()
        assert attempt.outcome == "interrupted" and attempt.ended_at is not None
    finally:
        await restarted.stop()


async def test_two_diallers_on_one_database_ring_a_citizen_once(bed: Bed) -> None:
    """Two app processes (or a restart racing the old one) claim the same due callback:
    the unique attempt key lets only one of them dial."""
    other = CallbackService(bed.sessions, campaign(), SH, bed.dialler, NODE, clock=bed.clock)
    bed.dialler.results = [OriginateResult("Failure", 3)] * 2
    await bed.replied("8.1")
    await asyncio.gather(bed.callbacks.dispatch(), other.dispatch())
    await bed.settle()
    for _ in range(50):
        await asyncio.sleep(0.01)
    await other.stop()
    assert len(bed.dialler.calls) == 1


async def test_a_citizen_who_hangs_up_before_the_survey_frees_the_channel_at_once(
    bed: Bed,
) -> None:
    """Answered, but the survey never reports (hung up during the greeting's pause): the
    hang-up frees the channel after a short grace, and a person follows up."""
    bed.dialler.results = [OriginateResult("Success", 4)]
    ticket_id = await bed.replied("9.1")
    await bed.callbacks.dispatch()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if bed.dialler.calls:
            break
    ((_, _, channel_id),) = bed.dialler.calls
    await bed.hang_up(channel_id)
    started = asyncio.get_running_loop().time()
    while bed.callbacks._running:
        await asyncio.sleep(0.05)
        assert asyncio.get_running_loop().time() - started < HANGUP_GRACE_SECONDS + 2
    assert (await bed.callback(ticket_id)).status == "no_rating"


async def test_a_citizen_who_declined_callbacks_at_the_desk_is_not_called(bed: Bed) -> None:
    ticket_id = await bed.replied("9.2", consent=False)  # 不同意回访, as the desk saves it
    await bed.callbacks.dispatch()
    await bed.settle()
    assert (await bed.callback(ticket_id)).status == "declined"
    assert bed.dialler.calls == []
