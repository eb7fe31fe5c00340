"""Agent states at work: log in/out, ready, pause with a reason, on call, after-call work.

Call flow: the desk asks (``/api/agents/{id}/…``) → :class:`AgentService` sends QueueAdd /
QueueRemove / QueuePause over AMI → Asterisk answers with QueueMember* events → the runtime
hands them to :meth:`on_member_event` → the board (cti.agent_states) derives the state → the
change is stored with its time, pushed to the agent's desk sockets and published on the bus.
Calls come from the bus (``AgentConnected`` / ``AgentCallEnded``). After an AMI reconnect
:meth:`rebuild` reads QueueStatus, so nothing depends on what this process remembered.

After-call work is a pause with the reason ``话后处理`` that this service ends after
``queue.wrapup_seconds`` (or earlier, when the agent says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import AgentStateChange
from core.bus import Bus
from core.events import AgentCallEnded, AgentConnected, AgentStateChanged, Event
from core.settings import Settings
from cti import AmiActionError, AmiError
from cti.agent_states import (
    WRAPUP_REASON,
    AgentBoard,
    AgentState,
    AgentStatus,
    QueueMembership,
)
from cti.ami_events import QueueMemberEvent
from ivr.numberplan import NumberPlan

log = logging.getLogger(__name__)

SOURCE_SECONDS = 5.0
WRITE_DELAY = 0.3  # seconds between a state change and its history row (batched)


class AgentStateError(ValueError):
    """The agent cannot do that now (unknown agent, unknown pause reason, not logged in)."""


class Sender(Protocol):
    async def send(self, agent_id: str, event: Event) -> None: ...


def memberships(settings: Settings, plan: NumberPlan, agent_id: str) -> list[tuple[str, int]]:
    """(queue, penalty) an agent joins at login: the main queue, and every skill queue —
    first in line where the agent is skilled (0), after the overflow wait elsewhere (1)."""
    out = [(settings.queue.name, 0)]
    for line in plan.specialised:
        out.append((line.queue, 0 if agent_id in line.skilled_agents else 1))
    return out


class AgentService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        board: AgentBoard,
        membership: QueueMembership,
        sockets: Sender,
        bus: Bus,
        settings: Settings,
        plan: Callable[[], NumberPlan],
    ) -> None:
        self._sessions = sessions
        self.board = board
        self.membership = membership
        self._sockets = sockets
        self._bus = bus
        self._settings = settings
        self._plan = plan
        # Who asked for the changes Asterisk will report next (one request may cause several
        # member events, e.g. a logout from every queue); forgotten after SOURCE_SECONDS.
        self._source: dict[str, tuple[str, float]] = {}
        self._wrapups: dict[str, asyncio.Task[None]] = {}
        self._records: asyncio.Queue[AgentStateChanged] = asyncio.Queue()
        self._pushes: asyncio.Queue[AgentStateChanged] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_records(), name="agents.history"),
            asyncio.create_task(self._push(), name="agents.push"),
        ]

    async def stop(self) -> None:
        for task in [*self._wrapups.values(), *self._tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._wrapups.clear()
        batch = []
        while not self._records.empty():
            batch.append(self._records.get_nowait())
        if batch:  # nothing lost at shutdown
            await self._store(batch)

    @property
    def pause_reasons(self) -> list[str]:
        return list(self._settings.agent_states.pause_reasons)

    def _check(self, agent_id: str) -> None:
        if agent_id not in self.board:
            raise AgentStateError(f"agent {agent_id} is not configured on this node")

    # --- what the desk asks for -----------------------------------------------------------

    async def login(self, agent_id: str, by: str) -> None:
        self._check(agent_id)
        if self._settings.agent_states.members == "static":
            raise AgentStateError("agents are permanent queue members here (agent_states.members)")
        self._asked(agent_id, by)
        for queue, penalty in memberships(self._settings, self._plan(), agent_id):
            try:
                await self.membership.add(agent_id, queue, penalty, paused=False)
            except AmiActionError as exc:
                if "already" not in exc.response.message.lower():
                    raise
                log.info("agent %s is already in queue %s", agent_id, queue)

    async def logout(self, agent_id: str, by: str) -> None:
        self._check(agent_id)
        self._asked(agent_id, by)
        self._cancel_wrapup(agent_id)
        for queue, _penalty in memberships(self._settings, self._plan(), agent_id):
            try:
                await self.membership.remove(agent_id, queue)
            except AmiActionError as exc:
                log.info("agent %s was not in queue %s: %s", agent_id, queue, exc)

    async def ready(self, agent_id: str, by: str) -> None:
        self._require_logged_in(agent_id)
        self._asked(agent_id, by)
        self._cancel_wrapup(agent_id)
        await self.membership.pause(agent_id, False)

    async def pause(self, agent_id: str, reason: str, by: str) -> None:
        self._require_logged_in(agent_id)
        if reason not in self._settings.agent_states.pause_reasons:
            raise AgentStateError(
                f"unknown pause reason {reason!r}; use one of "
                + ", ".join(self._settings.agent_states.pause_reasons)
            )
        self._asked(agent_id, by)
        self._cancel_wrapup(agent_id)
        await self.membership.pause(agent_id, True, reason)

    async def end_wrapup(self, agent_id: str, by: str) -> None:
        """The agent finished the ticket early: ready for the next call now."""
        self._require_logged_in(agent_id)
        if self.board.status(agent_id).state is not AgentState.WRAPUP:
            raise AgentStateError(f"agent {agent_id} is not in after-call work")
        await self.ready(agent_id, by)

    def _require_logged_in(self, agent_id: str) -> None:
        self._check(agent_id)
        if self.board.status(agent_id).state is AgentState.LOGGED_OUT:
            raise AgentStateError(f"agent {agent_id} is not logged in")

    # --- what Asterisk reports ------------------------------------------------------------

    def on_member_event(self, event: QueueMemberEvent) -> None:
        self._changed(self.board.member_event(event))

    async def on_call_event(self, event: Event) -> None:
        match event:
            case AgentConnected():
                self._cancel_wrapup(event.agent_id)
                self._changed(self.board.call_started(event.agent_id), "asterisk")
            case AgentCallEnded():
                agent = event.agent_id
                if agent not in self.board:
                    return
                wrapup = self._settings.queue.wrapup_seconds
                source = "asterisk"
                # Paused before the call is marked ended: the agent goes from the call
                # straight to after-call work, never "ready" for a moment in between.
                if (
                    wrapup > 0
                    and not self.board.paused(agent)
                    and self._dynamic
                    and await self._start_wrapup(agent, wrapup)
                ):
                    source = "wrapup"
                self._changed(self.board.call_ended(agent), source)
            case _:
                pass

    @property
    def _dynamic(self) -> bool:
        return self._settings.agent_states.members == "dynamic"

    async def _start_wrapup(self, agent_id: str, seconds: float) -> bool:
        self._asked(agent_id, "wrapup")
        try:
            await self.membership.pause(agent_id, True, WRAPUP_REASON)
        except AmiError as exc:
            log.warning("could not start after-call work for agent %s: %s", agent_id, exc)
            return False
        self._changed(self.board.pause_confirmed(agent_id, True, WRAPUP_REASON))
        self._schedule_wrapup_end(agent_id, seconds)
        return True

    def _schedule_wrapup_end(self, agent_id: str, seconds: float) -> None:
        self._cancel_wrapup(agent_id)
        self._wrapups[agent_id] = asyncio.create_task(
            self._end_wrapup_later(agent_id, seconds), name=f"agents.wrapup:{agent_id}"
        )

    async def _end_wrapup_later(self, agent_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._wrapups.pop(agent_id, None)
        if self.board.status(agent_id).state is AgentState.WRAPUP:
            self._asked(agent_id, "wrapup-timer")
            try:
                await self.membership.pause(agent_id, False)
            except AmiError as exc:
                log.warning("could not end after-call work of agent %s: %s", agent_id, exc)

    def _cancel_wrapup(self, agent_id: str) -> None:
        task = self._wrapups.pop(agent_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def rebuild(self) -> list[AgentStatus]:
        """Read every agent's membership back from Asterisk (after each AMI login)."""
        members = await self.membership.status()
        changes = self.board.rebuild(members)
        for status in changes:
            self._changed(status, "rebuild")
        # A wrap-up whose timer this process lost (restart) ends one full period from now.
        for status in self.board.all():
            if status.state is AgentState.WRAPUP and status.agent_id not in self._wrapups:
                self._schedule_wrapup_end(status.agent_id, self._settings.queue.wrapup_seconds)
        return changes

    # --- recording ------------------------------------------------------------------------

    def _asked(self, agent_id: str, by: str) -> None:
        self._source[agent_id] = (by, time.monotonic() + SOURCE_SECONDS)

    def _asker(self, agent_id: str) -> str:
        by, until = self._source.get(agent_id, ("asterisk", 0.0))
        return by if time.monotonic() < until else "asterisk"

    def _changed(self, status: AgentStatus | None, source: str | None = None) -> None:
        if status is None:
            return
        by = source or self._asker(status.agent_id)
        event = AgentStateChanged(
            node_id=self._settings.node_id,
            agent_id=status.agent_id,
            state=status.state.value,
            reason=status.reason,
            source=by,
            at=status.since,
        )
        self._records.put_nowait(event)
        self._pushes.put_nowait(event)
        self._bus.publish(event)

    async def _push(self) -> None:
        """The agent's desk hears of a change at once, in order."""
        while True:
            event = await self._pushes.get()
            await self._sockets.send(event.agent_id, event)

    async def _write_records(self) -> None:
        """History rows in order and in batches, a moment after the change: SQLite has one
        writer, and the screen pop's own write on AgentConnect should not wait for these."""
        while True:
            batch = [await self._records.get()]
            await asyncio.sleep(WRITE_DELAY)
            while not self._records.empty():
                batch.append(self._records.get_nowait())
            await self._store(batch)

    async def _store(self, batch: list[AgentStateChanged]) -> None:
        try:
            async with self._sessions.begin() as session:
                session.add_all(
                    AgentStateChange(
                        node_id=e.node_id,
                        agent_id=e.agent_id,
                        state=e.state,
                        reason=e.reason,
                        source=e.source,
                        at=e.at,
                    )
                    for e in batch
                )
        except Exception:
            log.exception("could not store %d agent state changes", len(batch))

    async def history(self, agent_id: str, limit: int) -> Sequence[AgentStateChange]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AgentStateChange)
                .where(AgentStateChange.agent_id == agent_id)
                .order_by(AgentStateChange.id.desc())
                .limit(limit)
            )
            return rows.all()
