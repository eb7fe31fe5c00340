"""Routes of surge alerts (突增预警), for supervisors (and admins): list the alerts with the
tickets behind them, open one, acknowledge it (已知悉), or run a detector pass now."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict

from app.cases.service import as_utc
from app.edge import SUPERVISORS, CurrentUser, RowId, RuntimeDep, authenticated
from app.models import SurgeAlertRow, Ticket
from app.surges.service import SurgeNotFound

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated), SUPERVISORS])

# The list's default span: the last week, so an unacknowledged alert does not slip by.
DEFAULT_DAYS = 7
# Dates a list may ask for (far dates would overflow the local-to-UTC arithmetic).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


class SurgeOut(BaseModel):
    id: int
    category: str
    area_kind: str
    area: str
    window: str
    window_start: datetime
    window_end: datetime
    count: int
    expected: float
    p_value: float
    robust_z: float
    message: str
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ticket_ids: list[int]

    @classmethod
    def of(cls, row: SurgeAlertRow) -> SurgeOut:
        return cls(
            id=row.id,
            category=row.category,
            area_kind=row.area_kind,
            area=row.area,
            window=row.window,
            window_start=as_utc(row.window_start),
            window_end=as_utc(row.window_end),
            count=row.count,
            expected=round(row.expected, 3),
            p_value=row.p_value,
            robust_z=round(row.robust_z, 2),
            message=row.message,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            acknowledged_at=as_utc(row.acknowledged_at) if row.acknowledged_at else None,
            acknowledged_by=row.acknowledged_by,
            ticket_ids=[link.ticket_id for link in row.tickets],
        )


class SurgeTicketOut(BaseModel):
    """A ticket behind an alert: what and where, never the citizen's number."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    state: str
    category: str | None
    summary: str | None
    address: str | None
    district: str | None
    created_at: datetime
    confidential: bool


class SurgeDetailOut(SurgeOut):
    tickets: list[SurgeTicketOut]


def _ticket(t: Ticket) -> SurgeTicketOut:
    out = SurgeTicketOut.model_validate(t)
    out.created_at = as_utc(t.created_at)
    return out


@router.get("/surges", response_model=list[SurgeOut])
async def list_surges(
    rt: RuntimeDep,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Alerts whose window starts between ``from`` and ``to`` (local days, both included;
    default the last 7 days), newest first; ``open=true``: not yet acknowledged."""
    today = rt.surges.today()
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        raise HTTPException(422, f"dates between {EARLIEST} and {LATEST}")
    if first > last:
        raise HTTPException(422, "from is after to")
    if (last - first).days > 366:
        raise HTTPException(422, "at most a year at a time")
    start = datetime.combine(first, time(), rt.tz)
    end = datetime.combine(last + timedelta(days=1), time(), rt.tz)
    rows = await rt.surges.alerts(start, end, open_only=open_only, limit=limit)
    return [SurgeOut.of(r) for r in rows]


@router.get("/surges/{alert_id}", response_model=SurgeDetailOut)
async def get_surge(alert_id: RowId, rt: RuntimeDep) -> Any:
    """One alert with the tickets behind it."""
    try:
        row, tickets = await rt.surges.tickets_of(alert_id)
    except SurgeNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return SurgeDetailOut(**SurgeOut.of(row).model_dump(), tickets=[_ticket(t) for t in tickets])


@router.post("/surges/{alert_id}/ack", response_model=SurgeOut)
async def acknowledge_surge(alert_id: RowId, rt: RuntimeDep, who: CurrentUser) -> Any:
    """已知悉: the supervisor has seen it (the first acknowledgement stays)."""
    try:
        return SurgeOut.of(await rt.surges.acknowledge(alert_id, who.actor))
    except SurgeNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/surges/scan", response_model=list[SurgeOut])
async def scan_surges(rt: RuntimeDep) -> Any:
    """Run the detector now (it also runs every ``[surges] scan_seconds``): the alerts it
    created or raised."""
    return [SurgeOut.of(r) for r in await rt.surges.scan()]
