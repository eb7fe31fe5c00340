"""Routes of satisfaction callbacks (满意度回访): the callback list and the campaign monitor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from app.callbacks.service import CallbackError
from app.cases.confidential import mask_number
from app.edge import (
    SUPERVISORS,
    CurrentUser,
    RouteDep,
    RuntimeDep,
    authenticated,
)

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


class CallbackAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    attempt_no: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    reason: int | None
    cause: int | None


class CallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    round: int
    campaign: str
    number: str
    status: str
    next_attempt_at: datetime | None
    attempts: int
    service_rating: int | None
    outcome_rating: int | None
    comment_recording: str | None
    call_uniqueid: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_rows: list[CallbackAttemptOut] = Field(serialization_alias="attempt_list")


@router.get("/callbacks", response_model=list[CallbackOut], dependencies=[SUPERVISORS])
async def list_callbacks(
    rt: RuntimeDep,
    who: CurrentUser,
    route: RouteDep,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_]{1,16}$")] = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Callbacks, newest first; ``status=unreachable`` (or no_rating, do_not_call) is the
    manual follow-up list. A 保密件's number is shown to supervisors and logged as viewed."""
    found = await rt.callbacks.list(status=status_, ticket_id=ticket_id, limit=limit)
    masked = await rt.confidential.masked_for(who, (c.ticket_id for c in found), route)
    rows = [CallbackOut.model_validate(c) for c in found]
    for row in rows:
        if row.ticket_id in masked:
            row.number = mask_number(row.number) or ""
    return rows


@router.get("/callbacks/campaigns", dependencies=[SUPERVISORS])
async def callback_campaigns(rt: RuntimeDep) -> list[dict[str, Any]]:
    """The campaign monitor: callbacks by status, progress, answer rate, ratings."""
    return await rt.callbacks.monitor()


@router.post("/callbacks/campaigns/{name}/{action}", dependencies=[SUPERVISORS])
async def pause_campaign(
    name: Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_-]{0,31}$")],
    action: Literal["pause", "resume"],
    rt: RuntimeDep,
) -> dict[str, Any]:
    try:
        await rt.callbacks.set_paused(name, action == "pause")
    except CallbackError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return {"name": name, "paused": action == "pause"}
