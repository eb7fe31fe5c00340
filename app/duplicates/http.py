"""Routes of duplicates (并单): a ticket's likely duplicates, merge into a master, unmerge.

The desk (agents) and the dispatch page (dispatchers, supervisors) list the suggestions and
merge; only a supervisor unmerges, within ``[duplicates] unmerge_hours``. Refusals are 409
(the rules), 404 (no such ticket); a department never sees suggestions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.service import Role
from app.duplicates.service import DuplicateService
from app.edge import SUPERVISORS, CurrentUser, RowId, RuntimeDep, allow, authenticated
from app.models import Ticket
from casework.duplicates import MergeRefused
from casework.lifecycle import TicketState

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])

MERGERS = allow(Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)

# The reasons as the pages show them.
REASONS_ZH = {
    "same_caller": "同一来电人",
    "same_place": "同一地点同类诉求",
    "similar_text": "诉求内容相似",
}


class DuplicateOut(BaseModel):
    """A likely duplicate: the candidate (no citizen's number: 保密件 stay masked) and why."""

    ticket_id: int
    score: float
    reasons: list[str]
    reasons_zh: list[str]
    text_similarity: float
    place_similarity: float
    state: TicketState
    category: str | None
    summary: str | None
    address: str | None
    created_at: datetime


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    master_id: int = Field(ge=1, le=2**31 - 1)
    reason: str | None = Field(default=None, max_length=120)


class UnmergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=120)


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    state: TicketState
    merged_into: int | None
    merged_at: datetime | None
    unmerge_until: datetime | None = None


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except MergeRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except PermissionError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc


def _out(ticket: Ticket, service: DuplicateService) -> MergeOut:
    out = MergeOut.model_validate(ticket)
    out.unmerge_until = service.unmerge_until(ticket)
    return out


@router.get(
    "/tickets/{ticket_id}/duplicates", response_model=list[DuplicateOut], dependencies=[MERGERS]
)
async def list_duplicates(ticket_id: RowId, rt: RuntimeDep) -> Any:
    """Likely duplicates of a draft or registered ticket, best first (empty otherwise)."""
    with refusals():
        found = await rt.duplicates.suggestions(ticket_id)
    return [
        DuplicateOut(
            ticket_id=s.suggestion.ticket_id,
            score=s.suggestion.score,
            reasons=list(s.suggestion.reasons),
            reasons_zh=[REASONS_ZH[r] for r in s.suggestion.reasons],
            text_similarity=s.suggestion.text,
            place_similarity=s.suggestion.place,
            state=s.ticket.state,
            category=s.ticket.category,
            summary=s.ticket.summary,
            address=s.ticket.address,
            created_at=s.ticket.created_at,
        )
        for s in found
    ]


@router.post("/tickets/{ticket_id}/merge", response_model=MergeOut, dependencies=[MERGERS])
async def merge_ticket(ticket_id: RowId, body: MergeIn, rt: RuntimeDep, who: CurrentUser) -> Any:
    """并单: merge this ticket into ``master_id``; its citizen is told the master's outcome."""
    with refusals():
        ticket = await rt.duplicates.merge(
            ticket_id,
            body.master_id,
            actor=who.actor,
            reason=body.reason,
            agent_id=who.agent_id if who.role is Role.AGENT else None,
        )
    return _out(ticket, rt.duplicates)


@router.post("/tickets/{ticket_id}/unmerge", response_model=MergeOut, dependencies=[SUPERVISORS])
async def unmerge_ticket(
    ticket_id: RowId, body: UnmergeIn, rt: RuntimeDep, who: CurrentUser
) -> Any:
    """撤销并单 (supervisors, within the time limit): back to the state it had."""
    with refusals():
        ticket = await rt.duplicates.unmerge(ticket_id, actor=who.actor, reason=body.reason)
    return _out(ticket, rt.duplicates)
