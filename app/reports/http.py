"""Routes of the reports (日报, 周报, 月报, 季报, 专报): generate one (built in the background;
poll its progress), list them, read one, download it as XLSX or CSV.

Who: supervisors and admins only. A department user does not read the centre's reports
(they rank every department against the others); its own figures are on /api/kpis.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.edge import SUPERVISORS, CurrentUser, RowId, RuntimeDep, authenticated
from app.models import StoredReport
from app.reports.exports import csv_bytes, xlsx
from app.reports.service import (
    KIND_NAMES,
    ReportData,
    ReportError,
    ReportKind,
    ReportNotFound,
    report_period,
)
from kpis import PeriodError

router = APIRouter(
    prefix="/api/reports", dependencies=[Depends(authenticated), SUPERVISORS], tags=["reports"]
)

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: ReportKind
    day: date | None = Field(default=None, alias="date", description="a day in the period")
    first: date | None = Field(default=None, alias="from", description="专报: the first day")
    last: date | None = Field(default=None, alias="to", description="专报: the last day")
    category: str | None = Field(default=None, min_length=1, max_length=64)


class ReportOut(BaseModel):
    id: int
    kind: str
    kind_name: str
    period_first: date
    period_last: date
    topic: str | None
    status: str
    progress: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None


class ReportWithData(ReportOut):
    data: ReportData | None


def _out(row: StoredReport, *, data: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id,
        "kind": row.kind,
        "kind_name": KIND_NAMES[ReportKind(row.kind)],
        "period_first": row.period_first,
        "period_last": row.period_last,
        "topic": row.topic,
        "status": row.status,
        "progress": row.progress,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "error": row.error,
    }
    if data:
        out["data"] = row.data
    return out


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ReportOut)
async def generate(body: ReportIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    """Queue a report; it is built in the background (poll ``GET /api/reports/{id}``)."""
    for value in (body.day, body.first, body.last):
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise HTTPException(422, f"dates must lie between {FIRST_DAY} and {LAST_DAY}")
    if body.kind is ReportKind.SPECIAL:
        if body.category is None:
            raise HTTPException(422, "a 专报 (special) needs a category")
        if body.category not in await rt.departments.categories():
            raise HTTPException(422, f"{body.category!r} is not a category of the catalogue")
    elif body.category is not None:
        raise HTTPException(422, "only a 专报 (special) takes a category")
    try:
        period = report_period(body.kind, body.day or rt.kpis.today(), body.first, body.last)
        row = await rt.reports.request(body.kind, period, body.category, actor=who.actor)
    except (ReportError, PeriodError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return _out(row)


@router.get("", response_model=list[ReportOut])
async def list_reports(
    rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """Stored reports, newest first (without their figures)."""
    return [_out(row) for row in await rt.reports.recent(limit)]


async def _done(rt: Any, report_id: int) -> tuple[StoredReport, ReportData]:
    row = await _get(rt, report_id)
    if row.status != "done" or row.data is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"report {report_id} is {row.status}")
    return row, ReportData.model_validate(row.data)


async def _get(rt: Any, report_id: int) -> StoredReport:
    try:
        row: StoredReport = await rt.reports.get(report_id)
    except ReportNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return row


def _download(body: bytes, media: str, row: StoredReport, data: ReportData, ext: str) -> Response:
    name = f"{data.title}.{ext}"
    ascii_name = f"report-{row.id}-{row.kind}-{row.period_first}.{ext}"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


# Before /{report_id}: "7.xlsx" would otherwise be taken for a report id (and refused).
@router.get("/{report_id}.xlsx", response_class=Response)
async def download_xlsx(report_id: RowId, rt: RuntimeDep) -> Response:
    """The report as an Excel workbook: one sheet per section."""
    row, data = await _done(rt, report_id)
    return _download(xlsx(data), XLSX, row, data, "xlsx")


@router.get("/{report_id}.csv", response_class=Response)
async def download_csv(report_id: RowId, rt: RuntimeDep) -> Response:
    """The report as CSV (UTF-8 with a BOM): the sections one after the other."""
    row, data = await _done(rt, report_id)
    return _download(csv_bytes(data), "text/csv; charset=utf-8", row, data, "csv")


@router.get("/{report_id}", response_model=ReportWithData)
async def read_report(report_id: RowId, rt: RuntimeDep) -> Any:
    """The report's status and progress; its figures (``data``) once done."""
    return _out(await _get(rt, report_id), data=True)
