"""Surge alerts (突增预警): the node's scheduler runs :meth:`SurgeService.scan`; it stores what
``casework.surge.detect`` finds and tells the bus.

Call flow: every ``[surges] scan_seconds`` the runtime's one scheduler calls ``scan()`` (and a
supervisor may ask for one: ``POST /api/surges/scan``). A pass reads today's and yesterday's
registered tickets (not drafts, not merged duplicates: a surge counts matters, not calls);
only if some category has ``min_count`` tickets in one place or district does it read that
category's history (``history_days`` before), so a quiet day costs one small query. Each
finding is one row of ``surge_alerts`` keyed by (category, area, window): a new key is
inserted with its tickets and published as ``core.events.SurgeAlert`` after the commit (the
big screen lists it); a higher count on a known key updates the row and adds its tickets
without publishing again. Supervisors list, open and acknowledge (已知悉) alerts
(``app.surges.http``); the reports list the period's alerts through :meth:`for_report`.
"""

from __future__ import annotations

import asyncio
import logging
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import ColumnElement

from app.cases.service import as_utc
from app.departments.service import DepartmentService
from app.kpis.sql import instant
from app.models import SurgeAlertRow, SurgeAlertTicket, Ticket
from app.reports.service import Surge
from casework.lifecycle import TicketState
from casework.surge import AreaKind, SurgeFinding, TicketPoint, WindowKind, busy_categories, detect
from core.events import Event, SurgeAlert, utcnow
from core.surges import SurgeSettings

log = logging.getLogger(__name__)

NOT_COUNTED = (TicketState.DRAFT, TicketState.MERGED)
WINDOW_MINUTES = {WindowKind.HOUR: 60, WindowKind.DAY: 24 * 60}


class SurgeNotFound(LookupError):
    pass


class SurgeService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publish: Callable[[Event], None],
        cfg: SurgeSettings,
        tz: zoneinfo.ZoneInfo,
        departments: DepartmentService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._publish = publish
        self._cfg = cfg
        self._tz = tz
        self._departments = departments
        self._clock = clock
        # The scheduler and a supervisor's "scan now" must not interleave their upserts.
        self._lock = asyncio.Lock()

    # --- the pass ------------------------------------------------------------------------

    async def scan(self) -> list[SurgeAlertRow]:
        """One detector pass: the alerts created or raised by it."""
        async with self._lock:
            now = self._clock()
            yesterday = now.astimezone(self._tz).date() - timedelta(days=1)
            recent_from = datetime.combine(yesterday, time(), self._tz).astimezone(UTC)
            recent = await self._points(recent_from, now, None)
            categories = busy_categories(recent, self._tz, self._cfg)
            if not categories:
                return []
            history_from = recent_from - timedelta(days=self._cfg.history_days)
            history = await self._points(history_from, recent_from, categories)
            findings = detect([*history, *recent], now, self._tz, self._cfg)
            if not findings:
                return []
            districts = {p.id: p.district for p in recent}
            return await self._store(findings, districts, now)

    async def _points(
        self, start: datetime, end: datetime, categories: set[str] | None
    ) -> list[TicketPoint]:
        t = Ticket
        query = select(t.id, t.category, t.created_at, t.district, t.address).where(
            t.created_at >= instant(start),
            t.created_at <= instant(end),
            t.category.is_not(None),
            t.state.not_in(NOT_COUNTED),
        )
        if categories is not None:
            query = query.where(t.category.in_(sorted(categories)))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            TicketPoint(i, category, as_utc(created), district, address)
            for i, category, created, district, address in rows
            if category  # the query keeps only categorised tickets; this tells mypy
        ]

    async def _store(
        self, findings: Sequence[SurgeFinding], districts: dict[int, str | None], now: datetime
    ) -> list[SurgeAlertRow]:
        catalogue = await self._departments.catalogue()
        changed: list[SurgeAlertRow] = []
        events: list[SurgeAlert] = []
        async with self._sessions.begin() as session:
            for f in findings:
                area_name = None
                if f.area_kind is AreaKind.DISTRICT and f.area in catalogue.departments:
                    area_name = catalogue.departments[f.area].name
                row = await session.scalar(
                    select(SurgeAlertRow)
                    .where(*_key_filter(f))
                    .options(selectinload(SurgeAlertRow.tickets))
                )
                if row is not None:
                    if f.count <= row.count:
                        continue
                    _fill(row, f, area_name, now)
                    have = {link.ticket_id for link in row.tickets}
                    row.tickets.extend(
                        SurgeAlertTicket(ticket_id=i) for i in f.ticket_ids if i not in have
                    )
                    changed.append(row)
                    continue
                row = SurgeAlertRow(
                    category=f.category,
                    area_kind=f.area_kind.value,
                    area=f.area,
                    window=f.window.value,
                    window_start=f.start.astimezone(UTC),
                    window_end=f.end.astimezone(UTC),
                    created_at=now,
                    tickets=[SurgeAlertTicket(ticket_id=i) for i in f.ticket_ids],
                )
                _fill(row, f, area_name, now)
                try:
                    # Another node sharing the database may have stored it first.
                    async with session.begin_nested():
                        session.add(row)
                except IntegrityError:
                    log.info("surge alert %s already stored by another node", f.key)
                    continue
                changed.append(row)
                district = f.area if f.area_kind is AreaKind.DISTRICT else None
                if district is None:
                    district = next((d for i in f.ticket_ids if (d := districts.get(i))), None)
                events.append(
                    SurgeAlert(
                        category=f.category,
                        count=f.count,
                        window_minutes=WINDOW_MINUTES[f.window],
                        baseline=round(f.expected, 2),
                        district=district,
                        message=row.message,
                        area=f.area,
                    )
                )
        for event in events:  # after the commit: the rows are there for whoever reacts
            self._publish(event)
            log.warning("surge alert: %s", event.message)
        return changed

    # --- reading and acknowledging ---------------------------------------------------------

    def today(self) -> date:
        return self._clock().astimezone(self._tz).date()

    async def alerts(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[SurgeAlertRow]:
        """Alerts whose window starts in [start, end), newest first, with their tickets."""
        a = SurgeAlertRow
        query = select(a).options(selectinload(a.tickets))
        if start is not None:
            query = query.where(a.window_start >= instant(start.astimezone(UTC)))
        if end is not None:
            query = query.where(a.window_start < instant(end.astimezone(UTC)))
        if open_only:
            query = query.where(a.acknowledged_at.is_(None))
        query = query.order_by(a.window_start.desc(), a.id.desc()).limit(limit)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def tickets_of(self, alert_id: int) -> tuple[SurgeAlertRow, list[Ticket]]:
        async with self._sessions() as session:
            row = await session.scalar(
                select(SurgeAlertRow)
                .where(SurgeAlertRow.id == alert_id)
                .options(selectinload(SurgeAlertRow.tickets))
            )
            if row is None:
                raise SurgeNotFound(f"no surge alert {alert_id}")
            ids = [link.ticket_id for link in row.tickets]
            tickets = (
                await session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))
            ).all()
        return row, list(tickets)

    async def acknowledge(self, alert_id: int, actor: str) -> SurgeAlertRow:
        """已知悉: the first supervisor's acknowledgement stays; a second changes nothing."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(SurgeAlertRow)
                .where(SurgeAlertRow.id == alert_id)
                .options(selectinload(SurgeAlertRow.tickets))
                .with_for_update()
            )
            if row is None:
                raise SurgeNotFound(f"no surge alert {alert_id}")
            if row.acknowledged_at is None:
                row.acknowledged_at = self._clock()
                row.acknowledged_by = actor
        return row

    async def for_report(self, start: datetime, end: datetime, topic: str | None) -> list[Surge]:
        """The period's alerts for the reports (``ReportService``'s surge source), oldest
        first; a 专报 lists its topic's only."""
        rows = await self.alerts(start, end, limit=500)
        return [
            Surge(
                at=as_utc(r.window_start),
                category=r.category,
                count=r.count,
                expected=round(r.expected, 2),
                note=r.message,
            )
            for r in reversed(rows)
            if topic is None or r.category == topic
        ]


def _key_filter(f: SurgeFinding) -> list[ColumnElement[bool]]:
    a = SurgeAlertRow
    return [
        a.category == f.category,
        a.area_kind == f.area_kind.value,
        a.area == f.area,
        a.window == f.window.value,
        a.window_start == instant(f.start.astimezone(UTC)),
    ]


def _fill(row: SurgeAlertRow, f: SurgeFinding, area_name: str | None, now: datetime) -> None:
    row.count = f.count
    row.expected = f.expected
    row.p_value = f.p_value
    row.robust_z = f.robust_z
    row.message = f.message(area_name)[:300]
    row.updated_at = now
