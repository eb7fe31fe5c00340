"""Routes of tickets (工单): read one with its calls, transcripts and callbacks; the handling
workflow's moves; the desk's save and register."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.service import Role
from app.callbacks.http import CallbackOut
from app.calls.http import CallOut, TransferOut
from app.cases.edits import TicketEdit, TicketEditError
from app.edge import (
    READERS,
    CurrentUser,
    RowId,
    RuntimeDep,
    allow,
    authenticated,
)
from app.speech.http import LiveAlertOut, TranscriptOut
from casework.lifecycle import InvalidTransition, TicketState

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    from_state: TicketState | None
    to_state: TicketState
    actor: str
    reason: str | None
    at: datetime


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    state: TicketState
    source: str
    caller: str | None
    dialled: str | None
    category: str | None
    summary: str | None
    description: str | None
    department: str | None = None
    agent_id: str | None
    created_at: datetime
    updated_at: datetime
    transitions: list[TransitionOut]
    calls: list[CallOut]
    transfers: list[TransferOut]
    transcripts: list[TranscriptOut] = []
    alerts: list[LiveAlertOut] = []  # heard live, while the call was up
    callbacks: list[CallbackOut] = []


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: TicketState
    reason: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, min_length=1, max_length=64)


class TicketPatchIn(BaseModel):
    category: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    address: str | None = Field(default=None, max_length=200)
    urgency: Literal["normal", "urgent"] | None = None
    contact_consent: bool | None = None
    # Move the draft to 已受理 (registered) with this save.
    register_ticket: bool = False


@router.get("/tickets/{ticket_id}", response_model=TicketOut, dependencies=[READERS])
async def get_ticket(ticket_id: RowId, rt: RuntimeDep) -> Any:
    ticket = await rt.tickets.get_ticket(ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} does not exist")
    out = TicketOut.model_validate(ticket)
    out.transcripts = [
        TranscriptOut.model_validate(t) for t in await rt.transcription.for_ticket(ticket_id)
    ]
    out.callbacks = [
        CallbackOut.model_validate(c)
        for c in await rt.callbacks.list(status=None, ticket_id=ticket_id, limit=50)
    ]
    out.alerts = [
        LiveAlertOut.model_validate(a) for a in await rt.live.list_alerts(ticket_id=ticket_id)
    ]
    return out


# Who may move a ticket where: agents take calls in (register, answer directly, dispatch,
# merge); departments handle what was dispatched to them (accept, dispute, reply);
# supervisors may do all of it, and close or reopen after a callback by hand.
WORKFLOW_STEPS: dict[Role, frozenset[TicketState]] = {
    Role.AGENT: frozenset(
        {TicketState.REGISTERED, TicketState.ANSWERED, TicketState.DISPATCHED, TicketState.MERGED}
    ),
    Role.DEPARTMENT: frozenset({TicketState.ACCEPTED, TicketState.DISPUTED, TicketState.REPLIED}),
}


@router.post("/tickets/{ticket_id}/transitions", response_model=TicketOut, dependencies=[READERS])
async def move_ticket(
    ticket_id: RowId, body: TransitionIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    """The handling workflow: register, dispatch (with the department), accept, dispute,
    reply, answer directly, close, reopen. A reply or direct answer schedules the
    satisfaction callback in the same transaction. 409 when the lifecycle forbids the move,
    403 when the caller's role may not make it."""
    steps = WORKFLOW_STEPS.get(who.role)
    if steps is not None and body.to not in steps:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the {who.role.value} role may not move a ticket to {body.to}",
        )
    try:
        await rt.move_ticket(ticket_id, body.to, body.reason, body.department, actor=who.actor)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return await get_ticket(ticket_id, rt)


@router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketOut,
    dependencies=[allow(Role.AGENT, Role.SUPERVISOR)],
)
async def save_ticket(
    ticket_id: RowId, body: TicketPatchIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    """Save what the agent wrote; ``register_ticket: true`` also moves the draft to 已受理."""
    try:
        await rt.ticket_edits.save(ticket_id, TicketEdit(**body.model_dump()), who)
    except TicketEditError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return TicketOut.model_validate(await rt.tickets.get_ticket(ticket_id))
