"""The supervisor's wallboard: per queue waiting callers, longest wait, offered / answered /
abandoned today and the service level (answered within 15 s / offered, GB/T 33358); agents
by state with their time in it.

Call flow: the bus's ``CallQueued`` / ``AgentConnected`` / ``CallerAbandoned`` are written as
queue entries (one row per caller per queue) so today's figures survive a restart; who waits
now is asked of Asterisk (QueueStatus) on each read, so it is right after any reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import QueueEntry
from core.events import AgentConnected, CallerAbandoned, CallQueued, Event
from cti import AgentBoard, AmiError
from cti.agent_states import QueueSnapshot
from cti.media_ports import MediaPorts

log = logging.getLogger(__name__)

SERVICE_LEVEL_SECONDS = 15  # GB/T 33358-2016: answer within 15 s
WRITE_DELAY = 0.3  # seconds: queue facts are written after the screen pop's own write


@dataclass
class QueueFigures:
    queue: str
    waiting: int | None = None  # None: Asterisk could not be asked
    longest_wait: int | None = None
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_target: int = 0
    service_level: float | None = None  # answered_within_target / offered; None if none offered


@dataclass
class AgentRow:
    agent_id: str
    state: str
    reason: str | None
    since: datetime
    seconds_in_state: int


@dataclass
class Board:
    at: datetime
    asterisk: bool
    service_level_seconds: int
    queues: list[QueueFigures] = field(default_factory=list)
    agents: list[AgentRow] = field(default_factory=list)
    # The node's RTP range: a full one refuses new calls (cti.media_ports); None: not read yet.
    media_ports: MediaPorts | None = None


class Wallboard:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        agents: AgentBoard,
        live: Callable[[], Awaitable[QueueSnapshot]],
        queues: Callable[[], list[str]],
        tz: zoneinfo.ZoneInfo,
        node_id: str,
        clock: Callable[[], datetime],
        media_ports: Callable[[], MediaPorts | None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._media_ports = media_ports
        self._agents = agents
        self._live = live  # QueueMembership.snapshot: one QueueStatus
        self._queues = queues
        self._tz = tz
        self._node_id = node_id
        self._clock = clock
        self._pending: asyncio.Queue[Event] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    # --- facts from the bus ---------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Queue the fact for the writer: the pop's own write (AgentConnected) goes first, and
        SQLite has one writer at a time, so these rows follow a moment later, in batches."""
        if isinstance(event, CallQueued | AgentConnected | CallerAbandoned):
            self._pending.put_nowait(event)

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name="wallboard.entries")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()

    async def flush(self, first: Event | None = None) -> None:
        """Write every queued fact now (``first`` is one already taken off the queue)."""
        batch = [] if first is None else [first]
        while not self._pending.empty():
            batch.append(self._pending.get_nowait())
        if not batch:
            return
        try:
            async with self._sessions.begin() as session:
                for event in batch:
                    await self._apply(session, event)
        except Exception:
            log.exception("wallboard: could not store %d queue facts", len(batch))

    async def _write(self) -> None:
        while True:
            first = await self._pending.get()
            await asyncio.sleep(WRITE_DELAY)
            await self.flush(first)

    async def _apply(self, session: AsyncSession, event: Event) -> None:
        match event:
            case CallQueued():
                session.add(
                    QueueEntry(
                        node_id=event.node_id,
                        uniqueid=event.uniqueid,
                        queue=event.queue,
                        caller=event.caller or None,
                        joined_at=event.at,
                    )
                )
                await session.flush()
            case AgentConnected():
                await self._close(session, event, "answered", event.hold_seconds, event.agent_id)
            case CallerAbandoned():
                await self._close(session, event, "abandoned", event.hold_seconds, None)
            case _:
                pass

    async def _close(
        self,
        session: AsyncSession,
        event: AgentConnected | CallerAbandoned,
        outcome: str,
        wait: int,
        agent_id: str | None,
    ) -> None:
        entry = await session.scalar(
            select(QueueEntry)
            .where(
                QueueEntry.node_id == event.node_id,
                QueueEntry.uniqueid == event.uniqueid,
                QueueEntry.queue == event.queue,
                QueueEntry.outcome.is_(None),
            )
            .order_by(QueueEntry.id.desc())
            .limit(1)
        )
        if entry is None:  # joined while the app was away: count it from here
            entry = QueueEntry(
                node_id=event.node_id,
                uniqueid=event.uniqueid,
                queue=event.queue,
                joined_at=event.at,
            )
            session.add(entry)
        entry.outcome, entry.wait_seconds, entry.agent_id = outcome, wait, agent_id
        entry.ended_at = event.at

    # --- the board ------------------------------------------------------------------------

    async def today(self) -> dict[str, QueueFigures]:
        now = self._clock()
        midnight = datetime.combine(now.astimezone(self._tz).date(), time(), self._tz)
        answered = QueueEntry.outcome == "answered"
        stmt = (
            select(
                QueueEntry.queue,
                func.count(),
                func.sum(case((answered, 1), else_=0)),
                func.sum(case((QueueEntry.outcome == "abandoned", 1), else_=0)),
                func.sum(
                    case(
                        (answered & (QueueEntry.wait_seconds <= SERVICE_LEVEL_SECONDS), 1),
                        else_=0,
                    )
                ),
            )
            .where(QueueEntry.joined_at >= midnight)
            .group_by(QueueEntry.queue)
        )
        out: dict[str, QueueFigures] = {}
        async with self._sessions() as session:
            for queue, offered, ans, abandoned, within in await session.execute(stmt):
                out[queue] = QueueFigures(
                    queue=queue,
                    offered=offered,
                    answered=int(ans or 0),
                    abandoned=int(abandoned or 0),
                    answered_within_target=int(within or 0),
                    service_level=round(int(within or 0) / offered, 4) if offered else None,
                )
        return out

    async def board(self) -> Board:
        await self.flush()
        now = self._clock()
        figures = await self.today()
        snapshot: QueueSnapshot | None
        try:
            snapshot = await self._live()
        except AmiError as exc:
            log.warning("wallboard: Asterisk not asked: %s", exc)
            snapshot = None
        names = list(
            dict.fromkeys([*self._queues(), *figures, *(snapshot.queues if snapshot else [])])
        )
        queues = []
        for name in names:
            row = figures.get(name, QueueFigures(queue=name))
            if snapshot is not None:
                waits = [c.wait_seconds for c in snapshot.callers if c.queue == name]
                row.waiting, row.longest_wait = len(waits), max(waits, default=0)
            queues.append(row)
        agents = [
            AgentRow(
                agent_id=s.agent_id,
                state=s.state.value,
                reason=s.reason,
                since=s.since,
                seconds_in_state=max(0, int((now - s.since).total_seconds())),
            )
            for s in self._agents.all()
        ]
        return Board(
            at=now,
            asterisk=snapshot is not None,
            service_level_seconds=SERVICE_LEVEL_SECONDS,
            queues=queues,
            agents=agents,
            media_ports=self._media_ports(),
        )
