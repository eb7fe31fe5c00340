"""The big screen (大屏) for the hall: today's calls, agents by state, tickets, top categories,
keyword and surge alerts — kept in memory from the bus, read from the database only at start
and at local midnight.

Call flow: the runtime subscribes :meth:`BigScreen.on_event` to every bus event; a
:class:`Today` (pure: events in, counters out) counts what concerns the screen. A change marks
the view dirty, and one pusher task sends the whole view (a few KB of JSON) to every
``/ws/bigscreen`` socket, at most once per ``min_interval`` (2 a second by default): a burst
of a hundred events costs two pushes, and nothing polls a table while the hall watches.

What counts (local day in ``timezone``):

- calls: ``CallQueued`` offered, ``AgentConnected`` answered (in time when ``hold_seconds`` ≤
  ``kpis.service_level_seconds``), ``CallerAbandoned`` abandoned; who waits now is the set of
  queued callers not yet answered or gone (Asterisk's QueueStatus at start). 接通率 is answered
  ÷ offered, the 15 s rate answered in time ÷ ``kpis.service_level_denominator`` (the KPI
  report's reading, so the hall and the report agree);
- agents: ``AgentStateChanged`` (the agent board at start);
- tickets: ``TicketRegistered`` received (and its category, for the top categories),
  ``TicketDispatched`` dispatched (direct, or published to the grab pool), ``TicketOverdue``
  and ``SignForOverdue``;
- ``KeywordAlert`` (emergency phrases heard live) and ``SurgeAlert`` (app.surges).

At start and at each local midnight the day is read again from the database (queue entries,
ticket transitions and columns, live and surge alerts), so a restart loses nothing and a new
day starts at zero; callers waiting and agents' states are "now", not "today", and carry over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zoneinfo
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kpis.sql import instant
from app.models import LiveAlert, QueueEntry, SurgeAlertRow, Ticket, TicketTransition
from casework.lifecycle import TicketState
from core.events import (
    AgentConnected,
    AgentStateChanged,
    CallerAbandoned,
    CallQueued,
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
from cti import AgentBoard, AmiError
from cti.agent_states import QueueSnapshot
from transcription import CATEGORY_LABELS_ZH

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5  # seconds between pushes: at most 2 a second
TOP_CATEGORIES = 6
ALERTS_SHOWN = 5
STATES = ("ready", "on_call", "wrapup", "paused", "logged_out")

Sink = Callable[[str], Awaitable[None]]


@dataclass
class AgentNow:
    state: str
    reason: str | None
    since: datetime


@dataclass
class Today:
    """Today's counters and what is true now; pure (no clock, no database)."""

    day: date
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_in_time: int = 0
    received: int = 0
    dispatched: int = 0
    overdue: int = 0
    sign_overdue: int = 0
    alerts_today: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    alerts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ALERTS_SHOWN))
    surges: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ALERTS_SHOWN))
    # Nodes whose recordings disk is below its floor now: node → free MB (app.calls.disk).
    disk_low: dict[str, int] = field(default_factory=dict)
    # Now, not today: (queue, uniqueid) → when the caller joined; agent → state.
    waiting: dict[tuple[str, str], datetime] = field(default_factory=dict)
    agents: dict[str, AgentNow] = field(default_factory=dict)

    def next_day(self, day: date) -> Today:
        """A new day at zero, keeping who waits and the agents' states."""
        return Today(
            day=day, waiting=dict(self.waiting), agents=dict(self.agents), disk_low=self.disk_low
        )

    def apply(self, event: Event, tz: zoneinfo.ZoneInfo, in_time_seconds: int) -> bool:
        """Count the event; True if the view changed. Facts of another day (an event queued
        across midnight) change only what is true now."""
        today = event.at.astimezone(tz).date() == self.day
        match event:
            case CallQueued():
                self.waiting[(event.queue, event.uniqueid)] = event.at
                self.offered += today
            case AgentConnected():
                self.waiting.pop((event.queue, event.uniqueid), None)
                if today:
                    self.answered += 1
                    self.answered_in_time += event.hold_seconds <= in_time_seconds
            case CallerAbandoned():
                self.waiting.pop((event.queue, event.uniqueid), None)
                self.abandoned += today
            case AgentStateChanged():
                self.agents[event.agent_id] = AgentNow(event.state, event.reason, event.at)
            case TicketRegistered() if today:
                self.received += 1
                self.categories[event.category or ""] += 1
            case TicketDispatched() if today:
                self.dispatched += 1
            case TicketOverdue() if today:
                self.overdue += 1
            case SignForOverdue() if today:
                self.sign_overdue += 1
            case KeywordAlert() if today:
                self.alerts_today += 1
                self.alerts.appendleft(
                    {
                        "at": event.at.isoformat(),
                        "agent_id": event.agent_id,
                        "ticket_id": event.ticket_id,
                        "category_zh": event.category_zh,
                        "phrase": event.phrase,
                        "centre": event.centre,
                    }
                )
            case SurgeAlert() if today:
                self.surges.appendleft(
                    {
                        "at": event.at.isoformat(),
                        "category": event.category,
                        "count": event.count,
                        "window_minutes": event.window_minutes,
                        "baseline": event.baseline,
                        "district": event.district,
                        "message": event.message,
                    }
                )
            case RecordingSpace(low=True):
                self.disk_low[event.node_id] = event.free_mb
            case RecordingSpace():
                self.disk_low.pop(event.node_id, None)
            case _:
                return False
        return True

    def top(self) -> list[tuple[str, int]]:
        """The most frequent categories, most first; uncategorised after its equals."""
        ranked = sorted(self.categories.items(), key=lambda kv: (-kv[1], not kv[0], kv[0]))
        return ranked[:TOP_CATEGORIES]

    def view(self, now: datetime, sl_seconds: int, sl_denominator: str) -> dict[str, Any]:
        sl_of = self.answered if sl_denominator == "answered" else self.offered
        counts = dict.fromkeys(STATES, 0)
        for a in self.agents.values():
            counts[a.state] = counts.get(a.state, 0) + 1
        oldest = min(self.waiting.values(), default=None)
        return {
            "event": "bigscreen",
            "at": now.isoformat(),
            "day": self.day.isoformat(),
            "calls": {
                "offered": self.offered,
                "answered": self.answered,
                "abandoned": self.abandoned,
                "answered_in_time": self.answered_in_time,
                "answer_rate": _rate(self.answered, self.offered),
                "service_level": _rate(self.answered_in_time, sl_of),
                "service_level_seconds": sl_seconds,
                "service_level_denominator": sl_denominator,
                "waiting": len(self.waiting),
                "longest_wait": (
                    max(0, int((now - oldest).total_seconds())) if oldest is not None else 0
                ),
                "waiting_since": oldest.isoformat() if oldest is not None else None,
            },
            "agents": {
                "counts": counts,
                "list": [
                    {
                        "agent_id": k,
                        "state": a.state,
                        "reason": a.reason,
                        "since": a.since.isoformat(),
                    }
                    for k, a in sorted(self.agents.items())
                ],
            },
            "tickets": {
                "received": self.received,
                "dispatched": self.dispatched,
                "overdue": self.overdue,
                "sign_overdue": self.sign_overdue,
            },
            "categories": [{"category": c or "未分类", "count": n} for c, n in self.top()],
            "alerts": list(self.alerts),
            "alerts_today": self.alerts_today,
            "surges": list(self.surges),
            "disk_low": [{"node_id": n, "free_mb": mb} for n, mb in sorted(self.disk_low.items())],
        }


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class BigScreen:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        agents: AgentBoard,
        live: Callable[[], Awaitable[QueueSnapshot]] | None,
        kpis: KpiSettings,
        tz: zoneinfo.ZoneInfo,
        clock: Callable[[], datetime],
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self._sessions = sessions
        self._board = agents
        self._live = live  # QueueMembership.snapshot: who waits now (one QueueStatus)
        self._sl_seconds = kpis.service_level_seconds
        self._sl_denominator = kpis.service_level_denominator
        self._tz = tz
        self._clock = clock
        self._min_interval = min_interval
        self._today = Today(day=clock().astimezone(tz).date())
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._sinks: set[Sink] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.pushes = 0  # views sent (to any number of sockets): the throttle's measure
        self.reloads = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload()
        self._tasks = [
            asyncio.create_task(self._pusher(), name="bigscreen.push"),
            asyncio.create_task(self._midnights(), name="bigscreen.midnight"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- the view -----------------------------------------------------------------------------

    @property
    def today(self) -> Today:
        return self._today

    def view(self) -> dict[str, Any]:
        return self._today.view(self._clock(), self._sl_seconds, self._sl_denominator)

    def attach(self, sink: Sink) -> None:
        self._sinks.add(sink)

    def detach(self, sink: Sink) -> None:
        self._sinks.discard(sink)

    # --- facts from the bus -------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        async with self._lock:
            await self._roll_over()
            if self._today.apply(event, self._tz, self._sl_seconds):
                self._dirty.set()

    async def roll_over(self) -> bool:
        """Start a new day if the local date changed (read it from the database); True if
        it did. The midnight task calls it; so does every event, so none lands on the old day."""
        async with self._lock:
            return await self._roll_over()

    async def _roll_over(self) -> bool:
        day = self._clock().astimezone(self._tz).date()
        if day == self._today.day:
            return False
        log.info("big screen: a new day (%s)", day)
        await self._load(day)
        return True

    async def reload(self) -> None:
        async with self._lock:
            await self._load(self._clock().astimezone(self._tz).date())

    async def _load(self, day: date) -> None:
        """Today's counters from the database, agents from the board, who waits from
        Asterisk (or, without it, what this process knew)."""
        fresh = self._today.next_day(day)
        start = _utc(datetime.combine(day, time(), self._tz))
        await self._read_day(fresh, start)
        fresh.agents = {
            s.agent_id: AgentNow(s.state.value, s.reason, s.since) for s in self._board.all()
        }
        if self._live is not None:
            try:
                snapshot = await self._live()
            except AmiError as exc:
                log.warning("big screen: Asterisk not asked who waits: %s", exc)
            else:
                now = self._clock()
                fresh.waiting = {
                    (c.queue, c.uniqueid): now - timedelta(seconds=c.wait_seconds)
                    for c in snapshot.callers
                }
        self._today = fresh
        self.reloads += 1
        self._dirty.set()

    async def _read_day(self, into: Today, start: datetime) -> None:
        q, t, tr = QueueEntry, Ticket, TicketTransition
        since = instant(start)
        answered = q.outcome == "answered"

        def n(cond: Any) -> Any:
            return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

        calls = select(
            func.count(),
            n(answered),
            n(q.outcome == "abandoned"),
            n(answered & (q.wait_seconds <= self._sl_seconds)),
        ).where(q.joined_at >= since)
        registered = (
            select(t.category, func.count())
            .select_from(tr)
            .join(t, t.id == tr.ticket_id)
            .where(
                tr.to_state == TicketState.REGISTERED,
                or_(tr.from_state.is_(None), tr.from_state == TicketState.DRAFT),
                tr.at >= since,
            )
            .group_by(t.category)
        )
        tickets = select(
            n(
                or_(
                    and_(t.dispatch_mode == "direct", t.dispatched_at >= since),
                    and_(t.dispatch_mode == "grab", t.published_at >= since),
                )
            ),
            n(and_(t.sla_status == "overdue", t.reply_due_at >= since)),
            n(t.sign_overdue_at >= since),
        ).where(
            or_(
                t.dispatched_at >= since,
                t.published_at >= since,
                t.reply_due_at >= since,
                t.sign_overdue_at >= since,
            )
        )
        alerts = select(LiveAlert).where(LiveAlert.raised_at >= since)
        async with self._sessions() as session:
            offered, ans, abandoned, in_time = (await session.execute(calls)).one()
            into.offered, into.answered = int(offered), int(ans)
            into.abandoned, into.answered_in_time = int(abandoned), int(in_time)
            for category, count in await session.execute(registered):
                into.categories[category or ""] += int(count)
                into.received += int(count)
            dispatched, overdue, sign_overdue = (await session.execute(tickets)).one()
            into.dispatched, into.overdue = int(dispatched), int(overdue)
            into.sign_overdue = int(sign_overdue)
            into.alerts_today = int(
                await session.scalar(select(func.count()).select_from(alerts.subquery())) or 0
            )
            newest = await session.scalars(
                alerts.order_by(LiveAlert.raised_at.desc()).limit(ALERTS_SHOWN)
            )
            for row in newest:
                into.alerts.append(
                    {
                        "at": _utc(row.raised_at).isoformat(),
                        "agent_id": row.agent_id,
                        "ticket_id": row.ticket_id,
                        "category_zh": CATEGORY_LABELS_ZH.get(row.category, row.category),
                        "phrase": row.phrase,
                        "centre": row.centre,
                    }
                )
            # Today's surge alerts (app.surges stores each before it publishes it).
            surges = await session.scalars(
                select(SurgeAlertRow)
                .where(SurgeAlertRow.created_at >= since)
                .order_by(SurgeAlertRow.created_at.desc())
                .limit(ALERTS_SHOWN)
            )
            for surge in surges:
                into.surges.append(
                    {
                        "at": _utc(surge.created_at).isoformat(),
                        "category": surge.category,
                        "count": surge.count,
                        "window_minutes": 60 if surge.window == "hour" else 24 * 60,
                        "baseline": round(surge.expected, 2),
                        "district": surge.area if surge.area_kind == "district" else None,
                        "message": surge.message,
                    }
                )

    # --- pushing ------------------------------------------------------------------------------

    async def push(self) -> None:
        """Send the view to every socket now (the pusher's step)."""
        self._dirty.clear()
        if not self._sinks:
            return
        text = json.dumps(self.view(), ensure_ascii=False)
        self.pushes += 1
        for sink in list(self._sinks):
            try:
                await asyncio.wait_for(sink(text), 5.0)
            except Exception:
                log.info("big screen: dropping a socket after a failed send")
                self._sinks.discard(sink)

    async def _pusher(self) -> None:
        while True:
            await self._dirty.wait()
            await self.push()
            await asyncio.sleep(self._min_interval)

    def seconds_to_midnight(self) -> float:
        now = self._clock().astimezone(self._tz)
        midnight = datetime.combine(now.date() + timedelta(days=1), time(), self._tz)
        return max(0.0, (midnight - now).total_seconds())

    async def _midnights(self) -> None:
        while True:
            # A little past midnight, and never a busy loop if the clock is odd.
            await asyncio.sleep(self.seconds_to_midnight() + 1.0)
            try:
                await self.roll_over()
            except Exception:
                log.exception("big screen: the new day could not be read")
                await asyncio.sleep(60)
