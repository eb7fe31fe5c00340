"""The push-back outbox (回传) dispatcher: POSTs each pending row to its channel's webhook.

Rows are written with the state change (``app.intake.pushback``), so they survive a restart;
this job, on the node's one scheduler, sends what is due. Each attempt is claimed first with
one conditional UPDATE (attempts + 1, ``next_at`` pushed past the request's timeout), so two
nodes never send the same row at once. A 2xx is ``sent``; anything else waits
``backoff × 2^(attempts-1)`` (capped) as ``retrying``, and after ``outbox_max_attempts`` the
row is ``failed`` with the last error. A channel without a webhook: ``skipped``.

The request: ``POST <webhook_url>`` with the JSON payload (ticket number, the channel's own
id, state, its Chinese label, when, department), headers ``X-Hotline-Timestamp``,
``X-Hotline-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with webhook_secret>``
and ``X-Hotline-Delivery`` (the row id: receivers deduplicate on it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.intake.service import sign
from app.models import Department, IntakeRequest, PushBack
from core.events import utcnow
from core.intake import IntakeSettings

log = logging.getLogger(__name__)

BATCH = 50
WAITING = ("pending", "retrying")
RETRYABLE = ("failed", "retrying")


class OutboxDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntakeSettings,
        now: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._now = now
        self._transport = transport

    def backoff(self, attempts: int) -> timedelta:
        s = self.settings
        seconds = s.outbox_backoff_seconds * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(seconds, s.outbox_backoff_max_seconds))

    async def tick(self) -> int:
        """Send every row that is due; returns how many were sent."""
        now = self._now()
        async with self._sessions() as session:
            due = (
                await session.scalars(
                    select(PushBack.id)
                    .where(PushBack.status.in_(WAITING), PushBack.next_at <= now)
                    .order_by(PushBack.id)
                    .limit(BATCH)
                )
            ).all()
        if not due:
            return 0
        sent = 0
        async with httpx.AsyncClient(
            timeout=self.settings.outbox_timeout_seconds, transport=self._transport
        ) as client:
            for row_id in due:
                try:
                    sent += await self._deliver(client, row_id)
                except Exception:
                    log.exception("push-back %s failed", row_id)
        return sent

    async def _claim(self, row_id: int, now: datetime) -> PushBack | None:
        lease = now + timedelta(seconds=self.settings.outbox_timeout_seconds * 2 + 5)
        async with self._sessions.begin() as session:
            won: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                update(PushBack)
                .where(
                    PushBack.id == row_id,
                    PushBack.status.in_(WAITING),
                    PushBack.next_at <= now,
                )
                .values(attempts=PushBack.attempts + 1, next_at=lease)
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:
                return None
            row = await session.get(PushBack, row_id, populate_existing=True)
            assert row is not None
            external = await session.scalar(
                select(IntakeRequest.external_id).where(IntakeRequest.ticket_id == row.ticket_id)
            )
            department = row.payload.get("department")
            name = (
                await session.scalar(select(Department.name).where(Department.code == department))
                if department
                else None
            )
            row.payload = {
                **row.payload,
                "channel": row.channel,
                "external_id": external,
                "department_name": name,
            }
            return row

    async def _deliver(self, client: httpx.AsyncClient, row_id: int) -> int:
        now = self._now()
        row = await self._claim(row_id, now)
        if row is None:
            return 0  # another node has it, or it is done
        channel = self.settings.channel(row.channel)
        if channel is None or not channel.webhook_url or channel.webhook_secret is None:
            await self._finish(row_id, "skipped", "the channel has no webhook configured")
            return 0
        body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": sign(channel.webhook_secret.get_secret_value(), stamp, body),
            "X-Hotline-Delivery": str(row.id),
        }
        error: str | None
        try:
            resp = await client.post(channel.webhook_url, content=body, headers=headers)
            error = None if resp.is_success else f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            await self._finish(row_id, "sent", None)
            return 1
        if row.attempts >= self.settings.outbox_max_attempts:
            await self._finish(row_id, "failed", error)
        else:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(PushBack)
                    .where(PushBack.id == row_id)
                    .values(
                        status="retrying",
                        last_error=error,
                        next_at=self._now() + self.backoff(row.attempts),
                    )
                )
        log.warning("push-back %s to %s: %s (attempt %d)", row_id, row.channel, error, row.attempts)
        return 0

    async def retry_now(self, row_id: int) -> PushBack | None:
        """重试 (a supervisor's button): a failed or retrying delivery is due at once. It gets
        one more attempt; failing again, a failed row is failed again (its attempts are used
        up), a retrying one goes on with its backoff. None: no such row; a row in another
        status comes back unchanged (the caller says why)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PushBack)
                .where(PushBack.id == row_id, PushBack.status.in_(RETRYABLE))
                .values(status="retrying", next_at=self._now())
                .execution_options(synchronize_session=False)
            )
            return await session.get(PushBack, row_id, populate_existing=True)

    async def _finish(self, row_id: int, status: str, error: str | None) -> None:
        async with self._sessions.begin() as session:
            values: dict[str, Any] = {"status": status, "last_error": error}
            if status == "sent":
                values["sent_at"] = self._now()
            await session.execute(update(PushBack).where(PushBack.id == row_id).values(**values))
