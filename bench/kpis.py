"""The KPI service at a big city's size: a year of calls and tickets, then a month's report for
the whole city and the department ranking, each beside one hand-written aggregate SQL over
the same rows, in the same run, on SQLite and on PostgreSQL.

Seeding: a year (2025) of ``--calls`` calls (each with its queue entry; 90 % answered) and
``--tickets`` tickets with their transitions (受理, then direct answer or dispatch → 签收 →
答复, then 办结 for most), grab offers for the third published to the grab pool, satisfaction
callbacks for half the replied tickets, and the agents' state changes (``--agents``, 12 a day
each). Rows are written in bulk: ``executemany`` on SQLite (journal off while seeding),
``COPY`` on PostgreSQL (foreign-key triggers off while seeding). Values are derived from each
row's number by a hash, so every table is written in one pass and two runs seed the same
rows.

Measured: ``KpiService.report`` for June 2025 (it counts May as well: the previous period) by
none and by department, p50 of ``--runs`` runs, beside two hand-written SQL counting the same
inputs of the same KPIs per month over the same two months (one UNION ALL of grouped
SELECTs): one over the tables the service reads (the tickets' KPI facts), and one over the
raw tables (the registering move found in ``ticket_transitions``, the agents' state spans by
LEAD).
The rows are seeded on main's schema (``BASE``: no facts); the upgrade to the head then
back-fills the facts (migration 0019), and its time is printed.

    .venv/bin/python -m bench.kpis --calls 3000000 --tickets 2000000
    .venv/bin/python -m bench.kpis --calls 20000 --tickets 15000 --db sqlite   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, bindparam, text

from app.departments.service import DepartmentService
from app.kpis.service import KpiService
from app.migrate import upgrade
from core.db import create_engine, session_factory
from core.kpis import KpiSettings
from kpis import Dimension, period_of

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
YEAR_START = int(datetime(2025, 1, 1, tzinfo=TZ).timestamp())
YEAR_SECONDS = 365 * 86400
MONTH = period_of("month", date(2025, 6, 1))
NOW = datetime(2026, 1, 15, tzinfo=UTC)  # after the year: nothing is still "waiting"
BASE = "0015"  # main's head before the KPI facts (0019): the seeding schema
CATALOGUE = Path(__file__).resolve().parent.parent / "dispatch.example.toml"
CATEGORIES = ("供水", "供电", "燃气", "噪音", "道路", "物业", "交通", "环境", "市容", "教育")
Row = tuple[object, ...]


@dataclass(frozen=True)
class Size:
    calls: int
    tickets: int
    agents: int


def h(i: int, salt: int) -> int:
    """A cheap, fixed pseudo-random number per row and purpose (0 … 2**32-1)."""
    x = (i * 0x9E3779B1 + salt * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    return x ^ (x >> 12)


class Stamps:
    """Epoch seconds → ``YYYY-MM-DD HH:MM:SS.000000`` (UTC), SQLAlchemy's stored form on
    SQLite and a timestamptz literal in a UTC session on PostgreSQL; a minute cache."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, sec: int) -> str:
        minute, s = divmod(sec, 60)
        prefix = self._minutes.get(minute)
        if prefix is None:
            prefix = time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute * 60))
            self._minutes[minute] = prefix
        return f"{prefix}:{s:02d}.000000"


TS = Stamps()


# --- the rows -------------------------------------------------------------------------------

TABLES: dict[str, Sequence[str]] = {
    "agents": ("id", "name", "created_at"),
    "tickets": [
        "id",
        "state",
        "source",
        "caller",
        "category",
        "department",
        "agent_id",
        "created_at",
        "updated_at",
        "assisting",
        "dispatch_mode",
        "dispatched_at",
        "published_at",
        "grab_until",
        "claimed_at",
        "forced",
        "supervised",
        "sign_due_at",
        "reply_started_at",
        "reply_due_at",
        "extended_days",
        "sla_status",
    ],
    "calls": [
        "id",
        "node_id",
        "uniqueid",
        "linkedid",
        "channel",
        "caller",
        "dialled",
        "queue",
        "agent_id",
        "ticket_id",
        "started_at",
        "answered_at",
        "ended_at",
        "outcome",
        "hold_seconds",
    ],
    "queue_entries": [
        "id",
        "node_id",
        "uniqueid",
        "queue",
        "caller",
        "joined_at",
        "outcome",
        "wait_seconds",
        "agent_id",
        "ended_at",
    ],
    "ticket_transitions": ["id", "ticket_id", "from_state", "to_state", "actor", "at"],
    "grab_offers": ["id", "ticket_id", "department"],
    "callbacks": [
        "id",
        "ticket_id",
        "round",
        "campaign",
        "number",
        "status",
        "attempts",
        "service_rating",
        "outcome_rating",
        "created_at",
        "finished_at",
    ],
    "agent_state_changes": ["id", "node_id", "agent_id", "state", "reason", "source", "at"],
}


def agent(i: int, size: Size) -> str:
    return str(1001 + i % size.agents)


def agents(size: Size) -> Iterator[Row]:
    for i in range(size.agents):
        yield (agent(i, size), f"座席{i}", TS(YEAR_START))


@dataclass(frozen=True)
class Plan:
    """What happens to ticket ``i`` (the seeder writes its row, transitions, offers and
    callback from the same plan)."""

    created: int
    kind: int  # 0-1 direct answer, 2-4 grab pool, 5-9 direct dispatch
    department: str
    claimer: str
    dispatched: int
    replied: int
    closed: bool
    callback: bool


def plan(i: int, size: Size, departments: Sequence[str]) -> Plan:
    created = YEAR_START + i * YEAR_SECONDS // size.tickets + h(i, 1) % 600
    kind = h(i, 2) % 10
    dept = departments[h(i, 3) % len(departments)]
    dispatched = created + (1800 + h(i, 4) % 1800 if kind >= 2 else 0)
    # Replies take 1-7 days (the deadline is 5): about 70 % on time.
    replied = dispatched + 3600 + h(i, 5) % (7 * 86400)
    return Plan(
        created=created,
        kind=kind,
        department=dept,
        claimer=departments[h(i, 6) % len(departments)],
        dispatched=dispatched,
        replied=replied,
        closed=h(i, 7) % 10 < 9,
        callback=h(i, 8) % 2 == 0,
    )


def tickets(size: Size, departments: Sequence[str]) -> Iterator[Row]:
    for i in range(1, size.tickets + 1):
        p = plan(i, size, departments)
        grab, direct_answer = 2 <= p.kind <= 4, p.kind < 2
        state = "closed" if p.closed else ("answered" if direct_answer else "replied")
        dept = None if direct_answer else (p.claimer if grab else p.department)
        published = TS(p.created + 600) if grab else None
        sla = "met" if p.replied <= p.dispatched + 5 * 86400 else "breached"
        yield (
            i,
            state,
            "phone:12345" if h(i, 9) % 5 else "web",
            f"138{h(i, 10) % 2_000_000:08d}",
            CATEGORIES[h(i, 11) % len(CATEGORIES)],
            dept,
            agent(i, size),
            TS(p.created),
            TS(p.replied),
            "[]",
            None if direct_answer else ("grab" if grab else "direct"),
            None if direct_answer else TS(p.dispatched),
            published,
            TS(p.created + 600 + 4 * 3600) if grab else None,
            TS(p.dispatched) if grab else None,
            False,
            False,
            None if direct_answer else TS(p.dispatched + 7200),
            None if direct_answer else TS(p.dispatched),
            None if direct_answer else TS(p.dispatched + 5 * 86400),
            0,
            None if direct_answer else sla,
        )


def transitions(size: Size, departments: Sequence[str]) -> Iterator[Row]:
    n = 0
    for i in range(1, size.tickets + 1):
        p = plan(i, size, departments)
        steps: list[tuple[str | None, str, int]] = [(None, "registered", p.created)]
        if p.kind < 2:
            steps.append(("registered", "answered", p.created + 120))
            last, at = "answered", p.created + 120
        else:
            steps.append(("registered", "dispatched", p.dispatched))
            if p.kind >= 5:  # a direct dispatch is signed for; a claim is the 签收 itself
                steps.append(("dispatched", "accepted", p.dispatched + 1200))
            steps.append(("accepted", "replied", p.replied))
            last, at = "replied", p.replied
        if p.closed:
            steps.append((last, "closed", at + 86400))
        for src, dst, moment in steps:
            n += 1
            yield (n, i, src, dst, "bench", TS(moment))


def grab_offers(size: Size, departments: Sequence[str]) -> Iterator[Row]:
    n = 0
    for i in range(1, size.tickets + 1):
        p = plan(i, size, departments)
        if 2 <= p.kind <= 4:
            for dept in dict.fromkeys((p.claimer, p.department)):
                n += 1
                yield (n, i, dept)


def callbacks(size: Size, departments: Sequence[str]) -> Iterator[Row]:
    n = 0
    for i in range(1, size.tickets + 1):
        p = plan(i, size, departments)
        if not p.callback:
            continue
        n += 1
        owed = p.created + 120 if p.kind < 2 else p.replied
        rating = 1 + h(i, 12) % 3
        yield (
            n,
            i,
            1,
            "satisfaction",
            "13800000000",
            "done",
            1,
            rating,
            1 + h(i, 13) % 3,
            TS(owed),
            TS(owed + 86400),
        )


def calls(size: Size) -> Iterator[Row]:
    for i in range(1, size.calls + 1):
        started = YEAR_START + i * YEAR_SECONDS // size.calls
        wait = h(i, 20) % 40
        answered = h(i, 21) % 10 != 0
        ticket = 1 + (i - 1) * size.tickets // size.calls if answered else None
        uid = f"{started}.{i}"
        yield (
            f"n1:{uid}",
            "n1",
            uid,
            uid,
            f"PJSIP/carrier-{i:08x}",
            f"138{h(i, 22) % 2_000_000:08d}",
            "12345",
            "main",
            agent(i, size) if answered else None,
            ticket,
            TS(started),
            TS(started + 10 + wait) if answered else None,
            TS(started + 10 + wait + 60 + h(i, 23) % 400),
            "answered" if answered else "abandoned",
            wait,
        )


def queue_entries(size: Size) -> Iterator[Row]:
    for i in range(1, size.calls + 1):
        started = YEAR_START + i * YEAR_SECONDS // size.calls
        wait = h(i, 20) % 40
        answered = h(i, 21) % 10 != 0
        yield (
            i,
            "n1",
            f"{started}.{i}",
            "main",
            f"138{h(i, 22) % 2_000_000:08d}",
            TS(started + 10),
            "answered" if answered else "abandoned",
            wait,
            agent(i, size) if answered else None,
            TS(started + 10 + wait),
        )


STATE_CYCLE = (
    (8 * 3600, "ready"),
    (9 * 3600, "on_call"),
    (9 * 3600 + 600, "wrapup"),
    (9 * 3600 + 660, "ready"),
    (10 * 3600, "paused"),
    (10 * 3600 + 900, "ready"),
    (12 * 3600, "on_call"),
    (12 * 3600 + 900, "wrapup"),
    (12 * 3600 + 960, "ready"),
    (15 * 3600, "on_call"),
    (15 * 3600 + 1200, "ready"),
    (17 * 3600, "logged_out"),
)


def state_changes(size: Size) -> Iterator[Row]:
    n = 0
    for day in range(365):
        base = YEAR_START + day * 86400
        for a in range(size.agents):
            shift = (a * 37) % 1800
            for offset, state in STATE_CYCLE:
                n += 1
                yield (n, "n1", agent(a, size), state, None, "bench", TS(base + offset + shift))


def all_rows(
    size: Size, departments: Sequence[str]
) -> list[tuple[str, Callable[[], Iterator[Row]]]]:
    """Each table with its rows, parents first."""
    return [
        ("agents", lambda: agents(size)),
        ("tickets", lambda: tickets(size, departments)),
        ("calls", lambda: calls(size)),
        ("queue_entries", lambda: queue_entries(size)),
        ("ticket_transitions", lambda: transitions(size, departments)),
        ("grab_offers", lambda: grab_offers(size, departments)),
        ("callbacks", lambda: callbacks(size, departments)),
        ("agent_state_changes", lambda: state_changes(size)),
    ]


def chunks(rows: Iterator[Row], n: int = 50_000) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


# --- seeding --------------------------------------------------------------------------------


def seed_sqlite(path: Path, size: Size, departments: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        for table, rows in all_rows(size, departments):
            cols = TABLES[table]
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            counts[table] = 0
            for batch in chunks(rows()):
                db.executemany(sql, batch)
                counts[table] += len(batch)
            db.commit()
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()
    return counts


def _copy_field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def seed_postgres(url: str, size: Size, departments: Sequence[str]) -> dict[str, int]:
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SET session_replication_role = replica")  # no FK triggers while seeding
        for table, rows in all_rows(size, departments):
            counts[table] = 0
            with cur.copy(f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN") as copy:
                for batch in chunks(rows()):
                    copy.write("".join("\t".join(map(_copy_field, r)) + "\n" for r in batch))
                    counts[table] += len(batch)
        for table in TABLES:
            if "id" in TABLES[table] and table not in ("agents", "calls"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE")
    return counts


# --- the baselines: one hand-written SQL each ----------------------------------------------
#
# What a person would write for the same figures: per group of KPIs one grouped SELECT over
# the same index range as the service's (May and June together), each row's period from the
# timestamp the group ranges over, the same inputs (the counters every KPI of the report is
# a ratio of) with the same rules and settings (KpiSettings()'s defaults), all in one
# UNION ALL. No excluded periods are seeded, so the queue's "kept" counters equal its plain
# ones and are not repeated.


@dataclass(frozen=True)
class Part:
    name: str
    source: str  # FROM … WHERE …: the rows of [:a, :b)
    at: str  # the timestamp whose period a row counts in
    values: Sequence[str]  # aggregates; {p} is the row's period (0: May, 1: June)
    key: str | None = None  # its department, in the ranking (None: the city's figures only)
    city: bool = True


RESPONDED = (
    "(t.claimed_at IS NOT NULL OR (t.fact_signed_at >= t.dispatched_at"
    " AND t.fact_signed_at <= t.sign_due_at))"
)
INTAKE = "tickets t WHERE t.fact_registered_at >= :a AND t.fact_registered_at < :b"
SPANS = "agent_state_changes WHERE at >= :a AND at < :b AND ended_at IS NOT NULL"


def parts(intake: str, intake_at: str, spans: str, spans_value: str) -> list[Part]:
    done = "c.finished_at >= :a AND c.finished_at < :b"
    return [
        Part(
            "queue",
            "queue_entries WHERE joined_at >= :a AND joined_at < :b",
            "joined_at",
            (
                "count(*)",
                "sum(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN outcome = 'answered' AND wait_seconds <= 15 THEN 1 ELSE 0 END)",
                "sum(CASE WHEN outcome = 'answered' THEN coalesce(wait_seconds, 0) ELSE 0 END)",
            ),
        ),
        Part(
            "talk",
            "calls WHERE started_at >= :a AND started_at < :b AND outcome = 'answered'"
            " AND answered_at IS NOT NULL AND ended_at IS NOT NULL",
            "started_at",
            ("count(*)", "sum({talk})"),
        ),
        Part(
            "missed",
            "missed_calls WHERE at >= :a AND at < :b",
            "at",
            (
                "sum(CASE WHEN state != 'cleared' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN state = 'done' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN state = 'done' THEN {missed} ELSE 0 END)",
            ),
        ),
        Part(
            "intake",
            intake,
            intake_at,
            (
                "sum(CASE WHEN t.state != 'merged' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.state != 'merged' AND t.fact_answered_at IS NOT NULL"
                " THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.state = 'closed' THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.caller IS NOT NULL THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.caller IS NOT NULL AND t.fact_matter_prior_at >= "
                "CASE WHEN {p} = 1 THEN :rm ELSE :ra END AND {repeat} <= 604800"
                " THEN 1 ELSE 0 END)",
            ),
            key="t.department",
        ),
        Part(
            "dispatched",
            "tickets t WHERE t.dispatched_at >= :a AND t.dispatched_at < :b"
            " AND t.department IS NOT NULL",
            "t.dispatched_at",
            (
                "count(*)",
                f"sum(CASE WHEN NOT {RESPONDED} AND t.sign_due_at > :now THEN 1 ELSE 0 END)",
                f"sum(CASE WHEN {RESPONDED} THEN 1 ELSE 0 END)",
            ),
            key="t.department",
        ),
        Part(
            "due",
            "tickets t WHERE t.reply_due_at >= :a AND t.reply_due_at < :b",
            "t.reply_due_at",
            (
                "sum(CASE WHEN t.reply_due_at <= :now OR t.fact_replied_at IS NOT NULL"
                " THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.fact_replied_at <= t.reply_due_at THEN 1 ELSE 0 END)",
            ),
            key="t.department",
        ),
        Part(
            "disputes",
            "disputes d WHERE d.filed_at >= :a AND d.filed_at < :b",
            "d.filed_at",
            ("count(*)",),
            key="d.department",
        ),
        Part(
            "returns",
            "disputes d WHERE d.status = 'confirmed' AND d.confirmed_at >= :a"
            " AND d.confirmed_at < :b",
            "d.confirmed_at",
            ("count(*)",),
            key="d.department",
        ),
        Part(
            "grab",
            "tickets t WHERE t.published_at >= :a AND t.published_at < :b",
            "t.published_at",
            (
                "sum(CASE WHEN t.department IS NULL AND t.grab_until > :now THEN 0 ELSE 1 END)",
                "sum(CASE WHEN t.claimed_at IS NOT NULL THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.forced THEN 1 ELSE 0 END)",
            ),
        ),
        Part(  # the ranking counts a ticket once per department offered it
            "grab offers",
            "grab_offers o JOIN tickets t ON t.id = o.ticket_id"
            " WHERE t.published_at >= :a AND t.published_at < :b",
            "t.published_at",
            (
                "sum(CASE WHEN t.department IS NULL AND t.grab_until > :now THEN 0 ELSE 1 END)",
                "sum(CASE WHEN t.department = o.department AND t.claimed_at IS NOT NULL"
                " THEN 1 ELSE 0 END)",
                "sum(CASE WHEN t.department = o.department AND t.forced THEN 1 ELSE 0 END)",
            ),
            key="o.department",
            city=False,
        ),
        Part(
            "rated",
            f"callbacks c JOIN tickets t ON t.id = c.ticket_id WHERE {done}",
            "c.finished_at",
            (
                "sum(CASE WHEN c.service_rating IS NOT NULL THEN 1 ELSE 0 END)",
                "sum(CASE WHEN c.service_rating IN (1, 2) THEN 1 ELSE 0 END)",
                "sum(CASE WHEN c.outcome_rating IS NOT NULL THEN 1 ELSE 0 END)",
                "sum(CASE WHEN c.outcome_rating IN (1, 2) THEN 1 ELSE 0 END)",
                "sum(CASE WHEN c.outcome_rating = 3 THEN 1 ELSE 0 END)",
            ),
            key="t.department",
        ),
        Part(
            "owed",
            "callbacks c JOIN tickets t ON t.id = c.ticket_id"
            " WHERE c.created_at >= :a AND c.created_at < :b AND c.status != 'cancelled'",
            "c.created_at",
            ("count(*)", "sum(CASE WHEN c.outcome_rating IS NOT NULL THEN 1 ELSE 0 END)"),
            key="t.department",
        ),
        Part(
            "states",
            spans,
            "at",
            (
                f"sum(CASE WHEN state IN ('on_call', 'wrapup') THEN {spans_value} ELSE 0 END)",
                f"sum(CASE WHEN state IN ('on_call', 'wrapup', 'ready') THEN {spans_value}"
                " ELSE 0 END)",
            ),
        ),
    ]


# Over the tables the service reads since 0019: the intake cohort is a range of the tickets'
# stored registering time and a state change's span its stored ``span_seconds``. The raw
# variant (the original baseline) finds the registering move in the audit trail and the spans
# by LEAD over the period's changes.
FACT_PARTS = parts(INTAKE, "t.fact_registered_at", SPANS, "span_seconds")
RAW_PARTS = parts(
    "ticket_transitions r JOIN tickets t ON t.id = r.ticket_id"
    " WHERE r.to_state = 'registered' AND r.at >= :a AND r.at < :b",
    "r.at",
    "(SELECT state, at, LEAD(at) OVER (PARTITION BY agent_id ORDER BY at) AS nxt"
    " FROM agent_state_changes WHERE at >= :a AND at < :b) w WHERE nxt IS NOT NULL",
    "{span}",
)
WIDTH = max(len(p.values) for p in FACT_PARTS)


def baseline_sql(table_parts: Sequence[Part], ranked: bool, dialect: str) -> Any:
    """The UNION ALL of the parts (the ranking's: those with a department), each grouped by
    period (and department), padded to one width."""

    def seconds(a: str, b: str) -> str:
        if dialect == "sqlite":
            return f"(julianday({b}) - julianday({a})) * 86400.0"
        return f"EXTRACT(EPOCH FROM {b} - {a})"

    selects = []
    for part in table_parts:
        if (part.key is None) if ranked else not part.city:
            continue
        period = f"CASE WHEN {part.at} >= :m THEN 1 ELSE 0 END"
        values = [v.replace("{p}", period) for v in part.values]
        values += ["0"] * (WIDTH - len(values))
        key, group = (part.key, "2, 3") if ranked else ("'all'", "3")
        selects.append(
            f"SELECT '{part.name}', {key}, {period}, {', '.join(values)}"
            f" FROM {part.source} GROUP BY {group}"
        )
    sql = (
        "\nUNION ALL\n".join(selects)
        .replace("{talk}", seconds("answered_at", "ended_at"))
        .replace("{missed}", seconds("at", "closed_at"))
        .replace("{repeat}", seconds("t.fact_matter_prior_at", "t.created_at"))
        .replace("{span}", seconds("at", "nxt"))
    )
    return text(sql).bindparams(
        *(
            bindparam(name, type_=DateTime(timezone=True))
            for name in ("a", "m", "b", "now", "ra", "rm")
        )
    )


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Figure:
    label: str
    service: float  # p50 seconds
    baseline: float  # over the tables the service reads (with the facts)
    raw: float  # the original baseline over the raw tables
    rows: int

    @property
    def ratio(self) -> float:
        return self.service / self.baseline if self.baseline else float("inf")

    @property
    def raw_ratio(self) -> float:
        return self.service / self.raw if self.raw else float("inf")


async def measure(url: str, runs: int) -> list[Figure]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    departments = DepartmentService(sessions)
    kpi = KpiService(sessions, departments, KpiSettings(), TZ, lambda: NOW)
    a, _ = MONTH.previous().bounds(TZ)
    m, b = MONTH.bounds(TZ)
    window = timedelta(days=KpiSettings().repeat_window_days)
    params = {"a": a, "m": m, "b": b, "now": NOW, "ra": a - window, "rm": m - window}
    out = []

    async def timed(stmt: Any) -> float:
        t0 = time.perf_counter()
        async with sessions() as session:
            (await session.execute(stmt, params)).all()
        return time.perf_counter() - t0

    try:
        for label, by in (
            ("city month", Dimension.NONE),
            ("department ranking", Dimension.DEPARTMENT),
        ):
            ranked = by is Dimension.DEPARTMENT
            facts = baseline_sql(FACT_PARTS, ranked, engine.dialect.name)
            raw = baseline_sql(RAW_PARTS, ranked, engine.dialect.name)
            times: dict[str, list[float]] = {"service": [], "facts": [], "raw": []}
            rows = 0
            for _ in range(runs):  # alternate, so all three see the same cache and load
                t0 = time.perf_counter()
                report = await kpi.report(MONTH, by)
                times["service"].append(time.perf_counter() - t0)
                rows = len(report.rows)
                times["facts"].append(await timed(facts))
                times["raw"].append(await timed(raw))
            p50 = {k: statistics.median(v) for k, v in times.items()}
            out.append(Figure(label, p50["service"], p50["facts"], p50["raw"], rows))
    finally:
        await engine.dispose()
    return out


def report_lines(db: str, figures: Sequence[Figure]) -> list[str]:
    return [
        f"{db:10} {f.label:19} service p50 {f.service * 1000:9.1f} ms   "
        f"baseline SQL p50 {f.baseline * 1000:9.1f} ms   ratio {f.ratio:5.2f}   "
        f"raw-table baseline p50 {f.raw * 1000:9.1f} ms   ratio {f.raw_ratio:5.2f}   "
        f"rows {f.rows}"
        for f in figures
    ]


async def catalogue_codes(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        departments = DepartmentService(session_factory(engine))
        await departments.load_if_empty(CATALOGUE)
        return sorted((await departments.catalogue()).departments)
    finally:
        await engine.dispose()


def run(db: str, url: str, size: Size, runs: int) -> list[str]:
    """Seed on main's schema (``BASE``), upgrade to the head (the facts' back-fill), measure."""
    lines = []
    upgrade(url, BASE)
    codes = asyncio.run(catalogue_codes(url))
    t0 = time.perf_counter()
    if db == "sqlite":
        counts = seed_sqlite(Path(url.removeprefix("sqlite:///")), size, codes)
    else:
        counts = seed_postgres(url, size, codes)
    seeded = time.perf_counter() - t0
    lines.append(
        f"{db}: seeded {sum(counts.values()):,} rows in {seeded:.0f} s "
        f"({json.dumps(counts)}); {len(codes)} departments"
    )
    print(lines[-1], flush=True)
    t0 = time.perf_counter()
    upgrade(url, "head")
    if db == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("ANALYZE")
    else:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("ANALYZE tickets")
    lines.append(f"{db}: head's facts back-filled and indexed in {time.perf_counter() - t0:.1f} s")
    print(lines[-1], flush=True)
    for line in report_lines(db, asyncio.run(measure(url, runs))):
        lines.append(line)
        print(line, flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=3_000_000)
    parser.add_argument("--tickets", type=int, default=2_000_000)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    size = Size(args.calls, args.tickets, args.agents)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-kpis-"))
    print(f"size: {size}; month {MONTH.label}; runs {args.runs}", flush=True)
    if args.db in ("sqlite", "both"):
        run("sqlite", f"sqlite:///{work / 'kpis.db'}", size, args.runs)
    if args.db in ("postgresql", "both"):
        from tests.conftest import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            run("postgresql", server.create_database(), size, args.runs)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
