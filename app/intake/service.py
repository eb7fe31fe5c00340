"""Intake from the non-phone channels: one way in for the web form, WeChat, apps, 市长信箱,
leaders' message boards and the provincial platform (省级平台), its batch import, and the
citizen's 办件查询.

Call flow: the HTTP edge checks the channel's credential (:func:`verify`: an HMAC-SHA256
signature over ``<timestamp>.<body>`` within a time window, or an API key; constant-time
compares) → :meth:`IntakeService.submit` checks every attachment first (size, type by
content), then in one transaction writes the ticket (受理中 → 已受理, ``source`` =
``<kind>:<channel>``), its idempotency row (channel + the channel's own id + the request's
hash), the attachment rows, and the push-back row of the registration; the files are renamed
into place only after the commit. The same key with the same request returns the same ticket
(and a fresh query code); with a different request it is refused (409).

The query code (查询码) is random, shown once, stored as a SHA-256 with the ticket number.
:meth:`IntakeService.track` answers a ticket number with the right code with the progress
steps, their dates and the department's name — nothing else — and a wrong code exactly as an
unknown number (None).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.cases.attachments import AttachmentStore
from app.cases.loop import CaseRefused
from app.cases.service import as_utc, new_draft, transition
from app.departments.service import DepartmentService
from app.models import Department, IntakeRequest, PushBack, Ticket, TicketTransition
from casework.lifecycle import TicketState as S
from core.events import utcnow
from core.intake import ChannelSettings, IntakeSettings

log = logging.getLogger(__name__)

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read over the phone
CODE_LENGTH = 10  # ~49 bits; wrong guesses are rate-limited
SIGNATURE_PREFIX = "sha256="
PHONE = r"^\+?[0-9][0-9 -]{4,19}$"

# What the citizen's 办件查询 shows of each state (internal ones are left out).
PUBLIC_STEPS: dict[S, str] = {
    S.REGISTERED: "已受理",
    S.ANSWERED: "已直接答复",
    S.DISPATCHED: "已派单",
    S.ACCEPTED: "承办单位已签收，正在办理",
    S.REPLIED: "承办单位已答复",
    S.CALLBACK: "回访中",
    S.REOPENED: "重新办理",
    S.CLOSED: "已办结",
    S.MERGED: "已合并到其他工单",
}
_WITH_DEPARTMENT = {S.DISPATCHED, S.ACCEPTED, S.REPLIED, S.REOPENED}


class IntakeRefused(ValueError):
    """A request the intake cannot take; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# --- credentials ---------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over ``<timestamp>.<body>``, hex."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(
    channel: ChannelSettings,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    window: int,
) -> None:
    """Raise IntakeRefused (401) unless the request carries the channel's credential."""
    secret = channel.secret.get_secret_value()
    if channel.auth == "api_key":
        given = headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise IntakeRefused(f"channel {channel.name}: a valid X-Api-Key is required", 401)
        return
    stamp = headers.get("x-hotline-timestamp", "")
    given = headers.get("x-hotline-signature", "")
    if not stamp.isdigit() or not given:
        raise IntakeRefused(
            f"channel {channel.name}: X-Hotline-Timestamp (unix seconds) and "
            "X-Hotline-Signature (sha256=<hex>) are required",
            401,
        )
    if abs(now - int(stamp)) > window:
        raise IntakeRefused(
            f"channel {channel.name}: the timestamp is more than {window} s from the "
            "hotline's clock (replayed or a wrong clock)",
            401,
        )
    if not hmac.compare_digest(given.encode(), sign(secret, stamp, body).encode()):
        raise IntakeRefused(f"channel {channel.name}: the signature does not match", 401)


# --- what a channel sends ------------------------------------------------------------------

ExternalId = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=200)
    content_base64: str = Field(max_length=70_000_000)


class CitizenRequest(BaseModel):
    """One citizen's request as a channel sends it (and as an import row gives it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    external_id: str = ExternalId
    category: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=10_000)
    address: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, pattern=PHONE)
    contact_consent: bool = False
    summary: str | None = Field(default=None, max_length=200)
    confidential: bool = False  # 保密件: the citizen's number is masked (app.cases.confidential)


class ChannelRequestIn(CitizenRequest):
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes


def decode_uploads(items: Sequence[AttachmentIn]) -> list[Upload]:
    out = []
    for item in items:
        try:
            data = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise IntakeRefused(f"{item.filename}: content_base64 is not base64") from exc
        out.append(Upload(item.filename, data))
    return out


def request_hash(request: CitizenRequest, uploads: Sequence[Upload] = ()) -> str:
    """SHA-256 of the request as understood (fields and files), the idempotency check."""
    fields = request.model_dump(exclude={"external_id", "attachments"})
    if not fields["confidential"]:
        del fields["confidential"]  # requests hashed before the flag existed still match
    fields["files"] = [[u.filename, hashlib.sha256(u.data).hexdigest()] for u in uploads]
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(ticket_id: int, code: str) -> str:
    return hashlib.sha256(f"{ticket_id}:{code.strip().upper()}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Submitted:
    ticket_id: int
    query_code: str
    created: bool

    @property
    def ticket_number(self) -> str:
        return str(self.ticket_id)


@dataclass(slots=True)
class RowResult:
    row: int  # 1-based, as the file counts its records
    external_id: str | None
    outcome: str  # created | updated | unchanged | rejected
    ticket_number: str | None = None
    query_code: str | None = None  # new tickets only, shown once
    reason: str | None = None


@dataclass(slots=True)
class ImportReport:
    rows: list[RowResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)


def first_reply_status(ticket: Ticket, now: datetime) -> str | None:
    """met | breached | pending | overdue for a channel's first-reply time; None: none."""
    if ticket.first_reply_due_at is None:
        return None
    due = as_utc(ticket.first_reply_due_at)
    if ticket.first_reply_at is not None:
        return "met" if as_utc(ticket.first_reply_at) <= due else "breached"
    return "pending" if now <= due else "overdue"


class IntakeService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntakeSettings,
        attachments: AttachmentStore,
        departments: DepartmentService,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._attachments = attachments
        self._departments = departments
        self._now = now

    def channel(self, name: str) -> ChannelSettings:
        found = self.settings.channel(name)
        if found is None:
            raise IntakeRefused(f"unknown channel {name!r}", 404)
        return found

    def check_uploads(self, uploads: Sequence[Upload]) -> None:
        """Every file's size and type, before anything is written."""
        limit = self.settings.max_attachments
        if len(uploads) > limit:
            raise IntakeRefused(f"at most {limit} attachments", 413)
        for upload in uploads:
            try:
                AttachmentStore.check(
                    upload.filename, upload.data, self.settings.max_attachment_bytes
                )
            except CaseRefused as exc:
                raise IntakeRefused(str(exc), exc.status) from exc

    async def _check_category(self, category: str) -> None:
        if category not in await self._departments.categories():
            raise IntakeRefused(f"unknown category {category!r} (GET /api/public/categories)")

    async def submit(
        self, channel: ChannelSettings, request: CitizenRequest, uploads: Sequence[Upload] = ()
    ) -> Submitted:
        """The request's ticket: new (created), or the one this key already made."""
        self.check_uploads(uploads)
        await self._check_category(request.category)
        digest = request_hash(request, uploads)
        try:
            return await self._submit(channel, request, uploads, digest)
        except IntegrityError:
            # The same key sent twice at once: the other one won; answer as a replay.
            return await self._submit(channel, request, uploads, digest)

    async def _submit(
        self,
        channel: ChannelSettings,
        request: CitizenRequest,
        uploads: Sequence[Upload],
        digest: str,
    ) -> Submitted:
        parts: list[Path] = []
        code = new_code()
        try:
            async with self._sessions.begin() as session:
                existing = await self._existing(session, channel.name, request.external_id)
                if existing is not None:
                    if existing.body_hash != digest:
                        raise IntakeRefused(
                            f"channel {channel.name}: {request.external_id} was already sent "
                            "with a different request",
                            409,
                        )
                    existing.query_code_hash = code_hash(existing.ticket_id, code)
                    return Submitted(existing.ticket_id, code, created=False)
                ticket = await self._new_ticket(session, channel, request)
                for upload in uploads:
                    part, _ = await self._attachments.stage(
                        session, ticket.id, upload.filename, upload.data, f"intake:{channel.name}"
                    )
                    parts.append(part)
                session.add(self._key(channel, request, digest, ticket.id, code))
                ticket_id = ticket.id
        except BaseException:
            AttachmentStore.discard(parts)
            raise
        AttachmentStore.publish(parts)
        log.info("intake %s: %s → ticket %s", channel.name, request.external_id, ticket_id)
        return Submitted(ticket_id, code, created=True)

    def _key(
        self,
        channel: ChannelSettings,
        request: CitizenRequest,
        digest: str,
        ticket_id: int,
        code: str,
    ) -> IntakeRequest:
        """The idempotency row: channel + the channel's id → this ticket, and the code."""
        return IntakeRequest(
            channel=channel.name,
            external_id=request.external_id,
            body_hash=digest,
            ticket_id=ticket_id,
            query_code_hash=code_hash(ticket_id, code),
            created_at=self._now(),
        )

    @staticmethod
    async def _existing(
        session: AsyncSession, channel: str, external_id: str
    ) -> IntakeRequest | None:
        found: IntakeRequest | None = await session.scalar(
            select(IntakeRequest)
            .where(IntakeRequest.channel == channel, IntakeRequest.external_id == external_id)
            .with_for_update()
        )
        return found

    async def _new_ticket(
        self, session: AsyncSession, channel: ChannelSettings, request: CitizenRequest
    ) -> Ticket:
        now = self._now()
        actor = f"intake:{channel.name}"
        ticket = new_draft(
            session,
            request.phone,
            None,
            actor=actor,
            category=request.category,
            at=now,
            reason=f"received from {channel.name}",
            origin=f"{channel.kind.value}:{channel.name}",
        )
        self._fill(ticket, request)
        ticket.channel = channel.name
        ticket.first_reply_due_at = now + timedelta(minutes=channel.first_reply)
        await session.flush()
        transition(
            session, ticket, S.REGISTERED, actor=actor, reason=f"{channel.kind.value} 受理", at=now
        )
        return ticket

    @staticmethod
    def _fill(ticket: Ticket, request: CitizenRequest) -> None:
        ticket.caller = request.phone
        ticket.category = request.category
        ticket.description = request.description
        ticket.summary = request.summary or request.description[:60]
        ticket.address = request.address
        ticket.contact_consent = request.contact_consent
        # Once confidential, an updated import row does not unmask it (the desk may).
        ticket.confidential = ticket.confidential or request.confidential

    # --- the provincial platform's batch import ---------------------------------------------

    async def import_rows(
        self, channel: ChannelSettings, records: Sequence[Mapping[str, Any]]
    ) -> ImportReport:
        """Each record on its own: created, updated (still waiting for dispatch), unchanged,
        or rejected with the reason; the good rows are kept whatever the bad ones are."""
        if len(records) > self.settings.max_import_rows:
            raise IntakeRefused(f"at most {self.settings.max_import_rows} records per import", 413)
        report = ImportReport()
        categories = set(await self._departments.categories())
        seen: set[str] = set()
        for number, record in enumerate(records, start=1):
            raw_id = record.get("external_id") if isinstance(record, Mapping) else None
            result = RowResult(number, str(raw_id) if raw_id is not None else None, "rejected")
            try:
                request = CitizenRequest.model_validate(record)
                result.external_id = request.external_id
                if request.external_id in seen:
                    raise IntakeRefused("the same external_id appears earlier in this import")
                seen.add(request.external_id)
                if request.category not in categories:
                    raise IntakeRefused(f"unknown category {request.category!r}")
                await self._import_one(channel, request, result)
            except ValidationError as exc:
                result.reason = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
                    for e in exc.errors()
                )
            except IntakeRefused as exc:
                result.reason = str(exc)
            except IntegrityError:
                result.reason = "sent at the same moment by another request; import it again"
            report.rows.append(result)
        return report

    async def _import_one(
        self, channel: ChannelSettings, request: CitizenRequest, result: RowResult
    ) -> None:
        digest = request_hash(request)
        async with self._sessions.begin() as session:
            existing = await self._existing(session, channel.name, request.external_id)
            if existing is None:
                code = new_code()
                ticket = await self._new_ticket(session, channel, request)
                session.add(self._key(channel, request, digest, ticket.id, code))
                result.outcome, result.query_code = "created", code
                result.ticket_number = str(ticket.id)
                return
            result.ticket_number = str(existing.ticket_id)
            if existing.body_hash == digest:
                result.outcome = "unchanged"
                return
            held = await session.get(Ticket, existing.ticket_id, with_for_update=True)
            assert held is not None
            if held.state is not S.REGISTERED:
                raise IntakeRefused(
                    f"ticket {held.id} is {held.state.value}: only a ticket not yet "
                    "dispatched can be updated by an import"
                )
            self._fill(held, request)
            existing.body_hash = digest
            existing.updated_at = self._now()
            result.outcome = "updated"

    # --- 办件查询 --------------------------------------------------------------------------

    async def track(self, number: str, code: str) -> dict[str, Any] | None:
        """The progress of the ticket ``number`` if ``code`` is its query code; None for a
        wrong code and an unknown number alike."""
        ticket_id = int(number) if number.isdigit() and len(number) <= 9 else 0
        async with self._sessions() as session:
            row = await session.scalar(
                select(IntakeRequest).where(IntakeRequest.ticket_id == ticket_id)
            )
            expected = row.query_code_hash if row else "0" * 64
            given = code_hash(ticket_id, code)
            if row is None or not hmac.compare_digest(given, expected):
                return None
            ticket = await session.get(
                Ticket, ticket_id, options=[selectinload(Ticket.transitions)]
            )
            assert ticket is not None
            steps = await _public_steps(session, ticket, ticket.transitions)
            status = PUBLIC_STEPS.get(ticket.state, "已受理")
            # 并单: the citizen follows the master's handling from the merge on (its steps
            # and department, never its number or its citizen).
            master = (
                await session.get(
                    Ticket, ticket.merged_into, options=[selectinload(Ticket.transitions)]
                )
                if ticket.state is S.MERGED and ticket.merged_into
                else None
            )
            if master is not None:
                # Audit rows are numbered in commit order: the master's moves after the merge.
                merge = max(m.id for m in ticket.transitions if m.to_state is S.MERGED)
                later = [m for m in master.transitions if m.id > merge]
                steps += await _public_steps(session, master, later)
                status = f"已合并办理：{PUBLIC_STEPS.get(master.state, '已受理')}"
        step = master or ticket
        return {
            "ticket_number": str(ticket.id),
            "category": ticket.category,
            "received_at": ticket.created_at,
            "status": status,
            # The status's key, for a page that shows it in another language.
            "status_step": step.state.value if step.state in PUBLIC_STEPS else "registered",
            "steps": steps,
        }

    # --- the outbox, for supervisors ---------------------------------------------------------

    async def outbox(self, status: str | None, limit: int) -> Sequence[PushBack]:
        stmt = select(PushBack).order_by(PushBack.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(PushBack.status == status)
        async with self._sessions() as session:
            return (await session.scalars(stmt)).all()


async def _public_steps(
    session: AsyncSession, ticket: Ticket, moves: Sequence[TicketTransition]
) -> list[dict[str, Any]]:
    """The moves the citizen may see, with the department's name where it is handling."""
    department = (
        await session.scalar(select(Department.name).where(Department.code == ticket.department))
        if ticket.department
        else None
    )
    steps = []
    for move in moves:
        label = PUBLIC_STEPS.get(move.to_state)
        if label is None:
            continue
        step: dict[str, Any] = {"step": move.to_state.value, "label": label, "at": move.at}
        if move.to_state in _WITH_DEPARTMENT and department:
            step["department"] = department
        steps.append(step)
    return steps
