"""Satisfaction callbacks (满意度回访): schedule, dial, survey result → ticket closed or reopened.

Call flow: a ticket is replied (已答复) or answered directly → ``schedule_for`` writes a
``Callback`` in the same transaction (and one for each ticket merged into it, 并单: a merged
ticket's callback rings its own citizen and records the ratings; its master's survey decides
the master's state), due after the campaign's delay inside its calling window
→ the one APScheduler job (``dispatch``, every ``tick_seconds``) picks due callbacks within the
campaign's channel limit → ``_dial`` commits a ``CallbackAttempt`` row (unique per callback and
attempt number) *before* it Originates through the carrier trunk at the campaign's pace → the
citizen answers → the ``survey`` FastAGI dialog asks for the two ratings and calls
``survey_finished`` → satisfied / basically satisfied closes the ticket (办结), unsatisfied
reopens it (重办) to the same department; busy / no answer / congestion / failure plan the next
attempt by the campaign's spacing, or mark the citizen unreachable after the last.

All state is in the database: at start-up ``_recover`` turns attempts left open by a killed app
into ``interrupted`` ones (their call may have rung: the next try waits the retry spacing rather
than ringing again at once), so a restart neither forgets a callback nor dials one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.cases.service import as_utc, transition
from app.models import Callback, CallbackAttempt, CallbackCampaign, Ticket
from callbacks import (
    CallbackSettings,
    CampaignConfig,
    Outcome,
    Pacer,
    in_window,
    is_do_not_call,
    next_attempt,
    next_dial_time,
    outcome_from_cause,
    outcome_from_originate,
)
from casework.lifecycle import TicketState
from core.events import ChannelHungUp, utcnow
from cti import OriginateResult
from ivr.ports import SurveyAnswers, SurveyCall

log = logging.getLogger(__name__)

ACTOR = "system:callback"
# A ticket in these states is owed a callback (100% 回访 of finished tickets, per the seeds).
CALLBACK_DUE_STATES = (TicketState.REPLIED, TicketState.ANSWERED)
FOLLOW_UP_STATUSES = ("unreachable", "no_rating", "do_not_call", "declined")
STATUSES = ("pending", "dialling", "done", *FOLLOW_UP_STATUSES, "cancelled")
# How long an answered callback may take before its channel slot is given back anyway.
SURVEY_LIMIT_SECONDS = 600.0
HANGUP_GRACE_SECONDS = 5.0
SATISFIED_LABELS = {"1": "满意", "2": "基本满意", "3": "不满意"}


class CallbackError(ValueError):
    """A request about callbacks that cannot be done (unknown campaign …)."""


class Dialler(Protocol):
    """The outbound port (cti.CallControl.survey_call behind it)."""

    async def survey_call(
        self,
        number: str,
        trunk: str,
        caller_id: str,
        ring_seconds: int,
        attempt_id: int,
        channel_id: str,
    ) -> OriginateResult: ...


class CallbackService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: CallbackSettings,
        tz: zoneinfo.ZoneInfo,
        dialler: Dialler,
        node_id: str,
        clock: Callable[[], datetime] = utcnow,
        scheduler: AsyncIOScheduler | None = None,
        on_reopened: Callable[[AsyncSession, Ticket], Awaitable[object]] | None = None,
    ) -> None:
        self._sessions = sessions
        # The node's one scheduler (the runtime owns it); a service built alone owns its own.
        self._shared_scheduler = scheduler
        # Restarts the reply clock (app.cases.loop) in the transaction that reopens a ticket.
        self._on_reopened = on_reopened
        self._settings = settings
        self._tz = tz
        self._dialler = dialler
        self._node_id = node_id
        self._clock = clock
        self._campaigns = {c.name: c for c in settings.campaigns}
        self._pacers = {c.name: Pacer(c.max_channels, c.max_rate) for c in settings.campaigns}
        self._running: dict[int, tuple[str, asyncio.Task[None]]] = {}
        self._survey_done: dict[int, asyncio.Event] = {}
        # Hang-up causes of our outbound channels, by the uniqueid we gave them (ChannelId).
        self._causes: dict[str, int] = {}
        self._cause_seen = asyncio.Condition()
        self._scheduler: AsyncIOScheduler | None = None
        # Held while a dispatch runs: stop() waits for it, so no run outlives the database.
        self._dispatching = asyncio.Lock()
        self._stopping = False
        self._kicks: set[asyncio.Task[None]] = set()

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._recover()
        if not self._settings.enabled:
            log.info("satisfaction callbacks are disabled: callbacks are scheduled, not dialled")
            return
        self._scheduler = self._shared_scheduler or AsyncIOScheduler(timezone=self._tz)
        self._scheduler.add_job(
            self.dispatch,
            "interval",
            seconds=self._settings.tick_seconds,
            id="callbacks.dispatch",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(self._tz),
        )
        if self._shared_scheduler is None:
            self._scheduler.start()

    async def stop(self) -> None:
        self._stopping = True
        if self._scheduler is not None:
            if self._shared_scheduler is None:
                self._scheduler.shutdown(wait=False)
            else:
                with contextlib.suppress(Exception):
                    self._scheduler.remove_job("callbacks.dispatch")
            self._scheduler = None
        async with self._dispatching:
            pass
        for kick in list(self._kicks):
            with contextlib.suppress(asyncio.CancelledError):
                await kick
        tasks = [task for _, task in self._running.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _recover(self) -> None:
        """Attempts a killed app left open become ``interrupted``; their callbacks wait the
        retry spacing (or become unreachable) instead of being dialled again at once."""
        now = self._clock()
        async with self._sessions.begin() as session:
            open_attempts = (
                await session.scalars(
                    select(CallbackAttempt).where(
                        CallbackAttempt.ended_at.is_(None),
                        CallbackAttempt.node_id == self._node_id,
                    )
                )
            ).all()
            for attempt in open_attempts:
                callback = await session.get(Callback, attempt.callback_id)
                attempt.ended_at = now
                attempt.outcome = Outcome.INTERRUPTED
                if callback is not None and callback.status == "dialling":
                    self._plan_retry(callback, Outcome.INTERRUPTED, now)
                log.warning("callback attempt %s was interrupted by a restart", attempt.id)
            # Answered, but the survey was cut off by the restart: a person follows up.
            await session.flush()
            cut_off = await session.scalars(
                select(Callback).where(
                    Callback.status == "dialling",
                    ~Callback.attempt_rows.any(CallbackAttempt.ended_at.is_(None)),
                )
            )
            for callback in cut_off:
                callback.status = "no_rating"
                callback.finished_at = now

    # --- scheduling ---------------------------------------------------------------------------

    def campaign(self, name: str) -> CampaignConfig:
        try:
            return self._campaigns[name]
        except KeyError:
            raise CallbackError(f"no callback campaign {name!r}") from None

    async def schedule_for(self, session: AsyncSession, ticket: Ticket) -> Callback | None:
        """Called in the transaction that moves ``ticket`` to replied/answered: its callback
        is written with that change, so a reply never goes without one; the citizens of the
        tickets merged into it (并单) are owed one each, in the same transaction."""
        merged = await session.scalars(select(Ticket).where(Ticket.merged_into == ticket.id))
        for duplicate in merged:
            await self._schedule_one(session, duplicate)
        return await self._schedule_one(session, ticket)

    async def _schedule_one(self, session: AsyncSession, ticket: Ticket) -> Callback | None:
        cfg = self._settings.campaign_for(ticket.category)
        if cfg is None or not ticket.caller:
            log.info("ticket %s: no callback (no campaign or no number)", ticket.id)
            return None
        last_round = await session.scalar(
            select(func.max(Callback.round)).where(Callback.ticket_id == ticket.id)
        )
        due = next_dial_time(
            cfg, self._clock() + timedelta(seconds=cfg.delay_after_reply), self._tz
        )
        callback = Callback(
            ticket_id=ticket.id,
            round=(last_round or 0) + 1,
            campaign=cfg.name,
            number=ticket.caller,
            status="pending",
            next_attempt_at=due,
        )
        if is_do_not_call(cfg, ticket.caller) or ticket.contact_consent is False:
            # On the do-not-call list, or the citizen said no to being called back (desk).
            callback.status = "do_not_call" if ticket.contact_consent is not False else "declined"
            callback.next_attempt_at = None
            callback.finished_at = self._clock()
        session.add(callback)
        await session.flush()
        return callback

    async def dispatch(self) -> None:
        """The scheduler's job: start dialling what is due, within each campaign's limits."""
        async with self._dispatching:
            if not self._stopping:
                await self._dispatch()

    async def _dispatch(self) -> None:
        now = self._clock()
        async with self._sessions() as session:
            paused = await _paused(session)
            due = (
                await session.scalars(
                    select(Callback)
                    .where(Callback.status == "pending", Callback.next_attempt_at <= now)
                    .order_by(Callback.next_attempt_at, Callback.id)
                    .limit(200)
                )
            ).all()
        moved: list[Callback] = []
        for callback in due:
            cfg = self._campaigns.get(callback.campaign)
            if cfg is None or callback.campaign in paused or callback.id in self._running:
                continue
            if not in_window(cfg, now, self._tz):
                moved.append(callback)  # overdue from a closed window: next opening
                continue
            if self._busy(cfg.name) >= cfg.max_channels:
                continue
            task = asyncio.create_task(self._dial(callback.id, cfg), name=f"callback-{callback.id}")
            self._running[callback.id] = (cfg.name, task)
            task.add_done_callback(self._forget(callback.id))
        if moved:
            async with self._sessions.begin() as session:
                for stale in moved:
                    row = await session.get(Callback, stale.id)
                    if row is not None and row.status == "pending":
                        row.next_attempt_at = next_dial_time(
                            self._campaigns[row.campaign], now, self._tz
                        )

    def _forget(self, callback_id: int) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(callback_id, None)
            if not self._stopping:
                # A freed channel is used at once, not at the next tick.
                kick = asyncio.get_running_loop().create_task(self.dispatch())
                self._kicks.add(kick)
                kick.add_done_callback(self._kicks.discard)

        return done

    def _busy(self, campaign: str) -> int:
        return sum(1 for name, _ in self._running.values() if name == campaign)

    # --- one dialling -------------------------------------------------------------------------

    async def _dial(self, callback_id: int, cfg: CampaignConfig) -> None:
        pacer = self._pacers[cfg.name]
        await pacer.acquire()
        try:
            claimed = await self._claim(callback_id, cfg)
            if claimed is None:
                return
            attempt_id, number = claimed
            done = self._survey_done[attempt_id] = asyncio.Event()
            channel_id = f"{self._node_id}-callback-{attempt_id}"
            cause: int | None = None
            try:
                result = await self._dialler.survey_call(
                    number, cfg.trunk, cfg.caller_id, cfg.ring_seconds, attempt_id, channel_id
                )
                outcome = outcome_from_originate(result.response, result.reason)
                if outcome == Outcome.FAILED:
                    # Reason 0 covers busy and rejected too: the channel's cause tells them.
                    cause = await self._hangup_cause(channel_id)
                    outcome = outcome_from_cause(cause)
                log.info(
                    "callback %s attempt %s to %s: %s (Originate %s, reason %s, cause %s)",
                    callback_id,
                    attempt_id,
                    number,
                    outcome,
                    result.response,
                    result.reason,
                    cause,
                )
            except Exception as exc:  # AMI down, refused, timed out: this attempt failed
                log.warning("callback %s: originate failed: %s", callback_id, exc)
                result, outcome = OriginateResult("Failure", None), Outcome.FAILED
            await self._attempt_ended(attempt_id, outcome, result.reason, cause)
            if outcome == Outcome.ANSWERED:
                await self._until_call_over(channel_id, done)
                await self._no_survey(callback_id)
            self._survey_done.pop(attempt_id, None)
        finally:
            pacer.release()

    async def _until_call_over(self, channel_id: str, surveyed: asyncio.Event) -> None:
        """The channel slot stays taken while the citizen is on the line: until the survey has
        reported and the channel has hung up. A hang-up without a report (the citizen left
        before the survey began, the survey could not start) frees it after a short grace,
        not after SURVEY_LIMIT_SECONDS."""
        gone = asyncio.create_task(self._hangup_cause(channel_id, SURVEY_LIMIT_SECONDS))
        reported = asyncio.create_task(surveyed.wait())
        try:
            await asyncio.wait(
                {gone, reported}, timeout=SURVEY_LIMIT_SECONDS, return_when=FIRST_COMPLETED
            )
            # The report and the hang-up come close together: give the other one a moment.
            await asyncio.wait({gone, reported}, timeout=HANGUP_GRACE_SECONDS)
        finally:
            gone.cancel()
            reported.cancel()

    async def _claim(self, callback_id: int, cfg: CampaignConfig) -> tuple[int, str] | None:
        """Commit the attempt before dialling; a second claimant fails on the unique key."""
        try:
            async with self._sessions.begin() as session:
                callback = await session.get(Callback, callback_id)
                if callback is None or callback.status != "pending":
                    return None
                ticket = await session.get(Ticket, callback.ticket_id)
                # A merged ticket's callback is due while its master's is (并单).
                owner = ticket
                if ticket is not None and ticket.state is TicketState.MERGED:
                    owner = await session.get(Ticket, ticket.merged_into or 0)
                if (
                    ticket is None
                    or owner is None
                    or owner.state
                    not in (
                        *CALLBACK_DUE_STATES,
                        TicketState.CALLBACK,
                    )
                ):
                    callback.status = "cancelled"
                    callback.finished_at = self._clock()
                    return None
                if is_do_not_call(cfg, callback.number):
                    callback.status = "do_not_call"
                    callback.finished_at = self._clock()
                    return None
                callback.attempts += 1
                attempt = CallbackAttempt(
                    callback_id=callback.id,
                    attempt_no=callback.attempts,
                    node_id=self._node_id,
                    started_at=self._clock(),
                )
                session.add(attempt)
                callback.status = "dialling"
                callback.next_attempt_at = None
                if ticket.state not in (TicketState.CALLBACK, TicketState.MERGED):
                    transition(session, ticket, TicketState.CALLBACK, actor=ACTOR)
                await session.flush()
                return attempt.id, callback.number
        except IntegrityError:
            log.warning("callback %s: attempt already taken by another dialler", callback_id)
            return None

    async def on_hangup(self, event: ChannelHungUp) -> None:
        """Bus subscriber: remembers how our outbound channels ended."""
        if "-callback-" not in event.uniqueid:
            return
        async with self._cause_seen:
            self._causes[event.uniqueid] = event.cause
            while len(self._causes) > 1000:
                self._causes.pop(next(iter(self._causes)))
            self._cause_seen.notify_all()

    async def _hangup_cause(self, channel_id: str, wait: float = 2.0) -> int | None:
        """The Hangup event may come just before or just after the OriginateResponse."""
        async with self._cause_seen:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._cause_seen.wait_for(lambda: channel_id in self._causes)
            return self._causes.pop(channel_id, None)

    async def _attempt_ended(
        self, attempt_id: int, outcome: Outcome, reason: int | None, cause: int | None
    ) -> None:
        now = self._clock()
        async with self._sessions.begin() as session:
            attempt = await session.get(CallbackAttempt, attempt_id)
            if attempt is None:
                return
            attempt.ended_at = now
            attempt.outcome = outcome
            attempt.reason = reason
            attempt.cause = cause
            callback = await session.get(Callback, attempt.callback_id)
            if callback is not None and outcome != Outcome.ANSWERED:
                self._plan_retry(callback, outcome, now)

    def _plan_retry(self, callback: Callback, outcome: Outcome, now: datetime) -> None:
        cfg = self._campaigns.get(callback.campaign)
        due = next_attempt(cfg, outcome, callback.attempts, now, self._tz) if cfg else None
        if due is None:
            callback.status = "unreachable"
            callback.finished_at = now
            callback.next_attempt_at = None
        else:
            callback.status = "pending"
            callback.next_attempt_at = due

    async def _no_survey(self, callback_id: int) -> None:
        """Answered, but the survey never reported: a person follows up."""
        async with self._sessions.begin() as session:
            callback = await session.get(Callback, callback_id)
            if callback is not None and callback.status == "dialling":
                callback.status = "no_rating"
                callback.finished_at = self._clock()

    # --- the survey (ivr.ports.SurveyStore) ---------------------------------------------------

    async def survey_started(self, attempt_id: int, uniqueid: str) -> SurveyCall | None:
        async with self._sessions.begin() as session:
            attempt = await session.get(CallbackAttempt, attempt_id)
            if attempt is None:
                return None
            attempt.uniqueid = uniqueid
            callback = await session.get(Callback, attempt.callback_id)
            if callback is None or callback.status != "dialling":
                return None
            return SurveyCall(attempt_id=attempt_id, ticket_id=callback.ticket_id)

    async def survey_finished(self, attempt_id: int, answers: SurveyAnswers) -> None:
        """Store the ratings on the callback and move the ticket: 1/2 → closed, 3 → reopened;
        no outcome rating → left for a person (no_rating)."""
        try:
            async with self._sessions.begin() as session:
                attempt = await session.get(CallbackAttempt, attempt_id)
                callback = await session.get(Callback, attempt.callback_id) if attempt else None
                if callback is None or callback.status != "dialling":
                    return
                callback.service_rating = _rating(answers.service)
                callback.outcome_rating = _rating(answers.outcome)
                callback.comment_recording = answers.comment_file
                callback.call_uniqueid = answers.uniqueid
                callback.finished_at = self._clock()
                ticket = await session.get(Ticket, callback.ticket_id)
                if answers.outcome is None or ticket is None:
                    callback.status = "no_rating"
                    return
                callback.status = "done"
                if ticket.state != TicketState.CALLBACK:
                    return
                reason = (
                    f"回访：服务{SATISFIED_LABELS.get(answers.service or '', '未评价')}，"
                    f"结果{SATISFIED_LABELS[answers.outcome]}"
                )
                if answers.outcome == "3":
                    if answers.comment_file:
                        reason += f"，留言 {answers.comment_file}"
                    transition(session, ticket, TicketState.REOPENED, actor=ACTOR, reason=reason)
                    if self._on_reopened is not None:
                        await self._on_reopened(session, ticket)
                else:
                    transition(session, ticket, TicketState.CLOSED, actor=ACTOR, reason=reason)
        finally:
            if event := self._survey_done.pop(attempt_id, None):
                event.set()

    # --- monitor ------------------------------------------------------------------------------

    async def set_paused(self, name: str, paused: bool) -> None:
        self.campaign(name)
        async with self._sessions.begin() as session:
            row = await session.get(CallbackCampaign, name)
            if row is None:
                session.add(CallbackCampaign(name=name, paused=paused))
            else:
                row.paused = paused

    async def monitor(self) -> list[dict[str, Any]]:
        """Per campaign: callbacks by status, progress, answer rate, rating distribution."""
        async with self._sessions() as session:
            paused = await _paused(session)
            by_status = (
                await session.execute(
                    select(Callback.campaign, Callback.status, func.count()).group_by(
                        Callback.campaign, Callback.status
                    )
                )
            ).all()
            by_outcome = (
                await session.execute(
                    select(Callback.campaign, CallbackAttempt.outcome, func.count())
                    .join(Callback, Callback.id == CallbackAttempt.callback_id)
                    .group_by(Callback.campaign, CallbackAttempt.outcome)
                )
            ).all()
            ratings = (
                await session.execute(
                    select(Callback.campaign, Callback.outcome_rating, func.count())
                    .where(Callback.status == "done")
                    .group_by(Callback.campaign, Callback.outcome_rating)
                )
            ).all()
        out = []
        for cfg in self._settings.campaigns:
            statuses = {s: 0 for s in STATUSES}
            statuses.update({s: n for c, s, n in by_status if c == cfg.name})
            outcomes = {str(o): n for c, o, n in by_outcome if c == cfg.name and o}
            dialled = sum(outcomes.values())
            total = sum(statuses.values())
            finished = total - statuses["pending"] - statuses["dialling"]
            out.append(
                {
                    "name": cfg.name,
                    "paused": cfg.name in paused,
                    "dialling_now": self._busy(cfg.name),
                    "max_channels": cfg.max_channels,
                    "max_rate": cfg.max_rate,
                    "total": total,
                    "statuses": statuses,
                    "progress": finished / total if total else 1.0,
                    "attempts": dialled,
                    "attempt_outcomes": outcomes,
                    "answer_rate": outcomes.get("answered", 0) / dialled if dialled else None,
                    "ratings": {
                        SATISFIED_LABELS[str(r)]: n for c, r, n in ratings if c == cfg.name and r
                    },
                }
            )
        return out

    async def list(
        self, status: str | None, ticket_id: int | None, limit: int
    ) -> Sequence[Callback]:
        async with self._sessions() as session:
            query = (
                select(Callback)
                .options(selectinload(Callback.attempt_rows))
                .order_by(Callback.id.desc())
                .limit(limit)
            )
            if status is not None:
                query = query.where(Callback.status == status)
            if ticket_id is not None:
                query = query.where(Callback.ticket_id == ticket_id)
            rows = (await session.scalars(query)).all()
            for row in rows:
                if row.next_attempt_at is not None:
                    row.next_attempt_at = as_utc(row.next_attempt_at)
            return rows


async def _paused(session: AsyncSession) -> set[str]:
    rows = await session.scalars(
        select(CallbackCampaign.name).where(CallbackCampaign.paused.is_(True))
    )
    return set(rows.all())


def _rating(key: str | None) -> int | None:
    return int(key) if key in SATISFIED_LABELS else None
