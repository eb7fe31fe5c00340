"""The case loop at a city's size: years of tickets, the portal's lists, the sweep and a claim,
each through the service (``app.cases.loop.CaseLoop``) beside the plain indexed SQL query for the
same rows, run in the same process through the same engine.

Not a test: it prints figures. A city takes 2,500–8,000 tickets a day and keeps years of them;
the default seeds ``--tickets`` 2,000,000 at ``--per-day`` 2,700 (about two years) with their
transitions into a SQLite file and into a throwaway PostgreSQL server (``tests.conftest``'s
``PostgresServer``), both through the migrated schema (``app.migrate.upgrade``), by bulk inserts
(``executemany``; ``COPY`` on PostgreSQL), then ANALYZE. The mix: almost every ticket is closed;
the last days hold an open backlog of a few thousand dispatched / accepted / disputed / reopened
tickets with their deadlines (some overdue, some due for a reminder the sweep has not flagged
yet), a few hundred in the grab pool (a few of them past their window), over the example
catalogue's departments (dispatch.example.toml) with a Zipf skew: a few busy departments.

Measured, ``--reps`` times each, service and plain query alternating:

1. the portal (``CaseLoop.portal``, what ``GET /api/portal/tickets`` calls): in progress,
   overdue first, for the busiest department and for a district with everything below it; the
   overdue view for that district and for a supervisor (every department); the done tab;
2. the sweep (``CaseLoop.sweep``) once it has nothing left to do (the first run's work is
   printed): its three finding queries;
3. a claim (``CaseLoop.claim``) of a fresh grab-pool ticket each time.

Targets (issue 11): each at most 2x the plain query (p50), p99 at most 100 ms. The service's
statements are captured and printed with the database's query plan.

    .venv/bin/python -m bench.caseloop --tickets 2000000 --reps 200
    .venv/bin/python -m bench.caseloop --tickets 20000 --db sqlite --reps 20   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, bindparam, event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter, TextClause

from app.auth.service import Principal, Role
from app.cases.loop import PORTAL_COLUMNS, CaseLoop
from app.departments.service import DepartmentService
from app.migrate import upgrade
from app.models import Ticket
from casework import (
    CaseClock,
    CaseworkSettings,
    DeadlinePolicy,
    GrabWindow,
    Urgency,
    WorkingCalendar,
    parse_catalogue,
)
from casework.catalogue import Catalogue
from core.db import create_engine, session_factory
from tests.conftest import EXAMPLE_CATALOGUE, TEST_CALENDAR, PostgresServer

# Wednesday 25 November 2026, 10:00 in Shanghai: office hours, a working day.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
DAY = 86_400
HOUR = 3_600
TARGET_RATIO = 2.0
TARGET_P99_MS = 100.0
HELD_SQL = "('dispatched','accepted','disputed','reopened')"

TICKET_COLUMNS = (
    "id, state, source, caller, dialled, category, summary, description, agent_id, created_at, "
    "updated_at, department, address, urgency, contact_consent, assisting, dispatch_mode, "
    "dispatched_at, published_at, grab_until, claimed_at, forced, supervised, "
    "phone_confirmed_at, sign_due_at, reply_started_at, reply_due_at, reminder_at, "
    "extended_days, sla_status"
)
TRANSITION_COLUMNS = "id, ticket_id, from_state, to_state, actor, reason, at"
OFFER_COLUMNS = "id, ticket_id, department"
TABLES = (
    ("tickets", TICKET_COLUMNS),
    ("ticket_transitions", TRANSITION_COLUMNS),
    ("grab_offers", OFFER_COLUMNS),
)

SUMMARIES = ("占道经营", "噪音扰民", "路灯不亮", "供暖不热", "小区停水", "违章建筑", "垃圾清运")
DESCRIPTIONS = tuple(
    f"市民反映{s}问题已持续多日，影响周边居民正常生活，希望相关部门尽快核实处理并答复。"
    f"来电人表示此前已多次向物业和社区反映，未得到解决。（样本{i}）"
    for i, s in enumerate(SUMMARIES)
)
ADDRESSES = ("河东区东关街道新华社区3号楼", "河西区西城街道滨河路18号", "青川县城关镇人民路")

Row = tuple[object, ...]


def stamp_formatter() -> Callable[[int], str]:
    """Epoch seconds → the text SQLAlchemy stores on SQLite (and PostgreSQL reads in UTC)."""
    days: dict[int, str] = {}
    clock = [
        f" {h:02d}:{m:02d}:{s:02d}.000000" for h in range(24) for m in range(60) for s in range(60)
    ]

    def fmt(sec: int) -> str:
        day, rem = divmod(sec, DAY)
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
        return prefix + clock[rem]

    return fmt


# --- the data -----------------------------------------------------------------------------------


@dataclass
class City:
    """The example catalogue's departments with a skewed share of the tickets each."""

    catalogue: Catalogue
    codes: list[str]
    cumulative: list[float]
    categories: dict[str, list[str]]
    all_categories: list[str]

    @classmethod
    def example(cls, seed: int) -> City:
        catalogue = parse_catalogue(EXAMPLE_CATALOGUE.read_text(), str(EXAMPLE_CATALOGUE))
        codes = sorted(catalogue.departments)
        random.Random(seed).shuffle(codes)
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(codes))]
        total = sum(weights)
        cumulative, acc = [], 0.0
        for w in weights:
            acc += w / total
            cumulative.append(acc)
        categories: dict[str, list[str]] = {}
        for entry in catalogue.entries:
            categories.setdefault(entry.lead, []).append(entry.category)
        return cls(catalogue, codes, cumulative, categories, sorted(catalogue.categories))

    def pick(self, rng: random.Random) -> str:
        index = bisect.bisect_left(self.cumulative, rng.random())
        return self.codes[min(index, len(self.codes) - 1)]

    def category(self, rng: random.Random, department: str | None) -> str:
        own = self.categories.get(department or "")
        return rng.choice(own) if own else rng.choice(self.all_categories)

    def scope(self, code: str) -> list[str]:
        return [code, *(d.code for d in self.catalogue.descendants(code))]

    def busiest(self) -> str:
        return self.codes[0]

    def busiest_district(self) -> str:
        share = dict(zip(self.codes, self.shares(), strict=True))
        districts = [c for c, d in self.catalogue.departments.items() if d.kind == "district"]
        return max(districts, key=lambda c: sum(share[s] for s in self.scope(c)))

    def shares(self) -> list[float]:
        return [b - a for a, b in zip([0.0, *self.cumulative], self.cumulative, strict=False)]


@dataclass
class Chunk:
    tickets: list[Row] = field(default_factory=list)
    transitions: list[Row] = field(default_factory=list)
    offers: list[Row] = field(default_factory=list)


class Seeder:
    """Deterministic rows: ``size`` tickets, one every 86400/``per_day`` s up to ``NOW``."""

    def __init__(self, city: City, size: int, per_day: int, pool: int, seed: int) -> None:
        self.city, self.size, self.per_day, self.pool, self.seed = city, size, per_day, pool, seed
        self.fmt = stamp_formatter()
        self.next_transition = 1
        self.next_offer = 1

    def chunks(self, rows: int = 50_000) -> Iterator[Chunk]:
        rng = random.Random(self.seed)
        self.next_transition = self.next_offer = 1
        start = NOW_S - self.size * DAY // self.per_day
        chunk = Chunk()
        for i in range(self.size):
            created = start + i * DAY // self.per_day + rng.randrange(60)
            self._ticket(rng, chunk, i + 1, min(created, NOW_S - 60))
            if len(chunk.tickets) >= rows:
                yield chunk
                chunk = Chunk()
        if chunk.tickets:
            yield chunk

    def _moves(self, chunk: Chunk, ticket_id: int, moves: Sequence[tuple[str, str, int]]) -> None:
        prev: str | None = "draft"
        for to, actor, at in moves:
            chunk.transitions.append(
                (self.next_transition, ticket_id, prev, to, actor, None, self.fmt(at))
            )
            self.next_transition += 1
            prev = to

    def _ticket(self, rng: random.Random, chunk: Chunk, tid: int, created: int) -> None:
        f = self.fmt
        age = (NOW_S - created) / DAY
        r = rng.random()
        urgent = rng.random() < 0.05
        dept: str | None = self.city.pick(rng)
        agent = f"agent:{1001 + rng.randrange(40)}"
        dispatcher = f"dispatcher:d{rng.randrange(6)}"
        moves: list[tuple[str, str, int]] = [("registered", agent, created + 240)]
        values: dict[str, object] = {}
        dispatched = created + rng.randrange(HOUR // 2, 4 * HOUR)
        p_pool = self.pool / self.per_day
        p_open = 0.45 * math.exp(-age / 3)
        if age < 0.5 and r < 0.03:
            state, dept = "registered", None
        elif age < 1 and r < 0.03 + p_pool:
            state, dept = "dispatched", None
            # A few windows have ended: the first sweep assigns those (指定派发).
            until = NOW_S - rng.randrange(600, 2 * HOUR) if rng.random() < 0.05 else None
            until = until or NOW_S + rng.randrange(600, 3 * HOUR)
            values.update(
                dispatch_mode="grab", published_at=f(until - 3 * HOUR), grab_until=f(until)
            )
            moves.append(("dispatched", dispatcher, min(until - 3 * HOUR, NOW_S)))
            offered = {self.city.pick(rng) for _ in range(rng.randrange(1, 4))}
            for code in sorted(offered):
                chunk.offers.append((self.next_offer, tid, code))
                self.next_offer += 1
        elif r < p_open:
            dispatched = min(dispatched, NOW_S - 120)
            state = self._held(rng, age, values, dispatched, urgent)
            moves.append(("dispatched", dispatcher, dispatched))
            if state != "dispatched":
                moves.append(("accepted", f"department:u-{dept}", dispatched + 60))
            if state == "disputed":
                moves.append(("disputed", f"department:u-{dept}", dispatched + 120))
            if state == "reopened":
                moves.extend(
                    (s, "system", dispatched + 180 + k) for k, s in enumerate(("replied", state))
                )
        else:
            closed = created + rng.randrange(DAY, 10 * DAY)
            if closed >= NOW_S - 60:
                state = "replied" if rng.random() < 0.6 else "callback"
                closed = NOW_S - rng.randrange(60, DAY // 2)
            else:
                state = "closed"
            if state == "closed" and rng.random() < 0.03:  # answered by the agent, no dispatch
                dept = None
                moves.append(("answered", agent, created + 300))
            else:
                self._history(rng, values, dispatched, closed, urgent)
                moves.append(("dispatched", dispatcher, dispatched))
                moves.append(("accepted", f"department:u-{dept}", dispatched + 600))
                moves.append(("replied", f"department:u-{dept}", closed - 300))
                if state != "replied":
                    moves.append(("callback", "system", closed - 200))
            if state == "closed":
                moves.append(("closed", "system", closed))
            values["updated_at"] = f(closed)
        self._moves(chunk, tid, moves)
        category = self.city.category(rng, dept)
        chunk.tickets.append(
            (
                tid,
                state,
                "phone:12345",
                f"13{rng.randrange(10**9):09d}",
                "12345",
                category,
                SUMMARIES[tid % len(SUMMARIES)],
                DESCRIPTIONS[tid % len(DESCRIPTIONS)],
                None,
                f(created),
                values.get("updated_at") or f(max(m[2] for m in moves)),
                dept,
                ADDRESSES[tid % len(ADDRESSES)],
                "urgent" if urgent else "normal",
                1,
                "[]",
                values.get("dispatch_mode"),
                values.get("dispatched_at"),
                values.get("published_at"),
                values.get("grab_until"),
                values.get("claimed_at"),
                0,
                0,
                None,
                values.get("sign_due_at"),
                values.get("reply_started_at"),
                values.get("reply_due_at"),
                values.get("reminder_at"),
                0,
                values.get("sla_status"),
            )
        )

    def _clock(
        self, rng: random.Random, values: dict[str, object], started: int, urgent: bool
    ) -> tuple[int, int]:
        due = started + (8 * HOUR if urgent else 7 * DAY)
        reminder = started + (due - started) * 4 // 5
        values.update(
            reply_started_at=self.fmt(started),
            reply_due_at=self.fmt(due),
            reminder_at=self.fmt(reminder),
        )
        return due, reminder

    def _held(
        self, rng: random.Random, age: float, values: dict[str, object], at: int, urgent: bool
    ) -> str:
        values.update(
            dispatch_mode="direct",
            dispatched_at=self.fmt(at),
            sign_due_at=self.fmt(at + 2 * HOUR),
        )
        r = rng.random()
        if age < 1.5 and r < 0.35:
            return "dispatched"  # waiting to be signed for: no reply clock yet
        state = "disputed" if r > 0.96 else "reopened" if r > 0.93 else "accepted"
        due, reminder = self._clock(rng, values, at + 600, urgent)
        # The sweep marks reminders and overdue once; leave ~3 % for its first run.
        late = rng.random() < 0.03
        if due < NOW_S:
            values["sla_status"] = "warning" if late else "overdue"
        elif reminder <= NOW_S:
            values["sla_status"] = "on_track" if late else "warning"
        else:
            values["sla_status"] = "on_track"
        return state

    def _history(
        self, rng: random.Random, values: dict[str, object], at: int, closed: int, urgent: bool
    ) -> None:
        grab = rng.random() < 0.1
        values.update(
            dispatch_mode="grab" if grab else "direct",
            dispatched_at=self.fmt(at),
            sign_due_at=self.fmt(at + 2 * HOUR),
        )
        if grab:
            values.update(
                published_at=self.fmt(at - HOUR),
                grab_until=self.fmt(at + 2 * HOUR),
                claimed_at=self.fmt(at),
            )
        due, _ = self._clock(rng, values, at + 600, urgent)
        values["sla_status"] = "met" if closed - 300 <= due else "breached"


# --- seeding ------------------------------------------------------------------------------------


@dataclass
class Seeded:
    tickets: int = 0
    transitions: int = 0
    offers: int = 0
    seconds: float = 0.0
    analyze_seconds: float = 0.0


def _placeholders(columns: str, mark: str) -> str:
    return ", ".join(mark for _ in columns.split(","))


def seed_sqlite(path: Path, seeder: Seeder) -> Seeded:
    done = Seeded()
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-400000")
        # The migrated indexes, dropped for the load and created again from their own DDL
        # (one sorted build each instead of 2 M random inserts).
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN {tuple(table for table, _ in TABLES)}"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for chunk in seeder.chunks():
            with conn:
                for (table, columns), rows in zip(
                    TABLES, (chunk.tickets, chunk.transitions, chunk.offers), strict=True
                ):
                    conn.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({_placeholders(columns, '?')})",
                        rows,
                    )
            done.tickets += len(chunk.tickets)
            done.transitions += len(chunk.transitions)
            done.offers += len(chunk.offers)
        for _, sql in indexes:
            conn.execute(sql)
        done.seconds = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("ANALYZE")
        conn.commit()
        done.analyze_seconds = time.perf_counter() - t
    finally:
        conn.close()
    return done


def seed_postgres(url: str, seeder: Seeder) -> Seeded:
    import psycopg

    done = Seeded()
    t = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        # A bulk load: the rows are consistent by construction, the foreign keys are not
        # checked row by row (superuser only; this is the bench's own server).
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        with conn.cursor() as cur:
            # As on SQLite: the migrated indexes (not the keys) rebuilt after the load.
            cur.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                ([table for table, _ in TABLES],),
            )
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f"DROP INDEX {name}")
            for chunk in seeder.chunks():
                for (table, columns), rows in zip(
                    TABLES, (chunk.tickets, chunk.transitions, chunk.offers), strict=True
                ):
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                done.tickets += len(chunk.tickets)
                done.transitions += len(chunk.transitions)
                done.offers += len(chunk.offers)
            for _, sql in indexes:
                cur.execute(sql)
            for table, _ in TABLES:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        conn.commit()
        done.seconds = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("ANALYZE")
        conn.commit()
        done.analyze_seconds = time.perf_counter() - t
    return done


# --- measuring ----------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Figure:
    name: str
    service: list[float]
    plain: list[float]
    statements: int = 0  # what one service call sends

    def ratio(self, q: float) -> float:
        return pct(self.service, q) / max(pct(self.plain, q), 1e-9)

    def ok(self) -> bool:
        return self.ratio(0.5) <= TARGET_RATIO and pct(self.service, 0.99) <= TARGET_P99_MS

    def line(self) -> str:
        return (
            f"  {self.name:<44} {pct(self.service, 0.5):7.2f} {pct(self.service, 0.99):7.2f}"
            f"   {pct(self.plain, 0.5):7.2f} {pct(self.plain, 0.99):7.2f}"
            f"   {self.ratio(0.5):5.2f} {self.ratio(0.99):5.2f}  {self.statements:>4}"
            f"   {'ok' if self.ok() else 'MISSED'}"
        )


HEADER = (
    f"  {'what':<44} {'service p50/p99 ms':>15}   {'plain p50/p99 ms':>15}   "
    f"{'ratio':>11}  {'stmts':>5}"
)


class Capture:
    """The statements an engine sends (to count them and to EXPLAIN the service's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.seen: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if self.on:
            self.seen.append((statement, params))

    async def during(self, call: Callable[[], Awaitable[object]]) -> list[tuple[str, Any]]:
        self.seen, self.on = [], True
        try:
            await call()
        finally:
            self.on = False
        return self.seen


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    t = time.perf_counter()
    await call()
    return (time.perf_counter() - t) * 1000


async def compare(
    name: str,
    service: Callable[[], Awaitable[object]],
    plain: Callable[[], Awaitable[object]],
    reps: int,
    capture: Capture,
) -> Figure:
    for _ in range(min(5, reps)):
        await service()
        await plain()
    figure = Figure(name, [], [], len(await capture.during(service)))
    for i in range(reps):
        # Alternate which goes first, so the box's noise falls on both alike.
        first, second = (service, plain) if i % 2 == 0 else (plain, service)
        a, b = await timed(first), await timed(second)
        figure.service.append(a if i % 2 == 0 else b)
        figure.plain.append(b if i % 2 == 0 else a)
    return figure


async def explain(engine: AsyncEngine, statements: list[tuple[str, Any]]) -> list[str]:
    sqlite = engine.dialect.name == "sqlite"
    out: list[str] = []
    async with engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE")):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = (await conn.exec_driver_sql(prefix + statement, params)).all()
            out.append("    " + " ".join(statement.split())[:150] + " …")
            out.extend(f"      {row[-1]}" for row in rows)
    return out


def tickets_sql(where: str, order: str, limit: int = 50) -> TextClause:
    columns = ", ".join(column.name for column in PORTAL)
    return text(f"SELECT {columns} FROM tickets WHERE {where} ORDER BY {order} LIMIT {limit}")


def done_heads(scope: Sequence[str], limit: int = 50) -> TextClause:
    """The done tab over several departments: each department's newest, then the newest."""
    done = "state IN ('replied','callback','closed')"
    newest = "updated_at DESC, id DESC"
    heads = " UNION ALL ".join(
        f"SELECT id FROM (SELECT id FROM tickets WHERE department = :d{i} AND {done} "
        f"ORDER BY {newest} LIMIT {limit}) AS h{i}"
        for i in range(len(scope))
    )
    stmt = tickets_sql(f"id IN ({heads})", newest, limit)
    return stmt.bindparams(**{f"d{i}": code for i, code in enumerate(sorted(scope))})


PUBLISHED_CATEGORY = "城管"
# The columns a portal row shows, as the service selects them.
PORTAL = [Ticket.__table__.c[column.key] for column in PORTAL_COLUMNS]
NOW_PARAM = bindparam("now", NOW, type_=DateTime(timezone=True))


@dataclass
class Run:
    label: str
    url: str
    size: int
    reps: int
    seeded: Seeded
    city: City
    figures: list[Figure] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_loop(engine: AsyncEngine) -> CaseLoop:
    settings = CaseworkSettings()
    calendar = WorkingCalendar.from_settings(settings, TEST_CALENDAR.read_text())
    sessions = session_factory(engine)

    class Quiet:
        def publish(self, event: object) -> None:
            pass

        def subscribe(self, *args: object, **kwargs: object) -> None:
            pass

    return CaseLoop(
        sessions,
        Quiet(),
        DepartmentService(sessions, lambda: NOW),
        CaseClock(calendar, DeadlinePolicy.from_settings(settings)),
        GrabWindow.from_settings(calendar, settings),
        settings,
        lambda: NOW,
    )


def department(code: str) -> Principal:
    return Principal(username=f"u-{code}", role=Role.DEPARTMENT, department=code)


SUPERVISOR = Principal(username="boss", role=Role.SUPERVISOR)


async def measure(run: Run) -> None:
    engine = create_engine(run.url)
    loop = build_loop(engine)
    capture = Capture(engine)
    try:
        await loop.departments.load_file(EXAMPLE_CATALOGUE, actor="bench")
        await _portal(run, engine, loop, capture)
        await _sweep(run, engine, loop, capture)
        await _claim(run, engine, loop, capture)
    finally:
        await engine.dispose()


async def _rows(engine: AsyncEngine, stmt: Executable, **params: object) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(stmt, params)).all())


async def _portal(run: Run, engine: AsyncEngine, loop: CaseLoop, capture: Capture) -> None:
    busy, district = run.city.busiest(), run.city.busiest_district()
    scope_bp: BindParameter[list[str]] = bindparam("scope", expanding=True)
    in_progress = tickets_sql(
        "department IN :scope AND state IN ('accepted','disputed','reopened')",
        "reply_due_at, id",
    ).bindparams(scope_bp)
    overdue = tickets_sql(
        f"department IN :scope AND state IN {HELD_SQL} AND sla_status = 'overdue'",
        "reply_due_at, id",
    ).bindparams(scope_bp)
    overdue_all = tickets_sql(
        f"department IS NOT NULL AND state IN {HELD_SQL} AND sla_status = 'overdue'",
        "reply_due_at, id",
    )
    done = tickets_sql(
        "department IN :scope AND state IN ('replied','callback','closed')",
        "updated_at DESC, id DESC",
    ).bindparams(scope_bp)
    cases: list[tuple[str, Principal, str, TextClause, dict[str, object]]] = [
        (f"in progress, busiest dept ({busy})", department(busy), "in_progress", in_progress,
         {"scope": run.city.scope(busy)}),
        (f"in progress, district {district} + below", department(district), "in_progress",
         in_progress, {"scope": run.city.scope(district)}),
        (f"overdue, district {district} + below", department(district), "overdue", overdue,
         {"scope": run.city.scope(district)}),
        ("overdue, supervisor (every dept)", SUPERVISOR, "overdue", overdue_all, {}),
        (f"done tab, busiest dept ({busy})", department(busy), "done",
         done_heads(run.city.scope(busy)), {}),
        (f"done tab, district {district} + below", department(district), "done",
         done_heads(run.city.scope(district)), {}),
    ]  # fmt: skip
    t = time.perf_counter()
    await _rows(engine, done, scope=run.city.scope(district))
    run.notes.append(
        f"done tab, district {district}: one plain query over the whole scope (sorts its "
        f"history) took {(time.perf_counter() - t) * 1000:.0f} ms once"
    )
    for name, who, view, sql, params in cases:
        # The portal's columns, typed: both sides hand back datetimes, not SQLite's text.
        stmt = sql.columns(*PORTAL)
        got = [t.id for t in await loop.portal(who, view)]
        want = [r.id for r in await _rows(engine, stmt, **params)]
        if got != want:
            raise AssertionError(f"{name}: the service and the plain query differ")
        run.notes.append(f"{name}: {len(got)} rows")

        async def service(who: Principal = who, view: str = view) -> object:
            return await loop.portal(who, view)

        async def plain(stmt: Executable = stmt, params: dict[str, object] = params) -> object:
            return await _rows(engine, stmt, **params)

        run.figures.append(await compare("portal: " + name, service, plain, run.reps, capture))
        run.plans.append(f"  portal {view} as {who.department or 'supervisor'}:")
        run.plans.extend(await explain(engine, await capture.during(service)))


SWEEP_SQL = (
    text(
        "SELECT id FROM tickets WHERE state = 'dispatched' AND grab_until < :now "
        "AND department IS NULL AND dispatch_mode = 'grab' ORDER BY grab_until LIMIT 500"
    ).bindparams(NOW_PARAM),
    text(
        f"SELECT id, department, reply_due_at FROM tickets WHERE state IN {HELD_SQL} "
        "AND sla_status = 'on_track' AND reminder_at <= :now ORDER BY reply_due_at LIMIT 500"
    ).bindparams(NOW_PARAM),
    text(
        f"SELECT id, department, reply_due_at FROM tickets WHERE state IN {HELD_SQL} "
        "AND sla_status IN ('on_track','warning') AND reply_due_at < :now "
        "ORDER BY reply_due_at LIMIT 500"
    ).bindparams(NOW_PARAM),
)


async def _sweep(run: Run, engine: AsyncEngine, loop: CaseLoop, capture: Capture) -> None:
    async def plain() -> list[Sequence[Any]]:
        async with engine.connect() as conn:
            return [(await conn.execute(stmt)).all() for stmt in SWEEP_SQL]

    before = [len(rows) for rows in await plain()]
    t = time.perf_counter()
    first = await loop.sweep()
    run.notes.append(
        f"sweep, first run: found {before} (grab expired, reminders, overdue); "
        f"forced {first.forced}, reminded {first.reminded}, overdue {first.overdue} "
        f"in {(time.perf_counter() - t) * 1000:.0f} ms"
    )
    again = await loop.sweep()
    run.notes.append(f"sweep, second run: {again}")
    run.figures.append(
        await compare("sweep (nothing left to do): 3 finders", loop.sweep, plain, run.reps, capture)
    )
    run.plans.append("  sweep:")
    run.plans.extend(await explain(engine, await capture.during(loop.sweep)))


async def _claim(run: Run, engine: AsyncEngine, loop: CaseLoop, capture: Capture) -> None:
    busy = run.city.busiest()
    count = 2 * run.reps + 2 * min(5, run.reps) + 4
    ids = await _publish(engine, busy, count)
    who = department(busy)
    fresh = iter(ids)
    clock = loop.clock.reply_deadline(NOW, PUBLISHED_CATEGORY, Urgency.NORMAL)
    claim_sql = text(
        "UPDATE tickets SET department = :d, claimed_at = :now, dispatched_at = :now, "
        "state = 'accepted', reply_started_at = :start, reply_due_at = :due, "
        "reminder_at = :rem, sla_status = 'on_track', updated_at = :now "
        "WHERE id = :id AND state = 'dispatched' AND dispatch_mode = 'grab' "
        "AND department IS NULL AND grab_until >= :now AND EXISTS (SELECT 1 FROM grab_offers "
        "WHERE grab_offers.ticket_id = tickets.id AND grab_offers.department = :d)"
    ).bindparams(
        NOW_PARAM,
        bindparam("start", clock.start.astimezone(UTC), type_=DateTime(timezone=True)),
        bindparam("due", clock.due.astimezone(UTC), type_=DateTime(timezone=True)),
        bindparam("rem", loop.clock.reminder_at(clock).astimezone(UTC), type_=DateTime(True)),
    )
    moved = text(
        "INSERT INTO ticket_transitions (ticket_id, from_state, to_state, actor, reason, at) "
        "VALUES (:id, 'dispatched', 'accepted', :actor, '抢单', :now)"
    ).bindparams(NOW_PARAM)

    async def service() -> object:
        await loop.claim(next(fresh), who)
        return None

    async def plain() -> object:
        ticket_id = next(fresh)
        async with engine.begin() as conn:
            won = await conn.execute(claim_sql, {"d": busy, "id": ticket_id})
            if won.rowcount != 1:
                raise AssertionError(f"ticket {ticket_id} was not claimed")
            await conn.execute(moved, {"id": ticket_id, "actor": who.actor})
        return None

    run.figures.append(await compare("claim a grab-pool ticket", service, plain, run.reps, capture))
    run.plans.append("  claim:")
    run.plans.extend(await explain(engine, await capture.during(service)))


async def _publish(engine: AsyncEngine, code: str, count: int) -> list[int]:
    """``count`` fresh grab-pool tickets offered to ``code`` (and one other department)."""
    fmt = stamp_formatter()
    async with engine.begin() as conn:
        top = int((await conn.execute(text("SELECT max(id) FROM tickets"))).scalar_one())
        ids = list(range(top + 1, top + 1 + count))
        until, published = fmt(NOW_S + 2 * HOUR), fmt(NOW_S - HOUR)
        await conn.execute(
            text(
                "INSERT INTO tickets (id, state, source, category, created_at, updated_at, "
                "assisting, dispatch_mode, published_at, grab_until, forced, supervised, "
                "extended_days, urgency) VALUES (:id, 'dispatched', 'phone:12345', :category, "
                ":at, :at, '[]', 'grab', :at, :until, false, false, 0, 'normal')"
            ),
            [
                {"id": i, "at": published, "until": until, "category": PUBLISHED_CATEGORY}
                for i in ids
            ],
        )
        if engine.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), :top)"),
                {"top": ids[-1]},
            )
        await conn.execute(
            text("INSERT INTO grab_offers (ticket_id, department) VALUES (:id, :d)"),
            [{"id": i, "d": d} for i in ids for d in sorted({code, "hedong"})],
        )
    return ids


# --- running ------------------------------------------------------------------------------------


def report(run: Run) -> str:
    s = run.seeded
    lines = [
        f"\n== {run.label}: {s.tickets:,} tickets, {s.transitions:,} transitions, "
        f"{s.offers:,} grab offers seeded in {s.seconds:.1f} s "
        f"({s.tickets / max(s.seconds, 1e-9):,.0f} tickets/s), ANALYZE {s.analyze_seconds:.1f} s",
        *(f"  {note}" for note in run.notes),
        HEADER,
        *(figure.line() for figure in run.figures),
        f"  targets: ratio p50 <= {TARGET_RATIO}, service p99 <= {TARGET_P99_MS:.0f} ms; "
        f"{run.reps} repetitions each",
        "  query plans of the service's statements:",
        *run.plans,
    ]
    return "\n".join(lines)


async def mix(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT state, count(*), "
                        "sum(CASE WHEN sla_status = 'overdue' THEN 1 ELSE 0 END) "
                        "FROM tickets GROUP BY state ORDER BY count(*) DESC"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return "  mix: " + ", ".join(
        f"{st} {n:,}" + (f" ({o:,} overdue)" if o else "") for st, n, o in rows
    )


def run_one(label: str, url: str, size: int, per_day: int, reps: int, seed: int) -> Run:
    city = City.example(seed)
    seeder = Seeder(city, size, per_day, pool=300, seed=seed)
    upgrade(url)
    if url.startswith("sqlite"):
        seeded = seed_sqlite(Path(url.removeprefix("sqlite:///")), seeder)
    else:
        seeded = seed_postgres(url, seeder)
    run = Run(label, url, size, reps, seeded, city)
    print(f"{label}: seeded {seeded.tickets:,} tickets in {seeded.seconds:.1f} s", flush=True)
    run.notes.append(asyncio.run(mix(url)).strip())
    top = {c: 0.0 for c in city.codes}
    for code, share in zip(city.codes, city.shares(), strict=True):
        top[code] = share
    busy, district = city.busiest(), city.busiest_district()
    run.notes.append(
        f"busiest department {busy}: {top[busy]:.0%} of the tickets; district {district} "
        f"with {len(city.scope(district)) - 1} below: "
        f"{sum(top[c] for c in city.scope(district)):.0%}"
    )
    asyncio.run(measure(run))
    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=2_000_000)
    parser.add_argument("--per-day", type=int, default=2_700)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args(argv)
    print(
        f"case loop at {args.tickets:,} tickets ({args.tickets / args.per_day:.0f} days at "
        f"{args.per_day:,}/day), {args.reps} repetitions; {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-caseloop-"))
    try:
        for kind in args.db.split(","):
            if kind == "sqlite":
                url = f"sqlite:///{work / 'caseloop.db'}"
                print(report(run_one("SQLite", url, args.tickets, args.per_day, args.reps,
                                     args.seed)), flush=True)  # fmt: skip
                continue
            server = PostgresServer()
            server.start()
            try:
                url = server.create_database()
                print(report(run_one("PostgreSQL", url, args.tickets, args.per_day, args.reps,
                                     args.seed)), flush=True)  # fmt: skip
            finally:
                server.stop()
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
