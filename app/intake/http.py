"""Routes of intake: the channels' API (signed or keyed, never a desk password), the
provincial batch import, the push-back outbox (supervisors), and the public routes the
citizen's pages call (网上表单, 办件查询) — unauthenticated, rate-limited."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.edge import SUPERVISORS, RowId, RuntimeDep, authenticated
from app.intake.service import (
    PHONE,
    ChannelRequestIn,
    CitizenRequest,
    IntakeRefused,
    Upload,
    decode_uploads,
    verify,
)
from app.runtime import Runtime
from core.intake import ChannelKind, ChannelSettings

channels = APIRouter(prefix="/api/intake")
staff = APIRouter(prefix="/api/intake", dependencies=[Depends(authenticated)])
citizens = APIRouter(prefix="/api/public")

MAX_BODY = 80 * 1024 * 1024  # a request with its base64 attachments; an import file


class SubmittedOut(BaseModel):
    ticket_number: str
    query_code: str  # shown once; a replay gets a fresh one (the earlier stops working)
    created: bool


class RowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    row: int
    external_id: str | None
    outcome: Literal["created", "updated", "unchanged", "rejected"]
    ticket_number: str | None
    query_code: str | None
    reason: str | None


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    rows: list[RowOut]


class PushBackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    ticket_id: int
    channel: str
    state: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except IntakeRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"the request is larger than {MAX_BODY // 2**20} MB")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"the request is larger than {MAX_BODY // 2**20} MB")
    return body


async def _signed(request: Request, rt: Runtime, name: str) -> tuple[ChannelSettings, bytes]:
    """The channel and the raw body, once its credential is checked (404 unknown, 401 bad)."""
    intake = rt.intake
    with refusals():
        channel = intake.channel(name)
        body = await _body(request)
        verify(
            channel,
            request.headers,
            body,
            time.time(),
            intake.settings.signature_window_seconds,
        )
    return channel, body


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from exc


@channels.post(
    "/{channel}/requests",
    response_model=SubmittedOut,
    status_code=201,
    responses={200: {"description": "the same request again: the same ticket"}},
)
async def submit(channel: str, request: Request, rt: RuntimeDep) -> Any:
    """A citizen's request from a channel (JSON: external_id, category, description, address,
    phone, contact_consent, summary, confidential (保密件), attachments [{filename,
    content_base64}]). 201 with the ticket number and query code; the same request again 200
    with the same ticket; the same external_id with another request 409."""
    found, body = await _signed(request, rt, channel)
    try:
        parsed = ChannelRequestIn.model_validate(_json(body))
    except ValidationError as exc:
        raise HTTPException(422, json.loads(exc.json(include_input=False))) from exc
    with refusals():
        uploads = decode_uploads(parsed.attachments)
        request_only = CitizenRequest.model_validate(parsed.model_dump(exclude={"attachments"}))
        done = await rt.intake.submit(found, request_only, uploads)
    out = SubmittedOut(
        ticket_number=done.ticket_number, query_code=done.query_code, created=done.created
    )
    return JSONResponse(out.model_dump(), status_code=201 if done.created else 200)


def _records(body: bytes, content_type: str) -> list[Any]:
    """The provincial export: JSON (a list, or {"records": [...]}) or CSV with a header row."""
    if "csv" in content_type:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "the CSV is not UTF-8") from exc
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            record: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
            for flag in ("contact_consent", "confidential"):
                if flag in record:
                    record[flag] = str(record[flag]).lower() in {"1", "true", "yes", "是"}
            rows.append(record)
        return rows
    data = _json(body)
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise HTTPException(422, 'expected a JSON list of records or {"records": [...]}')
    return data


@channels.post("/{channel}/import", response_model=ImportOut)
async def import_batch(channel: str, request: Request, rt: RuntimeDep) -> Any:
    """The provincial platform's export (JSON or CSV, ``Content-Type`` says which), signed like
    a request. Idempotent per record; the report says per row what was created, updated,
    unchanged or rejected and why. Good rows are kept whatever the bad ones are."""
    found, body = await _signed(request, rt, channel)
    if found.kind is not ChannelKind.PROVINCE:
        raise HTTPException(403, f"channel {found.name} is not the provincial platform")
    records = _records(body, request.headers.get("content-type", ""))
    with refusals():
        report = await rt.intake.import_rows(found, records)
    return {
        "created": report.count("created"),
        "updated": report.count("updated"),
        "unchanged": report.count("unchanged"),
        "rejected": report.count("rejected"),
        "rows": [RowOut.model_validate(r) for r in report.rows],
    }


@staff.get("/outbox", response_model=list[PushBackOut], dependencies=[SUPERVISORS])
async def outbox(
    rt: RuntimeDep,
    status: Literal["pending", "sent", "retrying", "failed", "skipped"] | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    """The push-back deliveries (回传), newest first: sent, retrying (with the last error and
    when the next try is), failed, skipped."""
    return await rt.intake.outbox(status, limit)


@staff.post("/outbox/{row_id}/retry", response_model=PushBackOut, dependencies=[SUPERVISORS])
async def retry_push_back(row_id: RowId, rt: RuntimeDep) -> Any:
    """重试: a failed or retrying delivery is sent on the outbox's next tick (one more
    attempt). 404: no such delivery; 409: it is not failed or retrying (sent, pending …)."""
    row = await rt.outbox.retry_now(row_id)
    if row is None:
        raise HTTPException(404, f"no push-back delivery {row_id}")
    if row.status != "retrying":
        raise HTTPException(409, f"a {row.status} delivery is not retried")
    return row


# --- the citizen's pages -----------------------------------------------------------------------


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limited(retry_after: float, message: str) -> HTTPException:
    minutes = max(1, round(retry_after / 60))
    return HTTPException(
        429,
        f"{message}，请{minutes}分钟后再试",
        headers={"Retry-After": str(int(retry_after))},
    )


@citizens.get("/categories")
async def public_categories(rt: RuntimeDep) -> list[str]:
    """The categories the web form offers (the dispatch catalogue's)."""
    return await rt.departments.categories()


@citizens.post("/requests", response_model=SubmittedOut, status_code=201)
async def web_form(
    request: Request,
    rt: RuntimeDep,
    category: Annotated[str, Form(min_length=1, max_length=64)],
    description: Annotated[str, Form(min_length=1, max_length=10_000)],
    phone: Annotated[str, Form(pattern=PHONE)],
    address: Annotated[str | None, Form(max_length=200)] = None,
    contact_consent: Annotated[bool, Form()] = False,
    confidential: Annotated[bool, Form()] = False,
    request_id: Annotated[uuid.UUID | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Any:
    """网上表单: no account; a ticket number and a query code back. ``confidential``: the
    citizen asks for 保密件 handling. Limited per address and per phone (429 with a Chinese
    message). ``request_id`` (the page makes one per form) makes
    a double submit one ticket."""
    intake = rt.intake
    channel = intake.settings.channel(intake.settings.form_channel)
    if channel is None:
        raise HTTPException(404, "网上表单暂未开放")
    limits = rt.intake_limits
    who = _address(request)
    digits = "".join(ch for ch in phone if ch.isdigit())
    if (wait := limits.form_address.retry_after(who)) is not None:
        raise _limited(wait, "提交过于频繁")
    if (wait := limits.form_phone.retry_after(digits)) is not None:
        raise _limited(wait, "该手机号提交过于频繁")
    uploads = []
    cap = intake.settings.max_attachment_bytes
    for item in files or []:
        if not item.filename and not item.size:
            continue  # an empty file input
        uploads.append(Upload(item.filename or "file", await item.read(cap + 1)))
    try:
        parsed = CitizenRequest(
            external_id=f"form-{request_id or uuid.uuid4()}",
            category=category,
            description=description,
            address=address or None,
            phone=phone,
            contact_consent=contact_consent,
            confidential=confidential,
        )
    except ValidationError as exc:
        raise HTTPException(422, json.loads(exc.json(include_input=False))) from exc
    with refusals():
        done = await intake.submit(channel, parsed, uploads)
    if done.created:
        limits.form_address.hit(who)
        limits.form_phone.hit(digits)
    out = SubmittedOut(
        ticket_number=done.ticket_number, query_code=done.query_code, created=done.created
    )
    return JSONResponse(out.model_dump(), status_code=201 if done.created else 200)


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_number: str = Field(min_length=1, max_length=20)
    query_code: str = Field(min_length=1, max_length=32)


class StepOut(BaseModel):
    step: str
    label: str
    at: datetime
    department: str | None = None


class ProgressOut(BaseModel):
    ticket_number: str
    category: str | None
    received_at: datetime
    status: str
    status_step: str  # the status's key (registered, dispatched …): a page translates it
    steps: list[StepOut]


NOT_FOUND = "未找到该工单，请核对工单编号和查询码"


@citizens.post("/track", response_model=ProgressOut)
async def track(body: TrackIn, request: Request, rt: RuntimeDep) -> Any:
    """办件查询: the progress of a ticket (steps, dates, the department's name) for its number
    and query code. A wrong code and an unknown number get the same 404; failed lookups are
    limited per address."""
    limiter = rt.intake_limits.track_failures
    who = _address(request)
    if (wait := limiter.retry_after(who)) is not None:
        raise _limited(wait, "查询失败次数过多")
    found = await rt.intake.track(body.ticket_number.strip(), body.query_code)
    if found is None:
        limiter.hit(who)
        raise HTTPException(404, NOT_FOUND)
    return found
