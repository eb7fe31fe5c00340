"""Routes of calls: the call list, transfers to centres, missed calls (漏接回拨), hang-up, and
calls per service number."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from app.auth.service import Principal
from app.calls.actions import CallActionError
from app.calls.missed import MissedCallError
from app.calls.transfers import TransferError
from app.cases.confidential import mask_number
from app.edge import (
    STAFF,
    SUPERVISORS,
    CurrentUser,
    RouteDep,
    RowId,
    RuntimeDep,
    authenticated,
)
from cti import AmiError

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    node_id: str
    uniqueid: str
    linkedid: str
    caller: str | None
    dialled: str
    queue: str | None
    agent_id: str | None
    ticket_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    hold_seconds: int | None
    recording_in: str | None
    recording_out: str | None
    route: str | None
    source: str | None
    prompt: str | None
    prompt_status: str | None


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    agent_id: str | None
    target: str
    mode: str
    outcome: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


class TransferIn(BaseModel):
    target: str = Field(pattern=r"^[0-9]{3,11}$", description="centre number: 110, 119, 12366 …")
    mode: Literal["attended", "threeway", "blind"] = "attended"


class MissedCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    caller: str
    dialled: str
    at: datetime
    wait_seconds: int | None
    state: str
    claimed_by: str | None
    claimed_at: datetime | None
    closed_at: datetime | None
    cleared_by_call: str | None


class AgentIn(BaseModel):
    agent_id: str = Field(pattern=r"^[0-9]{3,6}$")


class NumberDayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    name: str
    kind: str
    offered: int
    answered: int
    abandoned: int
    unanswered: int
    notice_played: int


@router.get("/calls", response_model=list[CallOut], dependencies=[STAFF])
async def list_calls(
    rt: RuntimeDep,
    who: CurrentUser,
    route: RouteDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    caller: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
) -> Any:
    """Calls, newest first. A 保密件's calls show the number masked to whoever lacks the right
    (app.cases.confidential), and a search by number does not find them for them."""
    calls = await rt.tickets.list_calls(limit=limit, caller=caller, since=since)
    masked = await rt.confidential.masked_for(who, (c.ticket_id for c in calls), route)
    rows = []
    for call in calls:
        row = CallOut.model_validate(call)
        if row.ticket_id in masked:
            if caller:
                continue
            row.caller = mask_number(row.caller)
        rows.append(row)
    return rows


@router.post(
    "/calls/{call_id}/transfers",
    response_model=TransferOut,
    status_code=201,
    dependencies=[STAFF],
)
async def start_transfer(call_id: str, body: TransferIn, rt: RuntimeDep) -> Any:
    """Hand the agent's call to another centre: attended (consult first), threeway (all
    three talk), or blind."""
    try:
        return await rt.transfers.start(call_id, body.target, body.mode)
    except TransferError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post("/transfers/{transfer_id}/{action}", response_model=TransferOut, dependencies=[STAFF])
async def finish_transfer(
    transfer_id: RowId, action: Literal["complete", "cancel"], rt: RuntimeDep
) -> Any:
    try:
        return await rt.transfers.finish(transfer_id, action)
    except TransferError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("/missed-calls", response_model=list[MissedCallOut], dependencies=[STAFF])
async def list_missed_calls(
    rt: RuntimeDep,
    state: Annotated[Literal["open", "claimed", "done", "cleared"] | None, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    return await rt.missed.list(state=state, limit=limit)


@router.post("/missed-calls/{entry_id}/{action}", response_model=MissedCallOut)
async def work_missed_call(
    entry_id: RowId,
    action: Literal["claim", "complete", "call"],
    body: AgentIn,
    rt: RuntimeDep,
    who: Annotated[Principal, STAFF],
) -> Any:
    """claim it, complete it, or call the citizen back (the agent's phone rings first)."""
    if not who.may_act_for(body.agent_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not act for agent {body.agent_id}")
    try:
        if action == "complete":
            return await rt.missed.complete(entry_id, body.agent_id)
        entry = await rt.missed.claim(entry_id, body.agent_id)
        if action == "call":
            await rt.control.click_to_call(
                body.agent_id, entry.caller, {"HOTLINE_MISSED_ID": str(entry.id)}
            )
        return entry
    except MissedCallError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc


@router.get("/stats/numbers", response_model=list[NumberDayOut], dependencies=[SUPERVISORS])
async def number_stats(rt: RuntimeDep, day: date | None = None) -> Any:
    """Calls per service number on one local day (default today): offered, answered,
    abandoned, unanswered, notices played."""
    return await rt.stats.day(day or datetime.now(rt.tz).date())


@router.post("/calls/{call_id}/hangup", status_code=202, dependencies=[STAFF])
async def hang_up(
    call_id: Annotated[str, PathParam(max_length=64)], rt: RuntimeDep, who: CurrentUser
) -> dict[str, str]:
    """End the agent's call (the agent's own, or any for a supervisor)."""
    try:
        await rt.call_actions.hangup(call_id, who)
    except CallActionError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except AmiError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Asterisk: {exc}") from exc
    return {"call_id": call_id, "requested": "hangup"}
