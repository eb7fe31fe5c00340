"""A stored report as a file: XLSX (openpyxl; one sheet per section, Chinese headers, numbers
as numbers, shares formatted as percentages) or CSV (UTF-8 with a BOM so that Excel reads the
Chinese; the sections one after the other, each under its name).

Both are made from the report's stored data (``ReportData``), when they are downloaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.reports.service import KIND_NAMES, ReportData, ReportKind

PERCENT = "0.0%"
CHANGE = "+0.0%;-0.0%;0.0%"
SECONDS = '0.0" 秒"'
RATINGS = {1: "满意", 2: "基本满意", 3: "不满意"}
STATES = {
    "draft": "受理中",
    "registered": "已受理",
    "answered": "直接答复",
    "dispatched": "已派单",
    "accepted": "已签收",
    "disputed": "异议中",
    "replied": "已答复",
    "callback": "回访中",
    "reopened": "重办",
    "closed": "办结",
    "merged": "已并单",
}


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]
    format: str | None = None  # an Excel number format (percentages)
    width: int = 14
    # The format per row instead (KPIs: shares as percentages, averages as seconds).
    format_for: Callable[[Any], str | None] | None = None

    def number_format(self, row: Any) -> str | None:
        return self.format_for(row) if self.format_for else self.format


@dataclass(frozen=True)
class Section:
    name: str  # the sheet's name (≤ 31 characters)
    columns: tuple[Column, ...]
    rows: list[Any]
    note: str = ""


def _rating(value: int | None) -> str:
    return "" if value is None else RATINGS.get(value, str(value))


def sections(data: ReportData) -> list[Section]:
    """The report's tables, in the order the page shows them."""
    volume = (
        Column("名称", lambda v: v.name, width=24),
        Column("本期件数", lambda v: v.count),
        Column("上期件数", lambda v: v.previous),
        Column("环比", lambda v: v.change, CHANGE),
    )

    def kpi_format(line: Any) -> str:
        return PERCENT if line.unit == "ratio" else SECONDS

    summary = [
        ("报告", data.title),
        ("类型", KIND_NAMES[ReportKind(data.kind)]),
        ("专题类别", data.topic or ""),
        ("统计周期", f"{data.period.first} 至 {data.period.last}"),
        ("上期", f"{data.period.previous_first} 至 {data.period.previous_last}"),
        ("受理工单（本期）", data.totals.tickets),
        ("受理工单（上期）", data.totals.previous),
        ("环比", data.totals.change),
        ("生成时间", data.generated_at.isoformat(timespec="seconds")),
    ]
    return [
        Section(
            "概况",
            (
                Column("项目", lambda r: r[0], width=18),
                Column("内容", lambda r: r[1], CHANGE, width=48),
            ),
            summary,
        ),
        Section("渠道", volume, data.by_channel),
        Section("类别", volume, data.by_category),
        Section(
            "每日趋势",
            (
                Column("日期", lambda d: d.day.isoformat(), width=12),
                Column("受理件数", lambda d: d.count),
            ),
            data.daily,
        ),
        Section(
            "分时趋势",
            (
                Column("时段", lambda r: f"{r[0]:02d}:00", width=10),
                Column("受理件数", lambda r: r[1]),
            ),
            list(enumerate(data.hourly)),
            "" if data.hourly else "日报才有分时趋势",
        ),
        Section(
            "考核指标",
            (
                Column("指标", lambda k: k.name, width=28),
                Column("本期", lambda k: k.value, format_for=kpi_format),
                Column("上期", lambda k: k.previous, format_for=kpi_format),
                Column("目标", lambda k: k.target, format_for=kpi_format),
                Column("分子", lambda k: k.numerator),
                Column("分母", lambda k: k.denominator),
                Column("达标", lambda k: {True: "是", False: "否", None: ""}[k.meets_target]),
                Column("单位", lambda k: "比率" if k.unit == "ratio" else "秒"),
            ),
            data.kpis,
        ),
        Section(
            "排名通报",
            (
                Column("名次", lambda r: r.rank, width=8),
                Column("单位", lambda r: r.name, width=32),
                Column("派单件数", lambda r: r.dispatched),
                Column("指定派发", lambda r: r.forced),
                Column("超期件数", lambda r: r.overdue),
                Column("响应率", lambda r: r.response_rate, PERCENT),
                Column("按时办结率", lambda r: r.on_time_rate, PERCENT),
                Column("满意率", lambda r: r.satisfaction_rate, PERCENT),
                Column("解决率", lambda r: r.resolution_rate, PERCENT),
                Column("综合得分", lambda r: r.score),
            ),
            data.ranking,
            data.ranking_note,
        ),
        Section("热点类别", volume, data.hotspots.categories),
        Section(
            "热点地址",
            (Column("地址", lambda a: a.address, width=40), Column("件数", lambda a: a.count)),
            data.hotspots.addresses,
        ),
        Section(
            "热点街道",
            (
                Column("街道（乡镇）", lambda s: s.name, width=24),
                Column("所属区县", lambda s: s.district, width=20),
                Column("件数", lambda s: s.count),
            ),
            data.hotspots.streets,
        ),
        Section(
            "上升类别",
            (
                Column("类别", lambda r: r.category, width=20),
                Column("近7天", lambda r: r.this_week),
                Column("前7天", lambda r: r.last_week),
                Column("增加", lambda r: r.change),
                Column("增幅", lambda r: r.ratio, CHANGE),
            ),
            data.hotspots.rising,
            f"每月一题候选：{data.hotspots.topic_candidate}"
            if data.hotspots.topic_candidate
            else "",
        ),
        Section(
            "突增预警",
            (
                Column("时间", lambda s: s.at.isoformat(timespec="minutes"), width=20),
                Column("类别", lambda s: s.category, width=20),
                Column("件数", lambda s: s.count),
                Column("预期", lambda s: s.expected),
                Column("说明", lambda s: s.note, width=30),
            ),
            data.surges,
            data.surges_note,
        ),
        Section(
            "不满意工单",
            (
                Column("工单号", lambda u: u.ticket_id, width=10),
                Column("类别", lambda u: u.category, width=16),
                Column("承办单位", lambda u: u.department, width=28),
                Column("地址", lambda u: u.address, width=30),
                Column("诉求摘要", lambda u: u.summary, width=30),
                Column("工单状态", lambda u: STATES.get(u.state, u.state), width=10),
                Column("回访时间", lambda u: u.finished_at.isoformat(timespec="minutes"), width=20),
                Column("服务评价", lambda u: _rating(u.service_rating), width=10),
                Column("办理结果评价", lambda u: _rating(u.outcome_rating), width=12),
            ),
            data.unsatisfied,
            f"共 {data.unsatisfied_total} 件"
            + (
                f"（列出前 {len(data.unsatisfied)} 件）"
                if data.unsatisfied_total > len(data.unsatisfied)
                else ""
            ),
        ),
    ]


def _cells(section: Section) -> Iterator[list[Any]]:
    for row in section.rows:
        yield [column.value(row) for column in section.columns]


def xlsx(data: ReportData) -> bytes:
    book = Workbook()
    first = True
    for section in sections(data):
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        first = False
        sheet.title = section.name
        sheet.append([c.header for c in section.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for values in _cells(section):
            sheet.append(values)
        for index, column in enumerate(section.columns, 1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
            cells = sheet.iter_rows(min_row=2, max_row=len(section.rows) + 1, min_col=index)
            for row, (cell, *_) in zip(section.rows, cells, strict=True):
                fmt = column.number_format(row)
                if fmt is not None and isinstance(cell.value, int | float):
                    cell.number_format = fmt
        if not section.rows or section.note:
            sheet.append([])
            sheet.append([section.note or "本期无数据"])
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_value(value: Any, fmt: str | None) -> Any:
    """Shares as "95.2%" (what the page shows); counts and seconds as plain numbers."""
    if value is None:
        return ""
    if fmt is not None and "%" in fmt and isinstance(value, int | float):
        return f"{value * 100:+.1f}%" if fmt == CHANGE else f"{value * 100:.1f}%"
    return value


def csv_bytes(data: ReportData) -> bytes:
    """Every section under a 【name】 line, a blank line between them; UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, section in enumerate(sections(data)):
        if n:
            writer.writerow([])
        writer.writerow([f"【{section.name}】"])
        writer.writerow([c.header for c in section.columns])
        for row in section.rows:
            writer.writerow(
                [_csv_value(c.value(row), c.number_format(row)) for c in section.columns]
            )
        if not section.rows or section.note:
            writer.writerow([section.note or "本期无数据"])
    return out.getvalue().encode("utf-8-sig")
