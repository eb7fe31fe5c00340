"""Post-call transcription service: the persistent job queue between hang-up and the ticket.

Call flow: ``TicketService.on_hangup`` closes the call record and publishes ``CallEnded``;
:meth:`TranscriptionService.on_call_ended` queues a job for an answered call (one per call: the
job's ``call_id`` is unique). The worker loop claims queued jobs from the database, waits for
MixMonitor to finish both leg files, decodes them with ``transcription.transcribe_call_async``
in a bounded executor (one shared model), stores the transcript and its keyword alerts for the
ticket, and publishes ``TranscriptReady``. Jobs live in the database, so a restart loses none:
jobs a killed process left ``running`` are queued again at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ScalarSelect, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, Transcript, TranscriptionJob
from core.bus import Bus
from core.events import CallEnded, TranscriptReady, utcnow
from transcription import (
    KeywordRule,
    SpeechModel,
    default_rules,
    find_alerts,
    make_executor,
    transcribe_call_async,
)

log = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "done", "failed")
MAX_ATTEMPTS = 3
# MixMonitor finalises the files a moment after hang-up; past this the leg is not coming.
FILE_WAIT_SECONDS = 30.0
# The worker also looks for jobs this often (another process may have queued them).
IDLE_POLL_SECONDS = 5.0


class LegNotReady(RuntimeError):
    """A recorded leg is missing or still being written after the bounded wait."""


@dataclass(frozen=True, slots=True)
class _Claim:
    job_id: int
    call_id: str
    ticket_id: int | None
    attempts: int
    caller_leg: str
    agent_leg: str


def wav_complete(path: Path) -> bool:
    """Has the writer closed ``path``? A WAV's RIFF size is only right once it is finalised
    (Asterisk rewrites the header on close; before that it says less than the file holds)."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
            size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 12:
        return False
    riff, chunk, wave_tag = struct.unpack("<4sI4s", head)
    return bool(riff == b"RIFF" and wave_tag == b"WAVE" and chunk + 8 == size)


async def wait_for_legs(paths: Sequence[Path], within: float, poll: float = 0.25) -> None:
    """Return once every file in ``paths`` is complete; raise ``LegNotReady`` after ``within``
    seconds. Complete: a final header and no growth over one poll (some Asterisk versions
    rewrite the header after every write, so the header alone does not prove the close)."""
    deadline = time.monotonic() + within
    last: dict[Path, int] = {}
    while True:
        sizes = {p: _size(p) for p in paths}
        pending = [p for p in paths if not (wav_complete(p) and last.get(p) == sizes[p])]
        if not pending:
            return
        if time.monotonic() >= deadline:
            what = "; ".join(
                f"{p} {'is still being written' if p.exists() else 'does not exist'}"
                for p in pending
            )
            raise LegNotReady(f"recording not ready after {within:g} s: {what}")
        last = {p: n for p, n in sizes.items() if n is not None}
        await asyncio.sleep(poll)


def _log_crash(task: asyncio.Task[None]) -> None:
    # Only the database failing under _fail gets here; the job stays "running" until a restart.
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("transcription job task %s crashed", task.get_name(), exc_info=exc)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


class TranscriptionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        recordings_dir: Path,
        model: SpeechModel | None,
        workers: int = 1,
        *,
        node_id: str | None = None,
        vocabulary: Sequence[str] | None = None,
        rules: Sequence[KeywordRule] | None = None,
        file_wait: float = FILE_WAIT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._recordings = recordings_dir
        self._model = model
        self._workers = workers
        # Recordings are files on this node's disk: with several nodes on one database each
        # works only its own calls' jobs (None: every job, for a single node).
        self._node_id = node_id
        self._vocabulary = vocabulary  # grammar-restricted decoding (tests, scripted dialogs)
        self._rules = tuple(default_rules() if rules is None else rules)
        self._file_wait = file_wait
        self._max_attempts = max_attempts
        self._executor: ThreadPoolExecutor | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        if model is None:
            log.info("transcription is off (no transcription.model in the settings)")

    @property
    def enabled(self) -> bool:
        return self._model is not None

    # --- queueing -------------------------------------------------------------------------

    async def on_call_ended(self, event: CallEnded) -> None:
        """Queue the call's transcription if an agent answered it and it was recorded."""
        if self._model is None or not event.answered:
            return
        if await self.enqueue(event.call_id):
            self._wake.set()

    async def enqueue(self, call_id: str) -> bool:
        """Queue a job for ``call_id``; False if it has one already or has no recording."""
        try:
            async with self._sessions.begin() as session:
                call = await session.get(Call, call_id)
                if call is None or not (call.recording_in and call.recording_out):
                    return False
                existing = await session.scalar(
                    select(TranscriptionJob.id).where(TranscriptionJob.call_id == call_id)
                )
                if existing is not None:
                    return False
                session.add(TranscriptionJob(call_id=call_id, ticket_id=call.ticket_id))
        except IntegrityError:
            # Another worker or process queued it between our check and our insert.
            return False
        return True

    # --- the worker -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._model is None:
            return
        requeued = await self.requeue_interrupted()
        if requeued:
            log.warning(
                "re-queued %d transcription job(s) a stopped process left running", requeued
            )
        self._executor = make_executor(self._workers)
        self._task = asyncio.create_task(self._run(), name="transcription.worker")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if self._executor is not None:
            # A decode in progress finishes in its thread; its job stays "running" in the
            # database and is queued again at the next start.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def requeue_interrupted(self) -> int:
        """Put jobs left ``running`` (by a process that was killed or stopped) back in the queue."""
        stmt = (
            update(TranscriptionJob)
            .where(TranscriptionJob.state == "running")
            .values(state="queued", started_at=None)
        )
        if self._node_id is not None:
            stmt = stmt.where(TranscriptionJob.call_id.in_(self._node_calls()))
        async with self._sessions.begin() as session:
            result = await session.execute(stmt.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def _node_calls(self) -> ScalarSelect[str]:
        return select(Call.id).where(Call.node_id == self._node_id).scalar_subquery()

    async def _run(self) -> None:
        assert self._executor is not None
        slots = asyncio.Semaphore(self._workers)
        while True:
            await slots.acquire()
            # Cleared before looking, so an enqueue during the look still wakes us.
            self._wake.clear()
            try:
                claim = await self._claim()
            except Exception:
                slots.release()
                log.exception("could not claim a transcription job")
                await asyncio.sleep(IDLE_POLL_SECONDS)
                continue
            if claim is None:
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
                continue
            task = asyncio.create_task(self._process(claim), name=f"transcribe:{claim.call_id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(lambda _: slots.release())
            task.add_done_callback(_log_crash)

    async def run_once(self) -> bool:
        """Claim and work one job now (tests, and a CLI drain); False if none is queued."""
        if self._model is None:
            return False
        claim = await self._claim()
        if claim is None:
            return False
        if self._executor is None:
            self._executor = make_executor(self._workers)
        await self._process(claim)
        return True

    async def _claim(self) -> _Claim | None:
        """Mark the oldest queued job ``running``; the conditional update makes two claimers
        (two processes) unable to take the same job."""
        while True:
            async with self._sessions.begin() as session:
                stmt = (
                    select(TranscriptionJob, Call)
                    .join(Call, Call.id == TranscriptionJob.call_id)
                    .where(TranscriptionJob.state == "queued")
                    .order_by(TranscriptionJob.id)
                    .limit(1)
                )
                if self._node_id is not None:
                    stmt = stmt.where(Call.node_id == self._node_id)
                row = (await session.execute(stmt)).first()
                if row is None:
                    return None
                job, call = row
                result = await session.execute(
                    update(TranscriptionJob)
                    .where(TranscriptionJob.id == job.id, TranscriptionJob.state == "queued")
                    .values(
                        state="running", attempts=job.attempts + 1, started_at=utcnow(), error=None
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    return _Claim(
                        job_id=job.id,
                        call_id=job.call_id,
                        ticket_id=job.ticket_id,
                        attempts=job.attempts + 1,
                        caller_leg=call.recording_in or "",
                        agent_leg=call.recording_out or "",
                    )

    async def _process(self, claim: _Claim) -> None:
        assert self._model is not None and self._executor is not None
        caller = self._recordings / claim.caller_leg
        agent = self._recordings / claim.agent_leg
        began = time.monotonic()
        try:
            await wait_for_legs((caller, agent), self._file_wait)
            spoken = await transcribe_call_async(
                self._executor, self._model, caller, agent, vocabulary=self._vocabulary
            )
            alerts = find_alerts(spoken, self._rules)
            row = Transcript(
                call_id=claim.call_id,
                ticket_id=claim.ticket_id,
                text=spoken.render_zh(),
                lines=[
                    {
                        "speaker": ln.speaker,
                        "start": round(ln.start, 2),
                        "end": round(ln.end, 2),
                        "text": ln.display_text(),
                    }
                    for ln in spoken.lines
                ],
                alerts=[
                    {
                        "category": a.category,
                        "centre": a.centre,
                        "phrase": a.phrase,
                        "speaker": a.speaker,
                        "at": round(a.at, 2),
                    }
                    for a in alerts
                ],
                model=self._model.name,
                seconds=round(time.monotonic() - began, 2),
            )
            await self._store(claim, row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(claim, exc)
            return
        log.info("transcribed call %s (%d alerts)", claim.call_id, len(alerts))
        self._bus.publish(
            TranscriptReady(call_id=claim.call_id, ticket_id=claim.ticket_id, alerts=len(alerts))
        )

    async def _store(self, claim: _Claim, row: Transcript) -> None:
        async with self._sessions.begin() as session:
            # Transcript and job state commit together. An earlier transcript can only come
            # from an attempt cut off after its commit; the new one replaces it.
            old = await session.scalar(
                select(Transcript).where(Transcript.call_id == claim.call_id)
            )
            if old is not None:
                await session.delete(old)
                await session.flush()
            session.add(row)
            job = await session.get(TranscriptionJob, claim.job_id)
            if job is not None:
                job.state = "done"
                job.error = None
                job.finished_at = utcnow()

    async def _fail(self, claim: _Claim, exc: Exception) -> None:
        final = claim.attempts >= self._max_attempts
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "transcription of call %s failed (attempt %d/%d): %s",
            claim.call_id,
            claim.attempts,
            self._max_attempts,
            error,
        )
        async with self._sessions.begin() as session:
            job = await session.get(TranscriptionJob, claim.job_id)
            if job is not None:
                job.state = "failed" if final else "queued"
                job.error = error[:2000]
                job.finished_at = utcnow() if final else None
        if not final:
            self._wake.set()

    # --- queries for the API ----------------------------------------------------------------

    async def list_jobs(
        self, *, state: str | None = None, limit: int = 100
    ) -> list[TranscriptionJob]:
        stmt = select(TranscriptionJob).order_by(TranscriptionJob.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(TranscriptionJob.state == state)
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())

    async def for_ticket(self, ticket_id: int) -> list[Transcript]:
        stmt = select(Transcript).where(Transcript.ticket_id == ticket_id).order_by(Transcript.id)
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())

    async def backlog(self) -> dict[str, int]:
        """How many jobs are in each state (progress for the API)."""
        stmt = select(TranscriptionJob.state, func.count()).group_by(TranscriptionJob.state)
        async with self._sessions() as session:
            counts = {state: int(n) for state, n in (await session.execute(stmt)).all()}
        return {state: counts.get(state, 0) for state in JOB_STATES}
