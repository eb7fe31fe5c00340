"""Reconciliation: every call Asterisk took while the app was down gets its record afterwards.

Asterisk keeps answering and queueing when the app is away (the dialplan falls through to the
12345 greeting and the main queue), so the app reads Asterisk's queue log (cti.queue_log) when
it starts and whenever its AMI link comes back, and writes what it missed:

- a call with no row: the Call row (node, uniqueid, linkedid, caller, dialled, queue, agent,
  started/answered/ended, outcome, recording names), a ticket draft with the line's category
  (number plan; not for a cancelled number), and a missed-call entry (漏接) when nobody answered;
- a call the app saw begin but not end (killed mid-call, AMI down): the empty facts are filled
  in, nothing already written is changed, no second ticket.

Idempotent by the call's primary key (node:uniqueid): a second run, or a run over calls the app
saw live, adds nothing. A watermark (file identity and byte offset, in ``<data_dir>``) keeps a
start-up to the lines written since the last run; it never passes the first line of a call that
is still open, and a call younger than ``grace`` is left to FastAGI and the live CTI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.missed import CALLBACK_ROUTES, OPEN_STATES
from app.cases.service import as_utc, call_key, new_draft, recording_names
from app.models import Agent, Call, MissedCall, Ticket
from core.events import CallEnded, Event, utcnow
from cti.queue_log import CallFold, FilePosition, LoggedCall, inode, offset_at, read_lines
from cti.queue_log import segments as log_segments
from ivr.numberplan import NumberPlan, route_for

log = logging.getLogger(__name__)

ACTOR = "reconcile"
# Lines read per database round (a chunk is about this many bytes).
CHUNK_BYTES = 1 << 20
# Without a watermark, read from this long before the newest call the database knows.
FIRST_RUN_MARGIN = timedelta(hours=1)
# Calls still open this long after the newest line lost their end (no restart line).
LOST_AFTER = timedelta(hours=6)
# While calls stay open (in progress at the run), look again this often.
FOLLOW_UP_SECONDS = 30.0


@dataclass
class ReconcileResult:
    lines: int = 0
    calls: int = 0  # closed or open calls considered
    created: int = 0
    filled: int = 0  # existing rows completed
    tickets: int = 0
    missed: int = 0
    open: int = 0  # calls still in progress (or too young) after the run
    offset: int = 0
    seconds: float = 0.0
    finished_at: datetime | None = None


class Reconciler:
    """Reads the queue log since the watermark and writes the missing call records."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        plan: Callable[[], NumberPlan],
        tz: zoneinfo.ZoneInfo,
        node_id: str,
        queue_log: Path,
        mark_file: Path,
        publish: Callable[[Event], None] = lambda _e: None,
        *,
        clock: Callable[[], datetime] = utcnow,
        grace: timedelta = timedelta(seconds=10),
    ) -> None:
        self._sessions = sessions
        self._plan = plan
        self._tz = tz
        self._node = node_id
        self._path = queue_log
        self._mark_file = mark_file
        self._publish = publish
        self._clock = clock
        self._grace = grace
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._again = asyncio.Event()
        self.last: ReconcileResult | None = None

    # --- background: run at AMI (re)connect, again while calls stay open --------------------

    def trigger(self) -> None:
        """Ask for a run (start-up, AMI link back); runs coalesce."""
        self._again.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="reconcile")

    async def _loop(self) -> None:
        while True:
            self._again.clear()
            try:
                result = await self.run()
            except Exception:
                log.exception("reconciling from %s failed", self._path)
                result = None
            if result is not None and result.open == 0 and not self._again.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._again.wait(), FOLLOW_UP_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- one run ------------------------------------------------------------------------------

    async def run(self) -> ReconcileResult:
        async with self._lock:
            began = time.monotonic()
            result = await self._run()
            result.seconds = round(time.monotonic() - began, 3)
            result.finished_at = utcnow()
            self.last = result
            if result.created or result.filled:
                log.info(
                    "reconciled from the queue log: %d calls written, %d completed, %d tickets,"
                    " %d missed (%d lines, %.2f s)",
                    result.created,
                    result.filled,
                    result.tickets,
                    result.missed,
                    result.lines,
                    result.seconds,
                )
            return result

    async def _run(self) -> ReconcileResult:
        result = ReconcileResult()
        mark = self._read_mark()
        parts = log_segments(self._path, mark)
        if not parts:
            log.warning("no queue log at %s: nothing to reconcile", self._path)
            return result
        if mark is None:
            parts = [(self._path, await self._first_offset())]
        cutoff = self._clock() - self._grace
        fold = CallFold()
        offset = 0
        carried: set[str] = set()  # open at the end of a rotated file
        for path, start in parts:
            offset = start
            while True:
                lines, next_offset = await asyncio.to_thread(read_lines, path, offset, CHUNK_BYTES)
                for line in lines:
                    fold.feed(line)
                result.lines += len(lines)
                await self._write(fold.take_closed(), result)
                if next_offset == offset:
                    break
                offset = next_offset
            if path != self._path:
                carried = set(fold.calls)
        fold.expire(LOST_AFTER)
        await self._write(fold.take_closed(), result)
        # In progress now: written (or completed) as far as known; the live CTI or the next
        # run finishes them. Too young: FastAGI may be writing them right now.
        ongoing = [c for c in fold.calls.values() if c.started_at <= cutoff]
        await self._write(ongoing, result)
        result.open = len(fold.calls)
        # A call open across a rotation cannot hold the mark in the old file: it is written
        # as far as known above, and the live CTI closes it.
        for uid in carried:
            fold.calls.pop(uid, None)
        result.offset = fold.resume_offset(offset)
        self._write_mark(FilePosition(inode(self._path), result.offset))
        return result

    async def _first_offset(self) -> int:
        """No watermark yet: from a little before the newest call we know (a first start with a
        year of records reads hours, not the year), or the whole file for an empty database."""
        async with self._sessions() as session:
            newest = await session.scalar(
                select(func.max(Call.started_at)).where(Call.node_id == self._node)
            )
        if newest is None:
            return 0
        return await asyncio.to_thread(offset_at, self._path, as_utc(newest) - FIRST_RUN_MARGIN)

    async def _write(self, calls: Sequence[LoggedCall], result: ReconcileResult) -> None:
        if not calls:
            return
        result.calls += len(calls)
        try:
            ended = await self._commit(calls, result)
        except IntegrityError:
            # The live CTI wrote one of these calls between our read and our insert: one call
            # per transaction, so the others still go in and that one is completed instead.
            ended = []
            for call in calls:
                for _attempt in range(2):
                    with contextlib.suppress(IntegrityError):
                        ended += await self._commit([call], result)
                        break
        for event in ended:
            self._publish(event)

    async def _commit(
        self, calls: Sequence[LoggedCall], result: ReconcileResult
    ) -> list[CallEnded]:
        """One transaction; its counts join ``result`` only once it committed."""
        tally = ReconcileResult()
        async with self._sessions.begin() as session:
            ended = await self._apply(session, calls, tally)
        result.created += tally.created
        result.filled += tally.filled
        result.tickets += tally.tickets
        result.missed += tally.missed
        return ended

    async def _apply(
        self, session: AsyncSession, calls: Sequence[LoggedCall], result: ReconcileResult
    ) -> list[CallEnded]:
        keys = [call_key(self._node, c.uniqueid) for c in calls]
        rows = {
            r.id: r for r in (await session.scalars(select(Call).where(Call.id.in_(keys)))).all()
        }
        ended: list[CallEnded] = []
        for key, logged in zip(keys, calls, strict=True):
            row = rows.get(key)
            if row is None:
                if not logged.has_start or logged.dialled is None:
                    continue  # queue lines only: not one of our inbound calls
                row = await self._create(session, key, logged, result)
                rows[key] = row
            elif not await self._fill(session, row, logged, result):
                continue
            if logged.closed:
                ended.append(
                    CallEnded(
                        node_id=self._node,
                        uniqueid=logged.uniqueid,
                        call_id=key,
                        answered=logged.outcome == "answered",
                    )
                )
        return ended

    async def _create(
        self, session: AsyncSession, key: str, logged: LoggedCall, result: ReconcileResult
    ) -> Call:
        assert logged.dialled is not None
        await self._ensure_agent(session, logged.agent_id)  # before the rows that name it
        route = route_for(self._plan(), logged.dialled, logged.started_at, self._tz)
        # FastAGI's route if it ran; otherwise the fall-through: the 12345 greeting and queue.
        kind = logged.route
        ticket = None
        if kind != "stopped":
            ticket = new_draft(
                session,
                logged.caller,
                logged.dialled,
                actor=ACTOR,
                category=route.category,
                source=logged.source,
                agent_id=logged.agent_id,
                at=logged.started_at,
                reason="call taken while the app was down (from Asterisk's queue log)",
            )
            result.tickets += 1
        rec_in, rec_out = recording_names(logged.uniqueid)
        row = Call(
            id=key,
            node_id=self._node,
            uniqueid=logged.uniqueid,
            linkedid=logged.linkedid or logged.uniqueid,
            channel=logged.channel or "",
            caller=logged.caller,
            dialled=logged.dialled,
            queue=logged.queue,
            agent_id=logged.agent_id,
            ticket=ticket,
            started_at=logged.started_at,
            answered_at=logged.answered_at,
            ended_at=logged.ended_at if logged.closed else None,
            outcome=logged.outcome,
            hold_seconds=logged.hold_seconds,
            recording_in=rec_in,
            recording_out=rec_out,
            route=kind,
            source=logged.source,
            prompt=logged.prompt,
            prompt_status=logged.prompt_status,
        )
        session.add(row)
        await session.flush()
        result.created += 1
        await self._missed_and_cleared(session, row, logged, result)
        return row

    async def _fill(
        self, session: AsyncSession, row: Call, logged: LoggedCall, result: ReconcileResult
    ) -> bool:
        """Complete a row the app wrote live: only facts it does not have yet."""
        changed = False

        def put(attr: str, value: object) -> None:
            nonlocal changed
            if value is not None and getattr(row, attr) is None:
                setattr(row, attr, value)
                changed = True

        if logged.agent_id is not None and row.agent_id is None:
            await self._ensure_agent(session, logged.agent_id)
        had_outcome = row.outcome is not None
        put("queue", logged.queue)
        put("agent_id", logged.agent_id)
        put("answered_at", logged.answered_at)
        put("hold_seconds", logged.hold_seconds)
        put("prompt", logged.prompt)
        put("prompt_status", logged.prompt_status)
        if logged.outcome == "lost" and row.ended_at is None:
            # Asterisk restarted under it: say so, whatever the live CTI had seen (answered).
            row.outcome, changed = logged.outcome, True
        put("outcome", logged.outcome)
        if logged.closed:
            put("ended_at", logged.ended_at)
        if row.ticket_id is not None and row.agent_id is not None:
            await session.execute(
                update(Ticket)
                .where(Ticket.id == row.ticket_id, Ticket.agent_id.is_(None))
                .values(agent_id=row.agent_id)
            )
        if changed:
            result.filled += 1
            if not had_outcome:
                await self._missed_and_cleared(session, row, logged, result)
        return changed

    async def _missed_and_cleared(
        self, session: AsyncSession, row: Call, logged: LoggedCall, result: ReconcileResult
    ) -> None:
        """漏接: a caller nobody answered is owed a call-back (app.missed's rules), unless the
        same number got through later; an answered call clears the number's older entries."""
        started = as_utc(row.started_at)
        if row.outcome == "answered":
            if row.caller:
                await session.execute(
                    update(MissedCall)
                    .where(
                        MissedCall.caller == row.caller,
                        MissedCall.state.in_(OPEN_STATES),
                        MissedCall.at < started,
                    )
                    .values(state="cleared", cleared_by_call=row.id, closed_at=utcnow())
                )
            return
        # A caller cut off by a restart before an agent answered is owed a call-back too.
        if row.outcome not in ("abandoned", "unanswered", "lost") or not logged.closed:
            return
        if not row.caller or row.route not in CALLBACK_ROUTES:
            return
        if await session.scalar(select(MissedCall.id).where(MissedCall.call_id == row.id)):
            return
        later = await session.scalar(
            select(Call.id)
            .where(Call.caller == row.caller, Call.outcome == "answered", Call.started_at > started)
            .order_by(Call.started_at)
            .limit(1)
        )
        session.add(
            MissedCall(
                call_id=row.id,
                caller=row.caller,
                dialled=row.dialled,
                at=started,
                wait_seconds=logged.wait_seconds,
                state="cleared" if later else "open",
                cleared_by_call=later,
                closed_at=utcnow() if later else None,
            )
        )
        result.missed += 1

    @staticmethod
    async def _ensure_agent(session: AsyncSession, agent_id: str | None) -> None:
        if agent_id is not None and await session.get(Agent, agent_id) is None:
            session.add(Agent(id=agent_id))
            await session.flush()

    # --- the watermark ------------------------------------------------------------------------

    def _read_mark(self) -> FilePosition | None:
        try:
            data = json.loads(self._mark_file.read_text())
            if data.get("node_id") != self._node:
                return None
            return FilePosition(int(data["inode"]), int(data["offset"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_mark(self, mark: FilePosition) -> None:
        data = {"node_id": self._node, "inode": mark.inode, "offset": mark.offset}
        self._mark_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._mark_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._mark_file)
