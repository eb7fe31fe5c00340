"""Reports (日报 … 专报) over the KPIs' hand-counted fixture (tests/unit/test_kpis_fixture.py),
on SQLite and PostgreSQL: every section, the XLSX cells and the CSV, progress and failure,
the schedule's idempotency under an injected clock.

The fixture's period is the custom fortnight Mon 29 Sep .. Sun 12 Oct 2025; its intake
(first registered in the period, merged left out) is T1 T2 T3 T4 T5 T7 T8 T10 T13 = 9; the
previous fortnight's is T11 (咨询, phone) and T12 (占道经营, wechat).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select, update

from app.kpis.service import KpiService
from app.models import StoredReport, Ticket
from app.reports.exports import csv_bytes, xlsx
from app.reports.service import NO_SURGES, ReportData, ReportKind, ReportService
from core.db import create_engine, session_factory
from core.kpis import KpiSettings
from kpis import SHANGHAI, custom
from tests.unit.test_kpis_fixture import NOW, PERIOD, load_fixture

ADDRESS = "河东区东关街道新华小区3号楼"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def reports(db_url: str) -> AsyncIterator[ReportService]:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    departments, ids = await load_fixture(sessions)
    async with sessions.begin() as session:
        # Three tickets at one address (one typed with spaces around it).
        for name, address in (("T2", ADDRESS), ("T8", ADDRESS), ("T4", f" {ADDRESS} ")):
            await session.execute(
                update(Ticket).where(Ticket.id == ids[name]).values(address=address)
            )
        await session.execute(
            update(Ticket).where(Ticket.id == ids["T3"]).values(summary="占道摆摊")
        )
    clock = Clock(NOW)
    kpis = KpiService(sessions, departments, KpiSettings(), SHANGHAI, clock)
    service = ReportService(sessions, kpis, departments, SHANGHAI, clock)
    service.test_clock = clock  # type: ignore[attr-defined]
    service.test_ids = ids  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        await service.stop()
        await engine.dispose()


def by_key(rows: list[Any]) -> dict[str, tuple[int, int, float | None]]:
    return {r.key: (r.count, r.previous, r.change) for r in rows}


async def test_every_section_of_the_fortnight(reports: ReportService) -> None:
    data = await reports.build(ReportKind.SPECIAL, PERIOD)
    assert data.title == "12345 热线专报（2025-09-29 至 2025-10-12）"
    assert data.period.previous_first == date(2025, 9, 15)
    assert (data.totals.tickets, data.totals.previous, data.totals.change) == (9, 2, 3.5)
    assert by_key(data.by_category) == {
        "噪音": (4, 0, None),  # T2 T4 T7 T8 (T6 merged)
        "咨询": (2, 1, 1.0),  # T1 T10; T11
        "占道经营": (2, 1, 1.0),  # T3 T5; T12
        "供水": (1, 0, None),  # T13
    }
    assert data.by_category[0].key == "噪音"
    assert by_key(data.by_channel) == {
        "phone:12345": (8, 1, 7.0),
        "web": (1, 0, None),
        "wechat": (0, 1, -1.0),
    }
    assert {v.key: v.name for v in data.by_channel}["phone:12345"] == "电话 12345"
    daily = {d.day.isoformat(): d.count for d in data.daily}
    assert len(daily) == 14 and sum(daily.values()) == 9
    assert daily["2025-09-29"] == 0 and daily["2025-09-30"] == 3  # T1 T2 T3
    assert daily["2025-10-11"] == 1 and daily["2025-10-12"] == 0  # T7 on the make-up Saturday
    assert data.hourly == []  # a fortnight has no hourly trend

    kpis = {k.code: k for k in data.kpis}
    assert (kpis["answer_rate"].numerator, kpis["answer_rate"].denominator) == (6, 10)
    assert kpis["answer_rate"].value == 0.6 and kpis["answer_rate"].meets_target is False
    assert kpis["on_time_rate"].value == 0.75 and kpis["on_time_rate"].previous is None
    assert kpis["avg_wait"].unit == "seconds" and kpis["avg_wait"].value == 12.6667
    assert kpis["completion_rate"].name == "办结率"

    ranking = {r.code: r for r in data.ranking}
    # water: T13 signed and replied in time, its callback unreachable: 100.
    assert ranking["water"].rank == 1 and ranking["water"].score == 100
    # hedong (with its streets, communities and bureaus): response 2/3, on time 2/2,
    # satisfied 2/2 (T2, T3), resolved 1/2 (T3 不满意) → 79.17; dispatched T2 T3 T4 T8.
    hedong = ranking["hedong"]
    assert hedong.rank == 2 and hedong.score == 79.17 and hedong.name == "河东区人民政府"
    assert (hedong.dispatched, hedong.forced, hedong.overdue) == (4, 0, 0)
    # cgj: T5 forced on it and signed late; T12's reply (due 30 Sep) never came: overdue.
    cgj = ranking["cgj"]
    assert (cgj.rank, cgj.score, cgj.dispatched, cgj.forced, cgj.overdue) == (3, 0, 1, 1, 1)
    assert cgj.satisfaction_rate is None
    assert "hedong.dongguan" not in ranking  # streets are inside their district's row

    spots = data.hotspots
    assert [(v.key, v.count) for v in spots.categories][:1] == [("噪音", 4)]
    assert [(a.address, a.count) for a in spots.addresses] == [(ADDRESS, 3)]
    # T2 and T8 (xinhua community) and T4 (the street itself) → 东关街道.
    assert [(s.name, s.district, s.count) for s in spots.streets] == [
        ("东关街道办事处", "河东区人民政府", 3)
    ]
    # 6–12 Oct against 29 Sep–5 Oct: 供水 1 (T13) against 0; 噪音 2 (T7 T8) against 2.
    assert spots.rising_from == date(2025, 10, 6)
    assert [(r.category, r.this_week, r.last_week, r.change) for r in spots.rising] == [
        ("供水", 1, 0, 1)
    ]
    assert spots.topic_candidate == "供水"

    assert data.surges == [] and data.surges_note == NO_SURGES
    # 不满意 on either question: T1's service (30 Sep), T3's outcome (10 Oct).
    assert data.unsatisfied_total == 2
    ids = reports.test_ids  # type: ignore[attr-defined]
    assert [u.ticket_id for u in data.unsatisfied] == [ids["T1"], ids["T3"]]
    t3 = data.unsatisfied[1]
    assert (t3.category, t3.department, t3.summary, t3.state) == (
        "占道经营",
        "河东区城市管理局（综合行政执法局）",
        "占道摆摊",
        "reopened",
    )
    assert (t3.service_rating, t3.outcome_rating) == (2, 3)
    # The stored form reads back the same.
    assert ReportData.model_validate(data.model_dump(mode="json")) == data


async def test_a_day_has_its_hourly_trend(reports: ReportService) -> None:
    # 30 Sep: T1 registered 09:03, T2 10:02, T3 11:02 (Shanghai).
    data = await reports.build(ReportKind.DAILY, custom(date(2025, 9, 30), date(2025, 9, 30)))
    assert len(data.hourly) == 24 and sum(data.hourly) == 3
    assert data.hourly[9:12] == [1, 1, 1] and [d.count for d in data.daily] == [3]
    book = openpyxl.load_workbook(io.BytesIO(xlsx(data)))
    assert [c.value for c in book["分时趋势"][12]] == ["10:00", 1]


async def test_a_special_report_is_one_category(reports: ReportService) -> None:
    data = await reports.build(ReportKind.SPECIAL, PERIOD, "噪音")
    assert data.title == "12345 热线「噪音」专报（2025-09-29 至 2025-10-12）"
    assert (data.totals.tickets, data.totals.previous) == (4, 0)
    assert by_key(data.by_category) == {"噪音": (4, 0, None)}
    assert by_key(data.by_channel) == {"phone:12345": (3, 0, None), "web": (1, 0, None)}
    kpis = {k.code: k for k in data.kpis}
    assert "answer_rate" not in kpis  # calls have no category
    assert (kpis["completion_rate"].numerator, kpis["completion_rate"].denominator) == (1, 4)
    # Disputes of 噪音 tickets only: T2's (T13's is 供水).
    assert (kpis["dispute_rate"].numerator, kpis["dispute_rate"].denominator) == (1, 3)
    assert [r.code for r in data.ranking] == ["hedong"]
    assert data.unsatisfied == [] and data.unsatisfied_total == 0
    assert data.hotspots.rising == [] and data.hotspots.topic_candidate is None


async def test_xlsx_cells_and_csv(reports: ReportService) -> None:
    data = await reports.build(ReportKind.SPECIAL, PERIOD)
    book = openpyxl.load_workbook(io.BytesIO(xlsx(data)))
    assert book.sheetnames == [
        "概况",
        "渠道",
        "类别",
        "每日趋势",
        "分时趋势",
        "考核指标",
        "排名通报",
        "热点类别",
        "热点地址",
        "热点街道",
        "上升类别",
        "突增预警",
        "不满意工单",
    ]
    summary = book["概况"]
    assert summary["A1"].value == "项目" and summary["B2"].value == data.title
    assert summary["B7"].value == 9 and summary["B9"].value == 3.5
    assert summary["B9"].number_format == "+0.0%;-0.0%;0.0%"
    cats = book["类别"]
    assert [c.value for c in cats[1]] == ["名称", "本期件数", "上期件数", "环比"]
    assert [c.value for c in cats[2]] == ["噪音", 4, 0, None]
    assert [c.value for c in cats[3]] == ["占道经营", 2, 1, 1]  # ties by name
    assert cats["D3"].number_format == "+0.0%;-0.0%;0.0%"
    kpis = {row[0].value: row for row in book["考核指标"].iter_rows(min_row=2)}
    on_time = kpis["按时办结率"]
    assert on_time[1].value == 0.75 and on_time[1].number_format == "0.0%"
    assert on_time[4].value == 3 and on_time[5].value == 4
    wait = kpis["平均等待时长"]
    assert wait[1].value == pytest.approx(12.6667) and "秒" in wait[1].number_format
    rank = book["排名通报"]
    assert [c.value for c in rank[1]][:5] == ["名次", "单位", "派单件数", "指定派发", "超期件数"]
    assert [c.value for c in rank[2]][:3] == [1, "青川水务集团有限公司", 1]
    assert rank["G2"].value == 1 and rank["G2"].number_format == "0.0%"
    assert rank.cell(rank.max_row, 1).value.startswith("按综合得分排序")
    surges = book["突增预警"]
    assert surges["A3"].value == NO_SURGES
    unhappy = book["不满意工单"]
    assert unhappy["A2"].value == reports.test_ids["T1"]  # type: ignore[attr-defined]
    assert unhappy["H2"].value == "不满意" and unhappy["I3"].value == "不满意"
    assert isinstance(book["每日趋势"]["B3"].value, int)

    raw = csv_bytes(data)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    start = rows.index(["【类别】"])
    assert rows[start + 1] == ["名称", "本期件数", "上期件数", "环比"]
    assert rows[start + 2] == ["噪音", "4", "0", ""]
    assert rows[start + 3] == ["占道经营", "2", "1", "+100.0%"]
    kpi_rows = {r[0]: r for r in rows[rows.index(["【考核指标】"]) + 2 :] if r}
    assert kpi_rows["按时办结率"][1] == "75.0%"
    assert ["【突增预警】"] in rows and [NO_SURGES] in rows


async def test_stored_report_runs_in_the_background_with_progress(
    reports: ReportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str | None, int | None]] = []
    original = reports._update

    async def spy(report_id: int, **values: Any) -> None:
        seen.append((values.get("status"), values.get("progress")))
        await original(report_id, **values)

    monkeypatch.setattr(reports, "_update", spy)
    row = await reports.request(ReportKind.SPECIAL, PERIOD, "噪音", actor="supervisor:wang")
    assert row.status == "queued" and row.progress == 0
    await reports.idle()
    assert seen == [
        ("running", 1),
        (None, 20),
        (None, 40),
        (None, 60),
        (None, 75),
        (None, 95),
        ("done", 100),
    ]
    stored = await reports.get(row.id)
    assert stored.status == "done" and stored.finished_at is not None
    assert stored.data is not None and stored.data["totals"]["tickets"] == 4
    assert [r.id for r in await reports.recent()] == [row.id]


async def test_a_failed_build_is_stored_as_failed(
    reports: ReportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> ReportData:
        raise RuntimeError("database went away")

    monkeypatch.setattr(reports, "build", broken)
    row = await reports.request(ReportKind.SPECIAL, PERIOD, "噪音", actor="supervisor:wang")
    await reports.idle()
    stored = await reports.get(row.id)
    assert stored.status == "failed" and stored.error == "RuntimeError: database went away"
    assert stored.data is None


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


async def count_reports(reports: ReportService) -> int:
    async with reports._sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(StoredReport)) or 0)


@pytest.mark.parametrize(
    ("kind", "first", "last", "next_first"),
    [
        (ReportKind.DAILY, date(2025, 10, 12), date(2025, 10, 12), date(2026, 1, 13)),
        (ReportKind.WEEKLY, date(2025, 10, 6), date(2025, 10, 12), date(2026, 1, 5)),
        (ReportKind.MONTHLY, date(2025, 9, 1), date(2025, 9, 30), date(2025, 12, 1)),
        (ReportKind.QUARTERLY, date(2025, 7, 1), date(2025, 9, 30), date(2025, 10, 1)),
    ],
)
async def test_the_schedule_makes_each_report_once(
    reports: ReportService, kind: ReportKind, first: date, last: date, next_first: date
) -> None:
    clock: Clock = reports.test_clock  # type: ignore[attr-defined]
    clock.now = shanghai(2025, 10, 13, 0, 30)
    made = await reports.scheduled(kind)
    again = await reports.scheduled(kind)  # the job fired twice, or the node restarted
    assert again.id == made.id and await count_reports(reports) == 1
    assert (made.period_first, made.period_last, made.created_by) == (first, last, "schedule")
    await reports.idle()
    assert (await reports.get(made.id)).status == "done"
    # Later on: the period then just past, a new report.
    clock.now = shanghai(2026, 1, 14, 0, 30)
    later = await reports.scheduled(kind)
    assert later.id != made.id and later.period_first == next_first
    assert await count_reports(reports) == 2
