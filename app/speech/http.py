"""Routes of transcription: post-call transcripts' jobs, live transcription status, and the
emergency keyword alerts heard live."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, computed_field

from app.edge import (
    SUPERVISORS,
    RuntimeDep,
    authenticated,
)
from transcription import CATEGORY_LABELS_ZH

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


class TranscriptLineOut(BaseModel):
    speaker: Literal["citizen", "agent"]
    start: float
    end: float
    text: str


class TranscriptAlertOut(BaseModel):
    category: str
    centre: str | None
    phrase: str
    speaker: str | None
    at: float


class TranscriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    call_id: str
    text: str
    lines: list[TranscriptLineOut]
    alerts: list[TranscriptAlertOut]
    model: str
    created_at: datetime


class TranscriptionJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    state: str
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TranscriptionJobsOut(BaseModel):
    enabled: bool
    counts: dict[str, int]  # jobs per state: the backlog is "queued" + "running"
    jobs: list[TranscriptionJobOut]


class LiveAlertOut(BaseModel):
    """An emergency phrase heard live; ``centre`` is the suggested one-key transfer."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    call_id: str
    ticket_id: int | None
    agent_id: str | None
    category: str
    centre: str | None
    phrase: str
    speaker: str | None
    offset: float
    raised_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category_zh(self) -> str:
        """What the wallboard shows: 火警, 医疗急救 … (the code itself for a custom category)."""
        return CATEGORY_LABELS_ZH.get(self.category, self.category)


@router.get("/alerts", response_model=list[LiveAlertOut], dependencies=[SUPERVISORS])
async def live_alerts(
    rt: RuntimeDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Emergency keyword alerts heard in live calls, newest first (the supervisor's list; each
    also arrives on the bus and the agent's WebSocket as ``keyword_alert``)."""
    return await rt.live.list_alerts(since=since, limit=limit)


@router.get("/transcription/live", dependencies=[SUPERVISORS])
async def live_status(rt: RuntimeDep) -> dict[str, Any]:
    """Live transcription: on which queues, slots in use, fall-backs to post-call only."""
    return rt.live.status()


@router.get("/transcription/jobs", response_model=TranscriptionJobsOut, dependencies=[SUPERVISORS])
async def transcription_jobs(
    rt: RuntimeDep,
    state: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Post-call transcription backlog and progress: counts per state and the latest jobs."""
    return TranscriptionJobsOut(
        enabled=rt.transcription.enabled,
        counts=await rt.transcription.backlog(),
        jobs=[
            TranscriptionJobOut.model_validate(j)
            for j in await rt.transcription.list_jobs(state=state, limit=limit)
        ],
    )
