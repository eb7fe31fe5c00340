"""Reports (日报, 周报, 月报, 季报, 专报): a period's figures as one typed structure, built in the
background, stored, and listed.

Call flow: ``request`` (a supervisor, or the schedule through ``scheduled``) stores a queued
row and starts a task; the task builds :class:`ReportData` section by section — volumes by
channel and category with the previous period's (a few aggregate queries here), the KPIs
(``app.kpis``), the department ranking (排名通报, from the KPIs by department), hotspots,
surge alerts and the unsatisfied tickets — writing ``progress`` after each, then stores the
data as JSON and marks the row done (or failed, with the error). A 专报 is the same over a
chosen run of days, restricted to one category (its topic).

Volumes count the intake: tickets first registered (受理) in the period, merged duplicates
left out — the cohort the KPIs use (办结率, 直接答复率).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import zoneinfo
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from app.departments.service import DepartmentService
from app.kpis.service import KpiService, Scope
from app.models import Callback, StoredReport, Ticket, TicketTransition
from casework import Catalogue
from casework.lifecycle import TicketState
from core.events import utcnow
from kpis import Dimension, Period, PeriodKind, Rate, custom, period_of

log = logging.getLogger(__name__)
S = TicketState

UNSATISFIED = 3  # callbacks.policy.Rating.UNSATISFIED (不满意)
TOP = 10  # rows in each hotspot list
MAX_UNSATISFIED = 1000  # rows listed; the total is always given
NO_SURGES = "本期无突增预警"


class ReportKind(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SPECIAL = "special"  # 专报: a category over a chosen run of days


KIND_NAMES = {
    ReportKind.DAILY: "日报",
    ReportKind.WEEKLY: "周报",
    ReportKind.MONTHLY: "月报",
    ReportKind.QUARTERLY: "季报",
    ReportKind.SPECIAL: "专报",
}
_PERIOD_KINDS = {
    ReportKind.DAILY: PeriodKind.DAY,
    ReportKind.WEEKLY: PeriodKind.WEEK,
    ReportKind.MONTHLY: PeriodKind.MONTH,
    ReportKind.QUARTERLY: PeriodKind.QUARTER,
}
# The KPIs a report shows, in this order (the registry has them all; these are the ones a
# 12345 centre's reports lead with).
REPORT_KPIS = (
    "answer_rate",
    "service_level",
    "abandon_rate",
    "avg_wait",
    "direct_answer_rate",
    "completion_rate",
    "repeat_caller_rate",
    "response_rate",
    "on_time_rate",
    "dispute_rate",
    "forced_rate",
    "satisfaction_rate",
    "resolution_rate",
    "reopen_rate",
)
# The rates the department ranking averages into its score (each 0..1, higher is better).
RANK_RATES = ("response_rate", "on_time_rate", "satisfaction_rate", "resolution_rate")
_CHANNELS = {"web": "网站", "wechat": "微信", "app": "APP", "email": "邮件", "110": "110 转来"}


class ReportError(ValueError):
    """A report that cannot be made as asked (the message says why)."""


class ReportNotFound(LookupError):
    pass


# --- the report's data ---------------------------------------------------------------------


class PeriodInfo(BaseModel):
    kind: str
    label: str
    first: date
    last: date
    previous_first: date
    previous_last: date


class Volume(BaseModel):
    key: str
    name: str
    count: int
    previous: int
    change: float | None  # (count − previous) / previous; None when previous is 0


class DayCount(BaseModel):
    day: date
    count: int


class KpiLine(BaseModel):
    code: str
    name: str
    unit: str  # ratio | seconds
    value: float | None
    numerator: float
    denominator: float
    previous: float | None
    target: float | None
    meets_target: bool | None


class RankRow(BaseModel):
    rank: int
    code: str
    name: str
    kind: str
    dispatched: int  # tickets dispatched to it (and those below it) in the period
    forced: int  # 指定派发: grab-pool tickets forced on it
    overdue: int  # reply deadlines in the period not met (超期)
    response_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    resolution_rate: float | None
    score: float | None  # mean of the rates it has, × 100


class AddressCount(BaseModel):
    address: str
    count: int


class StreetCount(BaseModel):
    code: str
    name: str
    district: str
    count: int


class Rising(BaseModel):
    category: str
    this_week: int
    last_week: int
    change: int
    ratio: float | None


class Hotspots(BaseModel):
    categories: list[Volume]
    addresses: list[AddressCount]
    streets: list[StreetCount]
    rising: list[Rising]  # the last 7 days of the period against the 7 before
    rising_from: date
    topic_candidate: str | None  # 每月一题: the category that rose most


class Surge(BaseModel):
    at: datetime
    category: str
    count: int
    expected: float
    note: str = ""


class Unsatisfied(BaseModel):
    ticket_id: int
    category: str
    department: str
    address: str
    summary: str
    state: str
    finished_at: datetime
    service_rating: int | None
    outcome_rating: int | None


class Totals(BaseModel):
    tickets: int
    previous: int
    change: float | None


class ReportData(BaseModel):
    title: str
    kind: str
    topic: str | None
    period: PeriodInfo
    generated_at: datetime
    totals: Totals
    by_channel: list[Volume]
    by_category: list[Volume]
    daily: list[DayCount]
    hourly: list[int]  # a 日报's intake per hour (0–23 local); empty for longer periods
    kpis: list[KpiLine]
    ranking: list[RankRow]
    ranking_note: str
    hotspots: Hotspots
    surges: list[Surge]
    surges_note: str
    unsatisfied: list[Unsatisfied]
    unsatisfied_total: int


SurgeSource = Callable[[datetime, datetime, str | None], Awaitable[list[Surge]]]


# --- helpers -----------------------------------------------------------------------------------


def change(count: float, previous: float) -> float | None:
    return None if previous == 0 else round((count - previous) / previous, 4)


def channel_name(source: str) -> str:
    if source.startswith("phone:"):
        return f"电话 {source.removeprefix('phone:')}"
    return _CHANNELS.get(source, source)


def report_period(
    kind: ReportKind, day: date | None, first: date | None, last: date | None
) -> Period:
    if kind is ReportKind.SPECIAL:
        if first is None or last is None:
            raise ReportError("a 专报 (special) needs from and to")
        return custom(first, last)
    if day is None:
        raise ReportError(f"a {kind.value} report needs a date")
    return period_of(_PERIOD_KINDS[kind], day)


def title_of(kind: ReportKind, period: Period, topic: str | None) -> str:
    name = KIND_NAMES[kind]
    span = (
        period.first.isoformat()
        if period.days == 1
        else f"{period.first.isoformat()} 至 {period.last.isoformat()}"
    )
    topic_part = f"「{topic}」" if topic else ""
    return f"12345 热线{topic_part}{name}（{span}）"


def _in(col: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(col >= start, col < end)


def _value(rate: Rate) -> float | None:
    return rate.rounded(4)


# --- the service -------------------------------------------------------------------------------


class ReportService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kpis: KpiService,
        departments: DepartmentService,
        tz: zoneinfo.ZoneInfo,
        clock: Callable[[], datetime] = utcnow,
        surges: SurgeSource | None = None,
    ) -> None:
        self._sessions = sessions
        self._kpis = kpis
        self._departments = departments
        self._tz = tz
        self._clock = clock
        # There is no surge detector yet: with none, the section says 本期无突增预警.
        self._surges = surges
        self._tasks: set[asyncio.Task[None]] = set()

    # --- stored reports --------------------------------------------------------------------

    async def request(
        self,
        kind: ReportKind,
        period: Period,
        topic: str | None,
        *,
        actor: str,
        dedup_key: str | None = None,
    ) -> StoredReport:
        """Store a queued report and build it in the background; with ``dedup_key``, the one
        already stored under that key instead (a scheduled report is made once)."""
        if kind is ReportKind.SPECIAL and not topic:
            raise ReportError("a 专报 (special) needs a category")
        if dedup_key is not None and (found := await self._by_key(dedup_key)) is not None:
            return found
        row = StoredReport(
            kind=kind.value,
            period_first=period.first,
            period_last=period.last,
            topic=topic or None,
            status="queued",
            progress=0,
            created_by=actor,
            created_at=self._clock(),
            dedup_key=dedup_key,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            found = await self._by_key(dedup_key) if dedup_key else None
            if found is None:
                raise
            return found
        self._start(row.id)
        return row

    async def scheduled(self, kind: ReportKind) -> StoredReport:
        """The schedule's report of ``kind`` for the last complete period (yesterday, last
        week, month or quarter); a second run for the same period returns the first."""
        today = self._clock().astimezone(self._tz).date()
        period = period_of(_PERIOD_KINDS[kind], today).previous()
        key = f"schedule:{kind.value}:{period.label}"
        return await self.request(kind, period, None, actor="schedule", dedup_key=key)

    async def _by_key(self, key: str) -> StoredReport | None:
        async with self._sessions() as session:
            return (
                await session.scalars(select(StoredReport).where(StoredReport.dedup_key == key))
            ).first()

    async def get(self, report_id: int) -> StoredReport:
        async with self._sessions() as session:
            row = await session.get(StoredReport, report_id)
        if row is None:
            raise ReportNotFound(f"report {report_id} does not exist")
        return row

    async def recent(self, limit: int = 100) -> Sequence[StoredReport]:
        stmt = (
            select(StoredReport)
            .order_by(StoredReport.created_at.desc(), StoredReport.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return (await session.scalars(stmt)).all()

    async def start(self) -> None:
        """Reports a stopped node left queued or running are built again."""
        async with self._sessions() as session:
            ids = (
                await session.scalars(
                    select(StoredReport.id).where(StoredReport.status.in_(("queued", "running")))
                )
            ).all()
        for report_id in ids:
            self._start(report_id)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until every report being built is stored (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, report_id: int) -> None:
        task = asyncio.create_task(self._run(report_id), name=f"report:{report_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, report_id: int) -> None:
        row = await self.get(report_id)
        kind = ReportKind(row.kind)
        if kind is ReportKind.SPECIAL:
            period = custom(row.period_first, row.period_last)
        else:
            period = period_of(_PERIOD_KINDS[kind], row.period_first)
        await self._update(report_id, status="running", progress=1)
        try:

            async def progress(percent: int) -> None:
                await self._update(report_id, progress=percent)

            data = await self.build(kind, period, row.topic, progress)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("report %d failed", report_id)
            await self._update(
                report_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=self._clock(),
            )  # fmt: skip
            return
        await self._update(
            report_id,
            status="done",
            progress=100,
            data=data.model_dump(mode="json"),
            finished_at=self._clock(),
        )

    async def _update(self, report_id: int, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(StoredReport).where(StoredReport.id == report_id).values(**values)
            )

    # --- building --------------------------------------------------------------------------

    async def build(
        self,
        kind: ReportKind,
        period: Period,
        topic: str | None = None,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> ReportData:
        """The report's figures, section by section (``progress`` after each)."""

        async def step(percent: int) -> None:
            if progress is not None:
                await progress(percent)

        previous = period.previous()
        start, end = period.bounds(self._tz)
        catalogue = await self._departments.catalogue()

        by_category = await self._volumes(Ticket.category, period, topic)
        by_channel = await self._volumes(Ticket.source, period, topic)
        for v in by_channel:
            v.name = channel_name(v.key)
        daily = await self._daily(period, topic)
        hourly = await self._hourly(period, topic)
        total = sum(d.count for d in daily)
        before = await self._count(previous, topic)
        await step(20)

        kpis = await self._kpi_lines(period, topic)
        await step(40)
        ranking = await self._ranking(period, topic, catalogue)
        await step(60)
        hotspots = await self._hotspots(period, topic, by_category, catalogue)
        await step(75)
        surges = await self._surges(start, end, topic) if self._surges else []
        unsatisfied, unsatisfied_total = await self._unsatisfied(start, end, topic, catalogue)
        await step(95)
        return ReportData(
            title=title_of(kind, period, topic),
            kind=kind.value,
            topic=topic,
            period=PeriodInfo(
                kind=period.kind.value,
                label=period.label,
                first=period.first,
                last=period.last,
                previous_first=previous.first,
                previous_last=previous.last,
            ),
            generated_at=self._clock(),
            totals=Totals(tickets=total, previous=before, change=change(total, before)),
            by_channel=by_channel,
            by_category=by_category,
            daily=daily,
            hourly=hourly,
            kpis=kpis,
            ranking=ranking,
            ranking_note=(
                "按综合得分排序：响应率、按时办结率、满意率、解决率的平均值（×100），"
                "同分时超期少者在前；单位为区县、委办局与二级平台（含下属单位）"
            ),
            hotspots=hotspots,
            surges=surges,
            surges_note="" if surges else NO_SURGES,
            unsatisfied=unsatisfied,
            unsatisfied_total=unsatisfied_total,
        )

    # --- volumes ---------------------------------------------------------------------------

    def _intake(
        self, period: Period, topic: str | None, *columns: Any, reg: Any = None
    ) -> Select[Any]:
        """The intake of ``period``: tickets first registered in it, merged ones left out
        (``reg``: the registration row's alias, when a column reads it)."""
        start, end = period.bounds(self._tz)
        reg = reg if reg is not None else aliased(TicketTransition)
        stmt = (
            select(*columns)
            .select_from(Ticket)
            .join(reg, reg.ticket_id == Ticket.id)
            .where(
                reg.to_state == S.REGISTERED,
                or_(reg.from_state.is_(None), reg.from_state == S.DRAFT),
                _in(reg.at, start, end),
                Ticket.state != S.MERGED,
            )
        )
        if topic:
            stmt = stmt.where(Ticket.category == topic)
        return stmt

    async def _grouped(self, column: Any, period: Period, topic: str | None) -> Counter[str]:
        stmt = self._intake(period, topic, column, func.count()).group_by(column)
        out: Counter[str] = Counter()
        async with self._sessions() as session:
            for key, count in await session.execute(stmt):
                out[key or "（未分类）"] += int(count)
        return out

    async def _volumes(self, column: Any, period: Period, topic: str | None) -> list[Volume]:
        now = await self._grouped(column, period, topic)
        before = await self._grouped(column, period.previous(), topic)
        keys = sorted({*now, *before}, key=lambda k: (-now[k], -before[k], k))
        return [
            Volume(
                key=k, name=k, count=now[k], previous=before[k], change=change(now[k], before[k])
            )
            for k in keys
        ]

    async def _count(self, period: Period, topic: str | None) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(self._intake(period, topic, func.count())) or 0)

    async def _daily(self, period: Period, topic: str | None) -> list[DayCount]:
        """The intake per local day."""
        days = [period.first + timedelta(days=i) for i in range(period.days)]
        ends = [custom(d, d).bounds(self._tz)[1] for d in days]
        counts = await self._buckets(period, topic, ends)
        return [DayCount(day=d, count=n) for d, n in zip(days, counts, strict=True)]

    async def _hourly(self, period: Period, topic: str | None) -> list[int]:
        """The intake per local hour of a one-day period (a 日报's trend); else nothing."""
        if period.days != 1:
            return []
        start, _ = period.bounds(self._tz)
        return await self._buckets(
            period, topic, [start + timedelta(hours=h + 1) for h in range(24)]
        )

    async def _buckets(self, period: Period, topic: str | None, ends: list[datetime]) -> list[int]:
        """The intake counted per bucket ``[ends[i-1], ends[i])``: each registration put in
        its bucket by comparing with the UTC bounds (no database date functions), one query.
        A day with a clock change has 23 or 25 hours; the hours are counted in UTC steps."""
        reg = aliased(TicketTransition)
        whens = [(reg.at < end, i) for i, end in enumerate(ends[:-1])]
        index = (case(*whens, else_=len(ends) - 1) if whens else literal(0)).label("bucket")
        sub = self._intake(period, topic, index, reg=reg).subquery()
        counts = [0] * len(ends)
        async with self._sessions() as session:
            stmt = select(sub.c.bucket, func.count()).group_by(sub.c.bucket)
            for i, n in await session.execute(stmt):
                counts[int(i)] += int(n)
        return counts

    # --- KPIs and the ranking --------------------------------------------------------------

    async def _kpi_lines(self, period: Period, topic: str | None) -> list[KpiLine]:
        scope = Scope(category=topic) if topic else Scope()
        report = await self._kpis.report(period, Dimension.NONE, scope)
        row = report.rows[0]
        settings = report.settings
        targets = {
            "answer_rate": settings.answer_rate_target,
            "service_level": settings.service_level_target,
        }
        lines = []
        known = {k.code: k for k in report.kpis}
        for code in REPORT_KPIS:
            if code not in known:
                continue
            kpi = known[code]
            rate = row.kpis[code]
            target = targets.get(code, kpi.target)
            lines.append(
                KpiLine(
                    code=code,
                    name=kpi.name_zh,
                    unit=kpi.unit.value,
                    value=_value(rate),
                    numerator=rate.numerator,
                    denominator=rate.denominator,
                    previous=_value(row.previous[code]),
                    target=target,
                    meets_target=rate.meets(target, higher_is_better=kpi.higher_is_better),
                )
            )
        return lines

    async def _ranking(
        self, period: Period, topic: str | None, catalogue: Catalogue
    ) -> list[RankRow]:
        """排名通报: the top-level units (districts, city bureaus, platforms), each with the
        departments below it, by score; forced assignments and overdue replies beside it."""
        scope = Scope(category=topic) if topic else Scope()
        report = await self._kpis.report(period, Dimension.DEPARTMENT, scope)
        rows = []
        for row in report.rows:
            if row.key is None or row.key not in catalogue.departments:
                continue
            dept = catalogue.departments[row.key]
            if dept.parent is not None:
                continue
            k = row.kpis
            rates = {code: _value(k[code]) for code in RANK_RATES}
            present = [v for v in rates.values() if v is not None]
            score = round(100 * sum(present) / len(present), 2) if present else None
            rows.append(
                RankRow(
                    rank=0,
                    code=dept.code,
                    name=dept.name,
                    kind=str(dept.kind),
                    dispatched=int(k["dispute_rate"].denominator),
                    forced=int(k["forced_rate"].numerator),
                    overdue=int(k["on_time_rate"].denominator - k["on_time_rate"].numerator),
                    score=score,
                    **rates,
                )
            )
        rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.overdue, r.code))
        for i, r in enumerate(rows, 1):
            r.rank = i
        return rows

    # --- hotspots --------------------------------------------------------------------------

    async def _hotspots(
        self, period: Period, topic: str | None, by_category: list[Volume], catalogue: Catalogue
    ) -> Hotspots:
        addresses = await self._grouped(func.trim(Ticket.address), period, topic)
        addresses.pop("（未分类）", None)
        addresses.pop("", None)
        departments = await self._grouped(func.coalesce(Ticket.department, ""), period, topic)
        streets: Counter[str] = Counter()
        for code, n in departments.items():
            street = _street_of(code, catalogue)
            if street is not None:
                streets[street] += n
        week_end = period.end
        week = custom(week_end - timedelta(days=7), week_end - timedelta(days=1))
        this_week = await self._grouped(Ticket.category, week, topic)
        last_week = await self._grouped(Ticket.category, week.previous(), topic)
        rising = [
            Rising(
                category=c,
                this_week=this_week[c],
                last_week=last_week[c],
                change=this_week[c] - last_week[c],
                ratio=change(this_week[c], last_week[c]),
            )
            for c in this_week
            if this_week[c] > last_week[c]
        ]
        rising.sort(key=lambda r: (-r.change, -r.this_week, r.category))
        return Hotspots(
            categories=[v for v in by_category if v.count][:TOP],
            addresses=[
                AddressCount(address=a, count=n)
                for a, n in sorted(addresses.items(), key=lambda x: (-x[1], x[0]))[:TOP]
            ],
            streets=[
                StreetCount(
                    code=code,
                    name=catalogue.departments[code].name,
                    district=_district_name(code, catalogue),
                    count=n,
                )
                for code, n in sorted(streets.items(), key=lambda x: (-x[1], x[0]))[:TOP]
            ],
            rising=rising[:TOP],
            rising_from=week.first,
            topic_candidate=rising[0].category if rising else None,
        )

    # --- unsatisfied tickets -----------------------------------------------------------------

    async def _unsatisfied(
        self, start: datetime, end: datetime, topic: str | None, catalogue: Catalogue
    ) -> tuple[list[Unsatisfied], int]:
        """不满意工单: callbacks finished in the period with 不满意 on either question."""
        c, t = Callback, Ticket
        cond = [
            _in(c.finished_at, start, end),
            or_(c.service_rating == UNSATISFIED, c.outcome_rating == UNSATISFIED),
        ]
        if topic:
            cond.append(t.category == topic)
        base = select(c, t).join(t, t.id == c.ticket_id).where(*cond)
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(c).join(t, t.id == c.ticket_id).where(*cond)
            )
            found = await session.execute(base.order_by(c.finished_at, c.id).limit(MAX_UNSATISFIED))
            rows = [
                Unsatisfied(
                    ticket_id=ticket.id,
                    category=ticket.category or "",
                    department=_dept_name(ticket.department, catalogue),
                    address=ticket.address or "",
                    summary=ticket.summary or "",
                    state=ticket.state.value,
                    finished_at=callback.finished_at,
                    service_rating=callback.service_rating,
                    outcome_rating=callback.outcome_rating,
                )
                for callback, ticket in found
            ]
        return rows, int(total or 0)


def _dept_name(code: str | None, catalogue: Catalogue) -> str:
    if code is None:
        return ""
    found = catalogue.departments.get(code)
    return found.name if found else code


def _street_of(code: str, catalogue: Catalogue) -> str | None:
    """The street (街道) or town (乡镇) a department is, or lies in; None for others."""
    if code not in catalogue.departments:
        return None
    for dept in (catalogue.departments[code], *catalogue.ancestors(code)):
        if str(dept.kind) in ("street", "town"):
            return dept.code
    return None


def _district_name(code: str, catalogue: Catalogue) -> str:
    district = catalogue.district_of(code)
    return _dept_name(district, catalogue) if district else ""
