"""Routes of the KPIs (考核指标): the figures per period and breakdown, and the excluded periods
(剔除时段) of 人工接通率.

Who sees what: supervisors and admins everything; a department user the ticket KPIs of its
department and those below it; an agent its own figures (by=agent, its row only).
Dispatchers and others: 403.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.auth.service import Principal, Role
from app.edge import SUPERVISORS, CurrentUser, RowId, RuntimeDep, authenticated
from app.kpis.service import EVERYTHING, ExcludedPeriodNotFound, Report, Scope
from kpis import Dimension, ExclusionReason, PeriodError, PeriodKind, Rate, custom, period_of

router = APIRouter(prefix="/api/kpis", dependencies=[Depends(authenticated)])

# Dates the calendar arithmetic accepts (and the working-day data roughly covers).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
MAX_EXCLUDED = timedelta(days=31)


class FigureOut(BaseModel):
    numerator: float
    denominator: float
    value: float | None


class KpiFigureOut(FigureOut):
    previous: FigureOut
    target: float | None
    meets_target: bool | None


class RowOut(BaseModel):
    key: str | None
    name: str
    kpis: dict[str, KpiFigureOut]
    state_seconds: dict[str, float]


class DefinitionOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    numerator: str
    denominator: str
    excluded: str
    source: str
    unit: str
    target: float | None
    higher_is_better: bool
    setting: str


class PeriodOut(BaseModel):
    kind: str
    label: str
    first: date
    last: date
    starts_at: datetime
    ends_at: datetime


class ExcludedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    note: str
    created_by: str
    created_at: datetime


class ReportOut(BaseModel):
    period: PeriodOut
    previous: PeriodOut
    by: str
    settings: dict[str, Any]
    definitions: list[DefinitionOut]
    excluded_periods: list[ExcludedOut]
    rows: list[RowOut]


class ExcludedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: ExclusionReason
    note: str = Field(default="", max_length=200)


def _figure(rate: Rate) -> dict[str, Any]:
    return {
        "numerator": rate.numerator,
        "denominator": rate.denominator,
        "value": rate.rounded(6),
    }


def _period_out(report: Report, which: str) -> dict[str, Any]:
    period = report.period if which == "current" else report.previous
    start, end = period.bounds(report.tz)
    return {
        "kind": period.kind.value,
        "label": period.label,
        "first": period.first,
        "last": period.last,
        "starts_at": start,
        "ends_at": end,
    }


def _report_out(report: Report) -> dict[str, Any]:
    targets = {
        "answer_rate": report.settings.answer_rate_target,
        "answer_rate_adjusted": report.settings.answer_rate_target,
        "service_level": report.settings.service_level_target,
    }
    rows = []
    for row in report.rows:
        figures = {}
        for kpi in report.kpis:
            rate = row.kpis[kpi.code]
            target = targets.get(kpi.code, kpi.target)
            figures[kpi.code] = {
                **_figure(rate),
                "previous": _figure(row.previous[kpi.code]),
                "target": target,
                "meets_target": rate.meets(target, higher_is_better=kpi.higher_is_better),
            }
        rows.append(
            {"key": row.key, "name": row.name, "kpis": figures, "state_seconds": row.state_seconds}
        )
    return {
        "period": _period_out(report, "current"),
        "previous": _period_out(report, "previous"),
        "by": report.by.value,
        "settings": report.settings.model_dump(),
        "definitions": [
            {
                "code": k.code,
                "name_zh": k.name_zh,
                "name_en": k.name_en,
                "numerator": k.numerator,
                "denominator": k.denominator,
                "excluded": k.excluded,
                "source": k.source,
                "unit": k.unit.value,
                "target": targets.get(k.code, k.target),
                "higher_is_better": k.higher_is_better,
                "setting": k.setting,
            }
            for k in report.kpis
        ],
        "excluded_periods": report.excluded,
        "rows": rows,
    }


def _day(value: date | None, name: str) -> date | None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise HTTPException(422, f"{name} must lie between {FIRST_DAY} and {LAST_DAY}")
    return value


async def _scope(rt: Any, who: Principal) -> Scope:
    if who.role in (Role.SUPERVISOR, Role.ADMIN):
        return EVERYTHING
    if who.role is Role.DEPARTMENT and who.department:
        return Scope(departments=await rt.departments.scope(who.department))
    if who.role is Role.AGENT and who.agent_id:
        return Scope(agent=who.agent_id)
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {who.role.value} role may not read KPIs")


@router.get("", response_model=ReportOut)
async def report(
    rt: RuntimeDep,
    who: CurrentUser,
    period: PeriodKind = PeriodKind.DAY,
    day: Annotated[date | None, Query(alias="date")] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    by: Dimension = Dimension.NONE,
) -> Any:
    """The KPIs of the period holding ``date`` (default today), or of ``from``..``to``
    (period=custom), broken down ``by``; each with the previous period's figure."""
    scope = await _scope(rt, who)
    if scope.agent is not None and by not in (Dimension.AGENT, Dimension.NONE):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an agent sees its own figures (by=agent)")
    _day(day, "date"), _day(first, "from"), _day(last, "to")
    try:
        if period is PeriodKind.CUSTOM:
            if first is None or last is None:
                raise HTTPException(422, "period=custom needs from and to (YYYY-MM-DD)")
            chosen = custom(first, last)
        else:
            chosen = period_of(period, day or rt.kpis.today())
        if chosen.previous().first < FIRST_DAY:
            raise PeriodError(f"periods start on {FIRST_DAY} or later")
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _report_out(await rt.kpis.report(chosen, by, scope))


@router.get("/excluded-periods", response_model=list[ExcludedOut], dependencies=[SUPERVISORS])
async def excluded_periods(rt: RuntimeDep) -> Any:
    return await rt.kpis.excluded()


@router.post(
    "/excluded-periods",
    response_model=ExcludedOut,
    status_code=201,
    dependencies=[SUPERVISORS],
)
async def add_excluded_period(body: ExcludedBody, rt: RuntimeDep, who: CurrentUser) -> Any:
    for moment in (body.starts_at, body.ends_at):
        _day(moment.date(), "starts_at/ends_at")
    if body.ends_at <= body.starts_at:
        raise HTTPException(422, "ends_at must be after starts_at")
    if body.ends_at - body.starts_at > MAX_EXCLUDED:
        raise HTTPException(422, f"an excluded period may last at most {MAX_EXCLUDED.days} days")
    return await rt.kpis.add_excluded(
        body.starts_at, body.ends_at, body.reason, body.note, actor=who.actor
    )


@router.delete("/excluded-periods/{row_id}", status_code=204, dependencies=[SUPERVISORS])
async def delete_excluded_period(row_id: RowId, rt: RuntimeDep) -> None:
    try:
        await rt.kpis.delete_excluded(row_id)
    except ExcludedPeriodNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
