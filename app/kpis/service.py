"""KPIs (考核指标) per period and per department, category, district, channel or agent, counted
by SQL aggregates; and the excluded periods (剔除时段) supervisors keep.

Call flow: a request names a period (``kpis.Period``) and a breakdown (``kpis.Dimension``).
One aggregate query per group of KPIs (queue entries, calls, missed calls, the intake cohort,
dispatches, deadlines, disputes, the grab pool, callbacks, agent states) returns additive
sums (counters) per key; the same runs for the previous period. A department's row adds up
its own and every department below it, and a district's the departments inside it, in
Python from the grouped rows (a few hundred at most). Each KPI is then a ``kpis.Rate`` of two
counters (``FORMULAS``). Who may see what is the caller's ``Scope``: everything, a department
subtree, or one agent.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from app.departments.service import DepartmentService
from app.kpis.sql import earlier, instant, later, seconds_between
from app.models import (
    AgentStateChange,
    Call,
    Callback,
    Dispute,
    GrabOffer,
    KpiExcludedPeriod,
    MissedCall,
    QueueEntry,
    Ticket,
)
from casework import Catalogue
from casework.lifecycle import TicketState
from core.events import utcnow
from core.kpis import KpiSettings
from kpis import KPIS, Dimension, ExclusionReason, Kpi, Period, Rate, Span, clipped

S = TicketState
D = Dimension
Counters = dict[str, float]
Rows = dict[str | None, Counters]

UNSATISFIED = 3  # callbacks.policy.Rating.UNSATISFIED: the answer that reopens a ticket

# Each KPI as (numerator counter, denominator counter); service_level's denominator is the
# setting's (answered or offered).
FORMULAS: dict[str, tuple[str, str]] = {
    "answer_rate": ("answered", "offered"),
    "answer_rate_adjusted": ("answered_kept", "offered_kept"),
    "service_level": ("answered_in_time", "answered"),
    "avg_wait": ("wait_seconds", "answered"),
    "avg_talk": ("talk_seconds", "talked"),
    "abandon_rate": ("abandoned", "offered"),
    "missed_callback_rate": ("missed_done", "missed_owed"),
    "missed_callback_time": ("missed_seconds", "missed_done"),
    "direct_answer_rate": ("direct", "intake"),
    "completion_rate": ("closed", "intake"),
    "repeat_caller_rate": ("repeat", "intake_caller"),
    "response_rate": ("responded", "dispatched_due"),
    "on_time_rate": ("on_time", "reply_due"),
    "dispute_rate": ("disputes", "dispatched"),
    "return_rate": ("returns", "dispatched"),
    "grab_rate": ("claimed", "grab_offers"),
    "forced_rate": ("forced", "grab_offers"),
    "satisfaction_rate": ("satisfied", "service_rated"),
    "resolution_rate": ("resolved", "outcome_rated"),
    "valid_callback_rate": ("valid", "owed"),
    "reopen_rate": ("unsatisfied", "outcome_rated"),
    "occupancy": ("busy_seconds", "staffed_seconds"),
}


class ExcludedPeriodNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Scope:
    """What a caller may see: everything (supervisor, admin), the tickets of a department
    subtree (department user), or one agent's own figures (agent)."""

    departments: frozenset[str] | None = None
    agent: str | None = None
    # One category's tickets only (a report's 专报): the ticket and callback KPIs.
    category: str | None = None

    @property
    def everything(self) -> bool:
        return self.departments is None and self.agent is None and self.category is None


EVERYTHING = Scope()


@dataclass
class Row:
    key: str | None
    name: str
    kpis: dict[str, Rate]
    previous: dict[str, Rate]
    state_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    period: Period
    previous: Period
    by: Dimension
    kpis: list[Kpi]
    rows: list[Row]
    excluded: list[KpiExcludedPeriod]
    settings: KpiSettings
    tz: zoneinfo.ZoneInfo


def _n(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((cond, 1), else_=0))


def _sum(cond: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((cond, value), else_=0))


def _in(col: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(col >= start, col < end)


def _number(value: Any) -> float:
    return round(float(value or 0), 3)


class KpiService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        departments: DepartmentService,
        settings: KpiSettings,
        tz: zoneinfo.ZoneInfo,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._departments = departments
        self._settings = settings
        self._tz = tz
        self._clock = clock

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return self._tz

    def today(self) -> date:
        """Today in the centre's zone: the default day of a report."""
        return self._clock().astimezone(self._tz).date()

    # --- excluded periods ------------------------------------------------------------------

    async def excluded(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[KpiExcludedPeriod]:
        stmt = select(KpiExcludedPeriod).order_by(KpiExcludedPeriod.starts_at)
        if start is not None:
            stmt = stmt.where(KpiExcludedPeriod.ends_at > start)
        if end is not None:
            stmt = stmt.where(KpiExcludedPeriod.starts_at < end)
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())

    async def add_excluded(
        self,
        starts_at: datetime,
        ends_at: datetime,
        reason: ExclusionReason,
        note: str,
        *,
        actor: str,
    ) -> KpiExcludedPeriod:
        span = Span(starts_at.astimezone(UTC), ends_at.astimezone(UTC))  # checks the order
        row = KpiExcludedPeriod(
            starts_at=span.start,
            ends_at=span.end,
            reason=reason.value,
            note=note,
            created_by=actor,
            created_at=self._clock(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return row

    async def delete_excluded(self, row_id: int) -> None:
        async with self._sessions.begin() as session:
            gone = await session.execute(
                delete(KpiExcludedPeriod).where(KpiExcludedPeriod.id == row_id)
            )
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise ExcludedPeriodNotFound(f"excluded period {row_id} does not exist")

    # --- the report --------------------------------------------------------------------------

    def applicable(self, by: Dimension, scope: Scope) -> list[Kpi]:
        """The KPIs a breakdown has (e.g. no 人工接通率 per agent) that the caller may see."""
        out = []
        for kpi in KPIS:
            if by not in kpi.dimensions:
                continue
            if (
                kpi.code == "service_level"
                and by is D.AGENT
                and self._settings.service_level_denominator == "offered"
            ):
                continue  # callers are offered to queues, not to agents
            if (scope.departments is not None or scope.category) and not _ticket_kpi(kpi):
                continue  # a department sees its tickets, not the centre's phones
            out.append(kpi)
        return out

    async def report(self, period: Period, by: Dimension, scope: Scope = EVERYTHING) -> Report:
        if scope.agent is not None:
            by = D.AGENT
        previous = period.previous()
        kpis = self.applicable(by, scope)
        start, _ = previous.bounds(self._tz)
        _, end = period.bounds(self._tz)
        excluded = await self.excluded(start, end)
        catalogue = await self._departments.catalogue()
        codes = {k.code for k in kpis}
        now = self._clock()
        current = await self._counters(period, by, scope, codes, excluded, now)
        before = await self._counters(previous, by, scope, codes, excluded, now)
        current, before = (self._roll_up(c, by, scope, catalogue) for c in (current, before))
        keys = list(dict.fromkeys([*current, *before]))
        if scope.agent is not None:
            keys = [scope.agent]
        rows = []
        for key in sorted(keys, key=lambda k: (k is None, k or "")):
            now_c, then_c = current.get(key, {}), before.get(key, {})
            if not any(now_c.values()) and not any(then_c.values()) and scope.agent is None:
                continue
            rows.append(
                Row(
                    key=key,
                    name=self._name(key, by, catalogue),
                    kpis={k.code: self._rate(k.code, now_c) for k in kpis},
                    previous={k.code: self._rate(k.code, then_c) for k in kpis},
                    state_seconds={
                        name[len("state:") :]: value
                        for name, value in now_c.items()
                        if name.startswith("state:")
                    },
                )
            )
        if by is D.NONE and not rows:
            rows.append(
                Row(
                    key="all",
                    name="all",
                    kpis={k.code: Rate.zero() for k in kpis},
                    previous={k.code: Rate.zero() for k in kpis},
                )
            )
        return Report(period, previous, by, kpis, rows, excluded, self._settings, self._tz)

    def _rate(self, code: str, counters: Mapping[str, float]) -> Rate:
        num, den = FORMULAS[code]
        if code == "service_level" and self._settings.service_level_denominator == "offered":
            den = "offered"
        return Rate(counters.get(num, 0), counters.get(den, 0))

    @staticmethod
    def _name(key: str | None, by: Dimension, catalogue: Catalogue) -> str:
        if key is None:
            return "(none)"
        if by in (D.DEPARTMENT, D.DISTRICT) and key in catalogue.departments:
            return catalogue.departments[key].name
        return key

    # --- roll-ups ------------------------------------------------------------------------------

    @staticmethod
    def _roll_up(rows: Rows, by: Dimension, scope: Scope, catalogue: Catalogue) -> Rows:
        """Grouped by the handling department: a department's figures with its children's
        (by=department), or those of the departments inside each district (by=district)."""
        if by is D.DISTRICT:
            out: Rows = defaultdict(lambda: defaultdict(float))
            for code, counters in rows.items():
                district = (
                    catalogue.district_of(code)
                    if code is not None and code in catalogue.departments
                    else None
                )
                _add(out[district], counters)
            return dict(out)
        if by is not D.DEPARTMENT:
            return rows
        rolled: Rows = {}
        for code, counters in rows.items():
            if code is None or code not in catalogue.departments:
                _add(rolled.setdefault(code, defaultdict(float)), counters)
                continue
            for up in (catalogue.departments[code], *catalogue.ancestors(code)):
                if scope.departments is not None and up.code not in scope.departments:
                    break  # a department user sees its own subtree, not the ones above
                _add(rolled.setdefault(up.code, defaultdict(float)), counters)
        return rolled

    # --- the queries ---------------------------------------------------------------------------

    async def _counters(
        self,
        period: Period,
        by: Dimension,
        scope: Scope,
        codes: set[str],
        excluded: Sequence[KpiExcludedPeriod],
        now: datetime,
    ) -> Rows:
        start, end = period.bounds(self._tz)
        spans = clipped((Span(_utc(e.starts_at), _utc(e.ends_at)) for e in excluded), start, end)
        wanted = {name for code in codes for name in FORMULAS[code]}
        groups: list[tuple[set[str], Callable[[], Select[Any]], Sequence[str]]] = [
            (
                {"offered", "answered", "abandoned"},
                lambda: self._queue(start, end, by, scope, spans),
                (
                    "offered",
                    "answered",
                    "abandoned",
                    "answered_in_time",
                    "wait_seconds",
                    "offered_kept",
                    "answered_kept",
                ),
            ),
            ({"talked"}, lambda: self._talk(start, end, by, scope), ("talked", "talk_seconds")),
            (
                {"missed_owed", "missed_done"},
                lambda: self._missed(start, end, by, scope),
                ("missed_owed", "missed_done", "missed_seconds"),
            ),
            (
                {"intake", "intake_caller"},
                lambda: self._intake(start, end, by, scope),
                ("intake", "direct", "closed", "intake_caller", "repeat"),
            ),
            (
                {"dispatched_due", "dispatched"},
                lambda: self._dispatched(start, end, by, scope, now),
                ("dispatched", "dispatched_due", "responded"),
            ),
            (
                {"reply_due"},
                lambda: self._due(start, end, by, scope, now),
                ("reply_due", "on_time"),
            ),
            (
                {"disputes", "returns"},
                lambda: self._disputes(start, end, by, scope),
                ("disputes", "returns"),
            ),
            (
                {"grab_offers"},
                lambda: self._grab(start, end, by, scope, now),
                ("grab_offers", "claimed", "forced"),
            ),
            (
                {"service_rated", "outcome_rated", "owed"},
                lambda: self._callbacks(start, end, by, scope),
                (
                    "service_rated",
                    "satisfied",
                    "outcome_rated",
                    "resolved",
                    "unsatisfied",
                    "owed",
                    "valid",
                ),
            ),
        ]
        out: Rows = defaultdict(lambda: defaultdict(float))
        async with self._sessions() as session:
            for needs, build, names in groups:
                if not needs & wanted:
                    continue
                stmt = build()
                for key, *values in await session.execute(stmt):
                    counters = out[key]
                    for name, value in zip(names, values, strict=True):
                        counters[name] += _number(value)
            if "busy_seconds" in wanted:
                until = min(end, now)
                if until > start:
                    for key, state, seconds in await session.execute(
                        self._states(start, until, scope)
                    ):
                        if by is D.NONE:
                            key = "all"
                        counters = out[key]
                        counters[f"state:{state}"] += _number(seconds)
                        if state in ("on_call", "wrapup"):
                            counters["busy_seconds"] += _number(seconds)
                        if state in ("on_call", "wrapup", "ready"):
                            counters["staffed_seconds"] += _number(seconds)
        return {k: dict(v) for k, v in out.items()}

    @staticmethod
    def _select(key: Any, *values: ColumnElement[Any]) -> Select[Any]:
        """``SELECT key, values… GROUP BY key``; no key: one row, keyed "all"."""
        if key is None:
            return select(literal_column("'all'"), *values)
        return select(key, *values).group_by(key)

    def _queue(
        self, start: datetime, end: datetime, by: Dimension, scope: Scope, spans: list[Span]
    ) -> Select[Any]:
        q = QueueEntry
        key = {D.CHANNEL: q.queue, D.AGENT: q.agent_id}.get(by)
        answered = q.outcome == "answered"
        in_time = answered & (q.wait_seconds <= self._settings.service_level_seconds)
        inside = or_(false(), *(_in(q.joined_at, s.start, s.end) for s in spans))
        stmt = self._select(
            key,
            func.count(),
            _n(answered),
            _n(q.outcome == "abandoned"),
            _n(in_time),
            _sum(answered, func.coalesce(q.wait_seconds, 0)),
            _n(~inside),
            _n(answered & ~inside),
        ).where(_in(q.joined_at, start, end))
        if scope.agent is not None:
            stmt = stmt.where(q.agent_id == scope.agent)
        return stmt

    def _talk(self, start: datetime, end: datetime, by: Dimension, scope: Scope) -> Select[Any]:
        c = Call
        key = {D.CHANNEL: c.queue, D.AGENT: c.agent_id}.get(by)
        stmt = self._select(
            key, func.count(), func.sum(seconds_between(c.answered_at, c.ended_at))
        ).where(
            _in(c.started_at, start, end),
            c.outcome == "answered",
            c.answered_at.is_not(None),
            c.ended_at.is_not(None),
        )
        if scope.agent is not None:
            stmt = stmt.where(c.agent_id == scope.agent)
        return stmt

    def _missed(self, start: datetime, end: datetime, by: Dimension, scope: Scope) -> Select[Any]:
        m = MissedCall
        key = m.claimed_by if by is D.AGENT else None
        done = m.state == "done"
        stmt = self._select(
            key,
            _n(m.state != "cleared"),
            _n(done),
            _sum(done, seconds_between(m.at, m.closed_at)),
        ).where(_in(m.at, start, end))
        if scope.agent is not None:
            stmt = stmt.where(m.claimed_by == scope.agent)
        return stmt

    @staticmethod
    def _ticket_key(by: Dimension) -> Any:
        return {
            D.DEPARTMENT: Ticket.department,
            D.DISTRICT: Ticket.department,
            D.CATEGORY: Ticket.category,
            D.CHANNEL: Ticket.source,
            D.AGENT: Ticket.agent_id,
        }.get(by)

    @staticmethod
    def _ticket_scope(stmt: Select[Any], scope: Scope) -> Select[Any]:
        if scope.departments is not None:
            stmt = stmt.where(Ticket.department.in_(sorted(scope.departments)))
        if scope.agent is not None:
            stmt = stmt.where(Ticket.agent_id == scope.agent)
        if scope.category:
            stmt = stmt.where(Ticket.category == scope.category)
        return stmt

    def _intake(self, start: datetime, end: datetime, by: Dimension, scope: Scope) -> Select[Any]:
        t = Ticket
        window = self._settings.repeat_window_days * 86400
        # A repeat: the caller's latest earlier ticket (on the same matter, by the setting) is
        # within the window, and not before the period's start less the window.
        prior = (
            t.fact_matter_prior_at
            if self._settings.same_matter == "category"
            else t.fact_caller_prior_at
        )
        repeat = (prior >= instant(start - timedelta(seconds=window))) & (
            seconds_between(prior, t.created_at) <= window
        )
        kept = t.state != S.MERGED
        # The cohort: tickets registered in the period (the stored fact of the registering
        # move); answered directly if the trail has a move to answered.
        stmt = self._select(
            self._ticket_key(by),
            _n(kept),
            _n(kept & t.fact_answered_at.is_not(None)),
            _n(t.state == S.CLOSED),
            _n(t.caller.is_not(None)),
            _n(t.caller.is_not(None) & repeat),
        ).where(_in(t.fact_registered_at, start, end))
        return self._ticket_scope(stmt, scope)

    def _dispatched(
        self, start: datetime, end: datetime, by: Dimension, scope: Scope, now: datetime
    ) -> Select[Any]:
        t = Ticket
        # Signed for in time: the first 签收 since the latest dispatch, before the sign-for
        # deadline (the fact is never before ``dispatched_at``; the bound restates it).
        signed = (t.fact_signed_at >= t.dispatched_at) & (t.fact_signed_at <= t.sign_due_at)
        responded = t.claimed_at.is_not(None) | signed
        waiting = ~responded & t.sign_due_at.is_not(None) & (t.sign_due_at > now)
        stmt = self._select(self._ticket_key(by), func.count(), _n(~waiting), _n(responded)).where(
            _in(t.dispatched_at, start, end), t.department.is_not(None)
        )
        return self._ticket_scope(stmt, scope)

    def _due(
        self, start: datetime, end: datetime, by: Dimension, scope: Scope, now: datetime
    ) -> Select[Any]:
        t = Ticket
        # This round's first reply (the fact: at or after ``reply_started_at``).
        in_time = t.fact_replied_at <= t.reply_due_at
        stmt = self._select(
            self._ticket_key(by),
            _n((t.reply_due_at <= now) | t.fact_replied_at.is_not(None)),
            _n(in_time),
        ).where(_in(t.reply_due_at, start, end))
        return self._ticket_scope(stmt, scope)

    def _disputes(self, start: datetime, end: datetime, by: Dimension, scope: Scope) -> Select[Any]:
        d = Dispute
        key = d.department if by in (D.DEPARTMENT, D.DISTRICT) else None
        filed = _in(d.filed_at, start, end)
        returned = (d.status == "confirmed") & _in(d.confirmed_at, start, end)
        stmt = self._select(key, _n(filed), _n(returned)).where(or_(filed, returned))
        if scope.departments is not None:
            stmt = stmt.where(d.department.in_(sorted(scope.departments)))
        if scope.category:
            stmt = stmt.where(
                exists().where(Ticket.id == d.ticket_id, Ticket.category == scope.category)
            )
        return stmt

    def _grab(
        self, start: datetime, end: datetime, by: Dimension, scope: Scope, now: datetime
    ) -> Select[Any]:
        t = Ticket
        # Still in the pool with time left: not counted yet.
        open_ = t.department.is_(None) & (t.grab_until > now)
        if by in (D.DEPARTMENT, D.DISTRICT) or scope.departments is not None:
            o = GrabOffer  # once per department offered the ticket
            won = t.department == o.department
            key = o.department if by in (D.DEPARTMENT, D.DISTRICT) else self._ticket_key(by)
            stmt = (
                self._select(
                    key,
                    _n(~open_),
                    _n(won & t.claimed_at.is_not(None)),
                    _n(won & t.forced.is_(True)),
                )
                .select_from(o)
                .join(t, t.id == o.ticket_id)
            )
            if scope.departments is not None:
                stmt = stmt.where(o.department.in_(sorted(scope.departments)))
        else:
            stmt = self._select(
                self._ticket_key(by),
                _n(~open_),
                _n(t.claimed_at.is_not(None)),
                _n(t.forced.is_(True)),
            )
        if scope.category:
            stmt = stmt.where(t.category == scope.category)
        return stmt.where(_in(t.published_at, start, end))

    def _callbacks(
        self, start: datetime, end: datetime, by: Dimension, scope: Scope
    ) -> Select[Any]:
        c, cfg = Callback, self._settings
        done = _in(c.finished_at, start, end)
        owed = _in(c.created_at, start, end) & (c.status != "cancelled")
        stmt = (
            self._select(
                self._ticket_key(by),
                _n(done & c.service_rating.is_not(None)),
                _n(done & c.service_rating.in_(cfg.satisfied_answers)),
                _n(done & c.outcome_rating.is_not(None)),
                _n(done & c.outcome_rating.in_(cfg.resolved_answers)),
                _n(done & (c.outcome_rating == UNSATISFIED)),
                _n(owed),
                _n(owed & c.outcome_rating.is_not(None)),
            )
            .select_from(c)
            .join(Ticket, Ticket.id == c.ticket_id)
            .where(or_(done, _in(c.created_at, start, end)))
        )
        return self._ticket_scope(stmt, scope)

    @staticmethod
    def _states(start: datetime, until: datetime, scope: Scope) -> Select[Any]:
        """Seconds per agent and state in ``[start, until)``: each change lasts until the
        agent's next one (its ``ended_at``), the one in force at ``start`` counted from it.

        The rows read are the period's changes and, per agent, the one change in force at
        ``start`` (found by the index (agent_id, at)), never the months before the period."""
        a, x = AgentStateChange, aliased(AgentStateChange)
        who: FromClause
        if scope.agent is not None:
            who = select(a.agent_id).distinct().where(a.agent_id == scope.agent).subquery()
        else:
            # The agents by one index seek each (the least agent_id above the last one found):
            # PostgreSQL answers DISTINCT by reading every change of every year, which was
            # half of a month's report.
            first = select(func.min(a.agent_id).label("agent_id")).cte("who", recursive=True)
            after = select(func.min(x.agent_id)).where(x.agent_id > first.c.agent_id)
            who = first.union_all(
                select(after.scalar_subquery()).where(first.c.agent_id.is_not(None))
            )
        last_before = (
            select(func.max(x.at))
            .where(x.agent_id == who.c.agent_id, x.at < instant(start))
            .scalar_subquery()
        )
        in_force = (
            select(a.agent_id, a.state, a.at, a.ended_at, a.span_seconds)
            .join(who, who.c.agent_id == a.agent_id)
            .where(a.at == last_before)
        )
        in_period = select(a.agent_id, a.state, a.at, a.ended_at, a.span_seconds).where(
            a.at >= instant(start), a.at < instant(until)
        )
        if scope.agent is not None:
            in_period = in_period.where(a.agent_id == scope.agent)
        rows = union_all(in_force, in_period).subquery()
        # Each change lasts until the agent's next one: the stored ``ended_at`` (what
        # LEAD(at) over the agent's changes in (at, id) order gives), cut to the period; a
        # change inside the period has its stored seconds (the same rounding).
        begins = later(rows.c.at, instant(start))
        ends = earlier(func.coalesce(rows.c.ended_at, instant(until)), instant(until))
        inside = (rows.c.at >= instant(start)) & (rows.c.ended_at <= instant(until))
        seconds = case((inside, rows.c.span_seconds), else_=seconds_between(begins, ends))
        return select(rows.c.agent_id, rows.c.state, func.sum(seconds)).group_by(
            rows.c.agent_id, rows.c.state
        )


def _ticket_kpi(kpi: Kpi) -> bool:
    """KPIs counted from tickets (and their callbacks), which a department may see."""
    return D.DEPARTMENT in kpi.dimensions


def _add(into: dict[str, float], counters: Mapping[str, float]) -> None:
    for name, value in counters.items():
        into[name] = into.get(name, 0) + value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
