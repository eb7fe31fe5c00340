"""The running node: every long-lived part, built from settings and started in order.

Start order: database → bus → ticket service subscriptions → departments and catalogue (from
the dispatch file while the database has none) → transcription worker → live transcription
(AudioSocket server) → FastAGI server → AMI client (with the call tracker as its single event
consumer) → the node's one scheduler (satisfaction callbacks, the case loop's sweep, the
scheduled reports, the intake channels' push-back outbox, the surge detector), started paused
and running only while this process leads (core.leader) → leadership. Stop runs in reverse.
The bus is ``[bus] engine``: in-process, or Redis Streams when several processes serve.
A working-day calendar without data for a year within ``[casework] calendar_horizon_days``
stops start-up (SettingsError), as does a broken dispatch file.
AMI being down at start is not fatal: calls still flow through Asterisk, and the client keeps
reconnecting. A configured speech model that is not installed is fatal (SettingsError).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import knowledge
from app.agents.hub import AgentHub
from app.agents.service import AgentService
from app.agents.wallboard import Wallboard
from app.auth.service import Principal, Role, UserService
from app.bigscreen.service import BigScreen
from app.callbacks.service import CALLBACK_DUE_STATES, CallbackService
from app.calls.actions import CallActions
from app.calls.disk import RecordingSpaceWatch
from app.calls.lost import close_lost_calls
from app.calls.missed import MissedCalls
from app.calls.reconcile import Reconciler
from app.calls.stats import NumberStats
from app.calls.transfers import Transfers
from app.cases.attachments import AttachmentStore
from app.cases.confidential import ConfidentialLog
from app.cases.edits import TicketEditor
from app.cases.loop import CaseLoop
from app.cases.service import TicketService
from app.departments.service import DepartmentService
from app.duplicates.service import DuplicateService
from app.intake.limits import PublicLimits
from app.intake.service import IntakeService
from app.intake.webhooks import OutboxDispatcher
from app.knowledge.service import KnowledgeBase
from app.kpis.service import KpiService
from app.models import Ticket
from app.reports.service import ReportKind, ReportService
from app.speech.live import LiveTranscription
from app.speech.transcripts import TranscriptionService
from app.surges.service import SurgeService
from casework import (
    CalendarGapError,
    CaseClock,
    CaseworkError,
    DeadlinePolicy,
    GrabWindow,
    WorkingCalendar,
)
from casework.lifecycle import TicketState
from core.bus import InProcessBus, RunningBus
from core.db import create_engine, session_factory
from core.events import (
    AgentConnected,
    AmiLinkChanged,
    CallEnded,
    CentreJoined,
    ChannelHungUp,
    Event,
    ScreenPop,
    utcnow,
)
from core.leader import leadership
from core.redis_bus import RedisStreamBus, default_consumer
from core.settings import Settings, SettingsError
from cti import (
    AmiConnection,
    AmiError,
    AmiEvent,
    AmiLoginError,
    AmiUnavailable,
    CallControl,
    CallTracker,
)
from cti.agent_states import AgentBoard, QueueMembership, live_channel_ids
from cti.ami_events import QueueMemberEvent
from cti.media_ports import MediaPortGauge
from ivr.numberplan import PlanFile
from ivr.routes import build_routes
from ivr.server import FastAgiServer
from transcription import (
    KeywordRule,
    ModelError,
    VoskModel,
    default_rules,
    resolve_model,
    shared_model,
)

log = logging.getLogger(__name__)

# A record younger than this at AMI login may not have its channel listed yet: left alone.
LOST_GRACE = timedelta(seconds=10)
MEDIA_CHECK_SECONDS = 1.0  # a count of the tracker's channels: cheap, and a full range is urgent


def _speech_model(settings: Settings) -> VoskModel | None:
    """The configured Vosk model (loaded lazily, on the first job), or None: transcription off.
    A configured but missing model stops start-up, with the command that installs it."""
    name = settings.transcription.model
    if name is None:
        return None
    try:
        return shared_model(resolve_model(name, settings.models_dir, command="hotline"))
    except ModelError as exc:
        raise SettingsError(f"transcription.model: {exc}") from exc


def _keyword_rules(settings: Settings) -> tuple[KeywordRule, ...]:
    """The alert phrase lists from the settings, or the built-in Mandarin ones."""
    rules = settings.transcription.keywords
    if rules is None:
        return default_rules()
    return tuple(KeywordRule(r.category, r.centre, tuple(r.phrases)) for r in rules)


def working_calendar(settings: Settings, today: datetime) -> WorkingCalendar:
    """The case loop's calendar; refuses a year without data within the horizon and warns
    of one within ``calendar_warn_days`` (next year's schedule is published late)."""
    cfg = settings.casework
    try:
        overrides = cfg.calendar_overrides.read_text("utf-8") if cfg.calendar_overrides else None
        calendar = WorkingCalendar.from_settings(cfg, overrides)
        local_today = calendar.local(today).date()
        calendar.check_horizon(local_today, cfg.calendar_horizon_days)
    except OSError as exc:
        raise SettingsError(f"casework.calendar_overrides: {exc}") from exc
    except CaseworkError as exc:
        raise SettingsError(f"casework: {exc}") from exc
    for year in calendar.missing_years(local_today, cfg.calendar_warn_days):
        log.warning(
            "no working-day data for %d yet: deadlines that fall in it will be refused; add "
            "the State Council's schedule to [casework] calendar_overrides (README)",
            year,
        )
    return calendar


def make_bus(settings: Settings) -> RunningBus:
    """``[bus] engine``: the in-process bus, or Redis Streams shared by several processes."""
    cfg = settings.bus
    if cfg.engine == "memory":
        return InProcessBus()
    assert cfg.url is not None  # BusSettings requires it with redis
    return RedisStreamBus(
        cfg.url,
        stream=cfg.stream,
        group_prefix=cfg.group_prefix,
        consumer=cfg.consumer or f"{settings.node_id}:{default_consumer()}",
        maxlen=cfg.maxlen,
        outbox_limit=cfg.outbox_limit,
        claim_idle_seconds=cfg.claim_idle_seconds,
    )


class Runtime:
    def __init__(self, settings: Settings, now: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self._now = now
        self.engine: AsyncEngine = create_engine(settings.db_url)
        self.bus = make_bus(settings)
        self.tickets = TicketService(session_factory(self.engine), self.bus, settings.node_id)
        self.hub = AgentHub()
        self.plan = PlanFile(settings.number_plan_file)
        self.tz = zoneinfo.ZoneInfo(settings.timezone)
        sessions = session_factory(self.engine)
        self.sessions = sessions
        self.ami_events: asyncio.Queue[AmiEvent] = asyncio.Queue(maxsize=100_000)
        self.ami = AmiConnection.from_settings(settings.ami, self.ami_events, self._on_ami_link)
        self.control = CallControl(self.ami)
        # Exactly one scheduler per node: every periodic job is added to this one. It starts
        # paused and runs only while this process leads (core.leader): on PostgreSQL several
        # app processes may serve, and the jobs must run in one of them.
        self.scheduler = AsyncIOScheduler(timezone=self.tz)
        self.leader = leadership(
            settings.db_url,
            self.scheduler.resume,
            self._follow,
            retry_seconds=settings.scheduler.leader_retry_seconds,
        )
        calendar = working_calendar(settings, now())
        self.departments = DepartmentService(sessions, now)
        self.caseloop = CaseLoop(
            sessions,
            self.bus,
            self.departments,
            CaseClock(calendar, DeadlinePolicy.from_settings(settings.casework)),
            GrabWindow.from_settings(calendar, settings.casework),
            settings.casework,
            now,
        )
        self.attachments = AttachmentStore(sessions, settings.data_dir / "attachments", now)
        intake = settings.intake
        self.intake = IntakeService(sessions, intake, self.attachments, self.departments, now)
        self.intake_limits = PublicLimits(
            intake.form_per_address, intake.form_per_phone, intake.track_failures_per_address
        )
        self.outbox = OutboxDispatcher(sessions, intake, now)
        self.duplicates = DuplicateService(sessions, settings.duplicates, now)
        self.callbacks = CallbackService(
            sessions,
            settings.callbacks,
            self.tz,
            self.control,
            settings.node_id,
            scheduler=self.scheduler,
            on_reopened=self.caseloop.on_reopened,
        )
        self.agi = FastAgiServer(
            build_routes(
                self.tickets,
                self.plan,
                self.tz,
                self.callbacks,
                settings.recordings_dir_in_asterisk,
            ),
            settings.agi.host,
            settings.agi.port,
            settings.agi.header_timeout,
        )
        self.tracker = CallTracker(self.bus, settings.node_id)
        self.transfers = Transfers(sessions, self.control, self.plan, self.hub.send)
        self.missed = MissedCalls(sessions)
        # Calls Asterisk took while the app was down, from its queue log (app/calls/reconcile.py).
        self.reconcile = Reconciler(
            sessions,
            self.plan,
            self.tz,
            settings.node_id,
            settings.instance_dir / "log" / "queue_log",
            settings.data_dir / "queue_log.mark.json",
            self.bus.publish,
        )
        self.stats = NumberStats(sessions, self.plan, self.tz)
        model = _speech_model(settings)
        rules = _keyword_rules(settings)
        self.transcription = TranscriptionService(
            sessions,
            self.bus,
            settings.recordings_dir,
            model,
            settings.transcription.workers,
            node_id=settings.node_id,
            rules=rules,
        )
        self.live = LiveTranscription(
            sessions,
            self.bus,
            self.control,
            model,
            settings.transcription.live,
            rules,
            self.hub.send,
            node_id=settings.node_id,
        )
        self.kpis = KpiService(sessions, self.departments, settings.kpis, self.tz, now)
        self.surges = SurgeService(
            sessions, self.bus.publish, settings.surges, self.tz, self.departments, now
        )
        self.reports = ReportService(
            sessions, self.kpis, self.departments, self.tz, now, surges=self.surges.for_report
        )
        self.ticket_edits = TicketEditor(sessions, self.departments, self.bus.publish)
        self.confidential = ConfidentialLog(sessions, now)
        self.knowledge = KnowledgeBase(sessions, self.departments, now)
        self.call_actions = CallActions(sessions, self.control)
        self.users = UserService(
            sessions, settings.api.token.get_secret_value(), settings.api.session_hours
        )
        self.agents = AgentService(
            sessions,
            AgentBoard(settings.agents, utcnow),
            QueueMembership(self.ami),
            self.hub,
            self.bus,
            settings,
            self.plan,
        )
        self.media_ports = MediaPortGauge(settings.sip.rtp_start, settings.sip.rtp_end)
        self.wallboard = Wallboard(
            sessions,
            self.agents.board,
            self.agents.membership.snapshot,
            lambda: [settings.queue.name, *(line.queue for line in self.plan().specialised)],
            self.tz,
            settings.node_id,
            utcnow,
            lambda: self.media_ports.last,
        )
        # The hall's big screen: today's figures from the bus, re-read only at start and midnight.
        self.bigscreen = BigScreen(
            sessions,
            self.agents.board,
            self.agents.membership.snapshot,
            settings.kpis,
            self.tz,
            utcnow,
        )
        self._rebuild_task: asyncio.Task[None] | None = None
        self._tracker_task: asyncio.Task[None] | None = None
        self._watches: list[asyncio.Task[None]] = []
        self._lost_task: asyncio.Task[None] | None = None
        self.recording_space = RecordingSpaceWatch(
            settings.recordings_dir,
            settings.recordings.min_free_mb,
            settings.node_id,
            self.bus.publish,
        )
        self._connect_task: asyncio.Task[None] | None = None
        self._kb_warm_up: asyncio.Task[None] | None = None
        self.ami_connected = False

    def _on_ami_link(self, connected: bool) -> None:
        self.ami_connected = connected
        self.bus.publish(AmiLinkChanged(node_id=self.settings.node_id, connected=connected))
        if connected:
            # What Asterisk did while we were not listening, then what died with it.
            self._lost_task = asyncio.create_task(self._reconcile_and_close_lost(), name="lost")
            # Agent states come back from Asterisk, not from what this process remembered.
            self._rebuild_task = asyncio.create_task(self._rebuild_agents(), name="agents.rebuild")

    async def _reconcile_and_close_lost(self) -> None:
        """The queue log first (a call that ended while we were away gets its real end),
        then the records whose channel Asterisk no longer has: lost with a dead Asterisk."""
        login = self._now()
        try:
            await self.reconcile.run()
        except Exception:
            log.exception("reconciling at AMI login")
        self.reconcile.trigger()  # and its follow-ups while calls stay open
        try:
            live = await live_channel_ids(self.ami)
        except AmiError as exc:
            log.warning("could not list Asterisk's channels: %s", exc)
            return
        lost = await close_lost_calls(
            self.sessions,
            self.settings.node_id,
            live,
            started_before=login - LOST_GRACE,
            now=self._now(),
        )
        if lost:
            log.warning("%d calls were lost with Asterisk (no channel left): outcome lost", lost)

    async def _rebuild_agents(self) -> None:
        try:
            changes = await self.agents.rebuild()
            log.info("agent states rebuilt from Asterisk: %d changed", len(changes))
        except AmiError as exc:
            log.warning("could not rebuild agent states: %s", exc)

    async def _dispatch_ami(self) -> None:
        """The one consumer of AMI events, in wire order: queue members to the agent board,
        everything else to the call tracker."""
        while True:
            event = await self.ami_events.get()
            try:
                if isinstance(event, QueueMemberEvent):
                    self.agents.on_member_event(event)
                else:
                    await self.tracker.handle(event)
            except Exception:
                log.exception("AMI event %s failed", type(event).__name__)
            finally:
                self.ami_events.task_done()

    def _wire(self) -> None:
        b, t = self.bus, self.tickets
        b.subscribe(Event, t.on_call_event, name="tickets.call_events")
        b.subscribe(CentreJoined, self.transfers.on_centre_joined, name="transfers.joined")
        b.subscribe(ScreenPop, self.hub.on_screen_pop, name="ws.screen_pop", fanout=True)
        b.subscribe(CallEnded, self.transcription.on_call_ended, name="transcription.enqueue")
        b.subscribe(ChannelHungUp, self.callbacks.on_hangup, name="callbacks.hangup_causes")
        b.subscribe(AgentConnected, self.live.on_agent_connected, name="live.tap")
        b.subscribe(ChannelHungUp, self.live.on_hangup, name="live.agent_left")
        b.subscribe(Event, self.agents.on_call_event, name="agents.calls")
        b.subscribe(Event, self.wallboard.on_event, name="wallboard.queue_entries")
        b.subscribe(Event, self.bigscreen.on_event, name="bigscreen.today", fanout=True)

    async def start(self) -> None:
        self._wire()
        await self.bus.start()
        try:
            await self.departments.load_if_empty(self.settings.catalogue_file)
        except CaseworkError as exc:
            raise SettingsError(f"casework.catalogue: {exc}") from exc
        # jieba's dictionary takes a second or more to load: not on the first search.
        self._kb_warm_up = asyncio.create_task(asyncio.to_thread(knowledge.warm_up))
        await self.transcription.start()
        await self.live.start()
        await self.agents.start()
        await self.wallboard.start()
        await self.bigscreen.start()
        await self.agi.start()
        self._tracker_task = asyncio.create_task(self._dispatch_ami(), name="cti.dispatch")
        self._connect_task = asyncio.create_task(self._connect_ami(), name="cti.ami-connect")
        # Every node watches its own disk and media ports (not a leader's job: they are the
        # node's own).
        self._watch(
            lambda: asyncio.to_thread(self.recording_space.check),
            self.settings.recordings.check_seconds,
            "recordings.space",
        )
        self._watch(self._count_media, MEDIA_CHECK_SECONDS, "media.ports")
        await self.callbacks.start()
        self._every(self._sweep, self.settings.casework.sweep_seconds, "caseloop.sweep")
        await self.reports.start()
        self._schedule_reports()
        self._every(self._push_back, self.settings.intake.outbox_tick_seconds, "intake.outbox")
        if self.settings.surges.enabled:
            self._every(self._surge_scan, self.settings.surges.scan_seconds, "surges.scan")
        self.scheduler.start(paused=True)
        await self.leader.start()
        self.reconcile.trigger()
        log.info("hotline node %s started", self.settings.node_id)

    def _schedule_reports(self) -> None:
        """日报 at 00:30 for yesterday, 周报 Mondays 01:00, 月报 on the 1st at 02:00, 季报 on
        the first of a quarter at 03:00 (the node's zone), each as ``[reports]`` allows. A
        job that fires twice for a period stores one report (``ReportService.scheduled``)."""
        cfg = self.settings.reports
        times: dict[ReportKind, dict[str, Any]] = {
            ReportKind.DAILY: {"hour": 0, "minute": 30},
            ReportKind.WEEKLY: {"day_of_week": "mon", "hour": 1, "minute": 0},
            ReportKind.MONTHLY: {"day": 1, "hour": 2, "minute": 0},
            ReportKind.QUARTERLY: {"month": "1,4,7,10", "day": 1, "hour": 3, "minute": 0},
        }
        for kind, when in times.items():
            if not getattr(cfg, kind.value):
                continue
            self.scheduler.add_job(
                self._scheduled_report,
                "cron",
                args=[kind],
                id=f"reports.{kind.value}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,
                **when,
            )

    async def _scheduled_report(self, kind: ReportKind) -> None:
        try:
            await self.reports.scheduled(kind)
        except Exception:
            log.exception("scheduled %s report", kind.value)

    def _every(self, job: Callable[[], Awaitable[None]], seconds: float, job_id: str) -> None:
        """A periodic job on the node's one scheduler; a run still going skips the next."""
        self.scheduler.add_job(
            job, "interval", seconds=seconds, id=job_id, max_instances=1, coalesce=True
        )

    async def _sweep(self) -> None:
        try:
            await self.caseloop.sweep()
        except CalendarGapError as exc:
            log.error("case sweep: %s", exc)

    async def _push_back(self) -> None:
        try:
            await self.outbox.tick()
        except Exception:
            log.exception("push-back outbox")

    async def _surge_scan(self) -> None:
        try:
            await self.surges.scan()
        except Exception:
            log.exception("surge scan")

    def _watch(self, check: Callable[[], Awaitable[object]], seconds: float, name: str) -> None:
        """A check of this node's own resources, every ``seconds`` until stop."""

        async def loop() -> None:
            while True:
                await check()
                await asyncio.sleep(seconds)

        self._watches.append(asyncio.create_task(loop(), name=name))

    async def _count_media(self) -> None:
        self.media_ports.update(self.tracker.media_channels)

    async def _connect_ami(self) -> None:
        """First login, retried until Asterisk answers; afterwards the connection itself
        reconnects. The app serves (and FastAGI opens tickets) while AMI is down."""
        delay = 0.5
        while True:
            try:
                await self.ami.connect()
                return
            except AmiLoginError as exc:
                log.error("AMI login refused, check ami.secret: %s", exc)
            except AmiUnavailable as exc:
                log.warning("AMI not reachable yet: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.ami.reconnect_max_delay)

    def _follow(self) -> None:
        if self.scheduler.running:
            self.scheduler.pause()

    async def stop(self) -> None:
        await self.leader.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.callbacks.stop()
        await self.reports.stop()
        await self.reconcile.stop()
        tasks = (self._connect_task, self._rebuild_task, self._tracker_task, self._lost_task)
        for task in (*tasks, *self._watches):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.ami.close()
        await self.agi.stop()
        await self.live.stop()
        await self.agents.stop()
        await self.wallboard.stop()
        await self.bigscreen.stop()
        await self.transcription.stop()
        if self._kb_warm_up is not None:  # a thread: it cannot be cancelled, only awaited
            await self._kb_warm_up
        await self.bus.stop()
        await self.engine.dispose()
        log.info("hotline node %s stopped", self.settings.node_id)

    async def move_ticket(
        self,
        ticket_id: int,
        to: TicketState,
        reason: str | None,
        department: str | None,
        *,
        who: Principal,
    ) -> Ticket:
        """A workflow step; a reply or direct answer is owed a satisfaction callback.
        The case loop's steps (dispatch, accept, dispute, reply) go through it, so their
        deadlines, scoping and review rules hold here too."""
        loop = self.caseloop
        S = TicketState
        if who.role is Role.DEPARTMENT:
            await loop.check_visible(ticket_id, who)
        if to is S.DISPATCHED:
            await loop.dispatch(ticket_id, who, mode="direct", lead=department, note=reason)
        elif to is S.ACCEPTED:
            await loop.accept(ticket_id, who, reason)
        elif to is S.DISPUTED:
            await loop.file_dispute(ticket_id, who, reason or "")
        elif to is S.REPLIED:
            await loop.reply(ticket_id, who, reason or "", then=self.callbacks.schedule_for)
        else:
            then = self.callbacks.schedule_for if to in CALLBACK_DUE_STATES else None
            if to is S.REOPENED:
                then = loop.on_reopened
            await self.tickets.request_transition(
                ticket_id, to, actor=who.actor, reason=reason, then=then
            )
        found = await self.tickets.get_ticket(ticket_id)
        assert found is not None
        return found

    async def answer_directly(
        self, ticket_id: int, article_id: int, version: int, who: Principal
    ) -> Ticket:
        """答复并办结: the ticket is answered directly (直接答复) citing the knowledge-base
        article and the version the agent read; the citation, the article's use count and the
        satisfaction callback the answer is owed commit with the move, or none of them."""

        async def cite_and_schedule(session: AsyncSession, ticket: Ticket) -> None:
            await self.knowledge.cite(session, ticket, article_id, version, who.actor)
            await self.callbacks.schedule_for(session, ticket)

        return await self.tickets.request_transition(
            ticket_id,
            TicketState.ANSWERED,
            actor=who.actor,
            reason=f"直接答复：知识库文章 #{article_id} 第{version}版",
            then=cite_and_schedule,
        )

    async def health(self) -> dict[str, Any]:
        """For monitoring: "ok" while the app can serve; AMI down is reported, not fatal."""
        db = await self._db_ok()
        return {
            "status": "ok" if db else "degraded",
            "node_id": self.settings.node_id,
            "database": db,
            "ami_connected": self.ami_connected,
            "fastagi": dataclasses.asdict(self.agi.stats),
            "reconcile": dataclasses.asdict(last) if (last := self.reconcile.last) else None,
            "calendar": {"missing_years": self._calendar_gaps()},
            "recordings": dataclasses.asdict(space)
            if (space := self.recording_space.last)
            else None,
            "media_ports": dataclasses.asdict(media) if (media := self.media_ports.last) else None,
            "bus": dataclasses.asdict(self.bus.stats()),
        }

    def _calendar_gaps(self) -> list[int]:
        """Years within ``calendar_warn_days`` without working-day data (add them in time)."""
        calendar = self.caseloop.clock.calendar
        today = calendar.local(self._now()).date()
        return calendar.missing_years(today, self.settings.casework.calendar_warn_days)

    async def _db_ok(self) -> bool:
        try:
            async with asyncio.timeout(2), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            log.exception("database check failed")
            return False
