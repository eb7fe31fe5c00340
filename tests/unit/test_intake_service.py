"""Intake from the channels on SQLite and PostgreSQL: one ticket per idempotency key (409 for
the same key with another request), signatures and their time window, attachment limits with
nothing half-written, the provincial import's per-row report, the citizen's lookup, the
first-reply SLA, and the push-back outbox: backoff, failure, and delivery after a restart."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cases.attachments import AttachmentStore
from app.cases.service import as_utc
from app.intake.limits import RateLimiter
from app.intake.service import (
    CitizenRequest,
    IntakeRefused,
    IntakeService,
    Upload,
    first_reply_status,
    sign,
    verify,
)
from app.intake.webhooks import OutboxDispatcher
from app.models import Attachment, IntakeRequest, PushBack, Ticket
from casework.lifecycle import TicketState
from core.db import create_engine, session_factory
from core.intake import ChannelSettings, IntakeSettings, Limit
from tests.conftest import EXAMPLE_CATALOGUE
from tests.unit.test_caseloop import DISPATCHER, Clock, Events, build_loop, dept

WEB_SECRET = "web-channel-secret-0123456789abcdef"
PROVINCE_SECRET = "province-secret-0123456789abcdefgh"
HOOK_SECRET = "province-hook-secret-0123456789abcd"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SETTINGS = IntakeSettings(
    channels=[
        ChannelSettings(name="web", kind="web", secret=WEB_SECRET),  # type: ignore[arg-type]
        ChannelSettings(
            name="province",
            kind="province",  # type: ignore[arg-type]
            auth="api_key",
            secret=PROVINCE_SECRET,  # type: ignore[arg-type]
            webhook_url="http://receiver.test/hook",
            webhook_secret=HOOK_SECRET,  # type: ignore[arg-type]
        ),
    ],
    max_attachments=2,
    max_attachment_bytes=2048,
    outbox_max_attempts=3,
    outbox_backoff_seconds=10,
)
WEB = SETTINGS.channels[0]
PROVINCE = SETTINGS.channels[1]


def request(external_id: str = "w-1", **values: object) -> CitizenRequest:
    body: dict[str, object] = {
        "external_id": external_id,
        "category": "城管",
        "description": "路边占道经营，影响通行",
        "address": "河东区人民路1号",
        "phone": "13800000031",
        "contact_consent": True,
    }
    body.update(values)
    return CitizenRequest.model_validate(body)


@dataclass
class Bed:
    intake: IntakeService
    clock: Clock
    engine: AsyncEngine
    url: str
    files: Path

    async def count(self, model: type[object]) -> int:
        async with session_factory(self.engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def ticket(self, ticket_id: int) -> Ticket:
        async with session_factory(self.engine)() as session:
            found = await session.get(Ticket, ticket_id)
        assert found is not None
        return found

    async def outbox(self) -> list[PushBack]:
        async with session_factory(self.engine)() as session:
            return list((await session.scalars(select(PushBack).order_by(PushBack.id))).all())


def build(engine: AsyncEngine, clock: Clock, files: Path) -> IntakeService:
    sessions = session_factory(engine)
    loop = build_loop(engine, clock, Events())
    return IntakeService(
        sessions, SETTINGS, AttachmentStore(sessions, files, clock), loop.departments, clock
    )


@pytest.fixture
async def bed(db_url: str, tmp_path: Path) -> AsyncIterator[Bed]:
    engine = create_engine(db_url)
    clock = Clock()
    intake = build(engine, clock, tmp_path / "attachments")
    await build_loop(engine, clock, Events()).departments.load_file(EXAMPLE_CATALOGUE, actor="t")
    try:
        yield Bed(intake, clock, engine, db_url, tmp_path / "attachments")
    finally:
        await engine.dispose()


async def refused(coro: object, status: int, words: str) -> None:
    with pytest.raises(IntakeRefused) as caught:
        await coro  # type: ignore[misc]
    assert caught.value.status == status, caught.value
    assert words in str(caught.value)


async def test_one_ticket_per_key_and_another_body_is_409(bed: Bed) -> None:
    first = await bed.intake.submit(WEB, request(), [Upload("现场.png", PNG)])
    assert first.created and len(first.query_code) == 10
    again = await bed.intake.submit(WEB, request(), [Upload("现场.png", PNG)])
    assert (again.ticket_id, again.created) == (first.ticket_id, False)
    await refused(bed.intake.submit(WEB, request(description="另一件事")), 409, "different")
    await refused(bed.intake.submit(WEB, request(), [Upload("b.png", PNG)]), 409, "different")
    other = await bed.intake.submit(PROVINCE, request())  # the key is per channel
    assert other.ticket_id != first.ticket_id
    assert await bed.count(Ticket) == 2 and await bed.count(Attachment) == 1
    ticket = await bed.ticket(first.ticket_id)
    assert (ticket.state, ticket.source, ticket.channel) == (
        TicketState.REGISTERED,
        "web:web",
        "web",
    )
    assert ticket.caller == "13800000031" and ticket.contact_consent is True
    due = ticket.first_reply_due_at
    assert due is not None and due.replace(tzinfo=None) == (
        bed.clock.now + timedelta(minutes=3)
    ).replace(tzinfo=None)
    province = await bed.ticket(other.ticket_id)
    assert province.first_reply_due_at is not None
    assert (province.first_reply_due_at - due).total_seconds() > 23 * 3600  # 24 h vs 3 min
    # The replay's code replaced the first one (each is shown once).
    assert await bed.intake.track(str(first.ticket_id), first.query_code) is None
    assert await bed.intake.track(str(first.ticket_id), again.query_code) is not None
    # The registration is owed a push-back, written with it.
    assert [(p.ticket_id, p.state, p.status) for p in await bed.outbox()] == [
        (first.ticket_id, "registered", "pending"),
        (other.ticket_id, "registered", "pending"),
    ]
    assert not list(bed.files.rglob("*.part")) and len(list(bed.files.rglob("*"))) == 2


async def test_attachment_limits_refuse_the_whole_request(bed: Bed) -> None:
    big = Upload("big.png", PNG + b"\x00" * 4096)
    await refused(bed.intake.submit(WEB, request("a"), [big]), 413, "larger than")
    fake = Upload("x.png", b"MZ\x90\x00 not an image")
    await refused(bed.intake.submit(WEB, request("b"), [Upload("ok.png", PNG), fake]), 415, "x.png")
    three = [Upload(f"{n}.png", PNG) for n in range(3)]
    await refused(bed.intake.submit(WEB, request("c"), three), 413, "at most 2")
    await refused(bed.intake.submit(WEB, request("d", category="不存在")), 422, "unknown category")
    assert await bed.count(Ticket) == 0 and await bed.count(IntakeRequest) == 0
    assert not bed.files.exists() or not list(bed.files.rglob("*"))


def test_signatures_keys_and_the_time_window() -> None:
    body = json.dumps({"external_id": "x"}).encode()
    now = 1_800_000_000.0
    stamp = str(int(now))
    good = {"x-hotline-timestamp": stamp, "x-hotline-signature": sign(WEB_SECRET, stamp, body)}
    verify(WEB, good, body, now, 300)
    cases = [
        (
            {**good, "x-hotline-signature": sign("another-secret-0123456789abcd", stamp, body)},
            "match",
        ),
        ({**good}, "match"),  # with another body below
        ({"x-hotline-signature": good["x-hotline-signature"]}, "required"),
    ]
    for headers, words in cases:
        with pytest.raises(IntakeRefused) as caught:
            verify(WEB, headers, body + (b" " if headers == good else b""), now, 300)
        assert caught.value.status == 401 and words in str(caught.value)
    with pytest.raises(IntakeRefused, match="more than 300 s"):
        verify(WEB, good, body, now + 301, 300)  # replayed later
    verify(PROVINCE, {"x-api-key": PROVINCE_SECRET}, body, now, 300)
    with pytest.raises(IntakeRefused, match="X-Api-Key"):
        verify(PROVINCE, {"x-api-key": WEB_SECRET}, body, now, 300)


async def test_import_reports_per_row_and_keeps_the_good_rows(bed: Bed) -> None:
    rows: list[dict[str, object]] = [
        {"external_id": "p-1", "category": "供水", "description": "停水两天", "phone": "0123-456"},
        {"external_id": "p-2", "category": "供水"},  # no description
        {"external_id": "p-3", "category": "外星人", "description": "?"},
        {"external_id": "p-1", "category": "供水", "description": "重复"},
        "not a record",
        {"external_id": "p-4", "category": "噪音", "description": "夜间施工", "extra": 1},
        {"external_id": "p-5", "category": "噪音", "description": "夜间施工"},
    ]
    report = await bed.intake.import_rows(PROVINCE, rows)  # type: ignore[arg-type]
    outcomes = [(r.row, r.external_id, r.outcome) for r in report.rows]
    assert outcomes == [
        (1, "p-1", "created"),
        (2, "p-2", "rejected"),
        (3, "p-3", "rejected"),
        (4, "p-1", "rejected"),
        (5, None, "rejected"),
        (6, "p-4", "rejected"),
        (7, "p-5", "created"),
    ]
    reasons = [r.reason or "" for r in report.rows]
    assert "description" in reasons[1] and "unknown category" in reasons[2]
    assert "earlier in this import" in reasons[3] and "extra" in reasons[5]
    assert report.rows[0].query_code and report.rows[0].ticket_number
    assert await bed.count(Ticket) == 2
    again = await bed.intake.import_rows(
        PROVINCE,
        [rows[0], {**rows[6], "description": "夜间施工，已持续一周"}],  # type: ignore[list-item]
    )
    assert [r.outcome for r in again.rows] == ["unchanged", "updated"]
    p5 = await bed.ticket(int(report.rows[6].ticket_number or 0))
    assert p5.description == "夜间施工，已持续一周"
    # Once dispatched, the import may not change the request.
    loop = build_loop(bed.engine, bed.clock, Events())
    await loop.dispatch(p5.id, DISPATCHER, mode="direct", lead="sthjj")
    late = await bed.intake.import_rows(PROVINCE, [{**rows[6], "description": "改"}])
    assert late.rows[0].outcome == "rejected" and "dispatched" in (late.rows[0].reason or "")
    assert await bed.count(Ticket) == 2


async def test_tracking_shows_steps_dates_and_department_only(bed: Bed) -> None:
    done = await bed.intake.submit(WEB, request())
    number = done.ticket_number
    loop = build_loop(bed.engine, bed.clock, Events())
    await loop.dispatch(done.ticket_id, DISPATCHER, mode="direct", lead="cgj", note="内部备注")
    await loop.accept(done.ticket_id, dept("cgj"))
    await loop.reply(done.ticket_id, dept("cgj"), "已清理，经办人张三")
    progress = await bed.intake.track(number, done.query_code.lower())
    assert progress is not None
    assert [s["step"] for s in progress["steps"]] == [
        "registered",
        "dispatched",
        "accepted",
        "replied",
    ]
    assert progress["steps"][1]["department"] == "市城市管理局"
    text = json.dumps(progress, default=str, ensure_ascii=False)
    for secret in ("内部备注", "张三", "13800000031", "u-cgj", "zhao", "人民路"):
        assert secret not in text
    assert await bed.intake.track(number, "WRONGCODE1") is None
    assert await bed.intake.track("999999", done.query_code) is None
    assert await bed.intake.track("abc", done.query_code) is None
    ticket = await bed.ticket(done.ticket_id)
    assert first_reply_status(ticket, bed.clock.now) == "met"  # the dispatcher's move


async def test_a_claimed_channel_ticket_is_pushed_back_like_any_move(bed: Bed) -> None:
    """The claim takes a fast path (one UPDATE, no transition()); its push-back row must still
    be written in the same transaction."""
    done = await bed.intake.submit(WEB, request("w-claim"))
    loop = build_loop(bed.engine, bed.clock, Events())
    await loop.dispatch(done.ticket_id, DISPATCHER, mode="grab", eligible=["cgj"])
    await loop.claim(done.ticket_id, dept("cgj"))
    states = [row.state for row in await bed.outbox() if row.ticket_id == done.ticket_id]
    assert states == ["registered", "dispatched", "accepted"]
    progress = await bed.intake.track(done.ticket_number, done.query_code)
    assert progress is not None
    assert [s["step"] for s in progress["steps"]][-1] == "accepted"


async def test_first_reply_overdue_when_nobody_moves(bed: Bed) -> None:
    done = await bed.intake.submit(WEB, request())
    ticket = await bed.ticket(done.ticket_id)
    assert first_reply_status(ticket, bed.clock.now) == "pending"
    assert first_reply_status(ticket, bed.clock.now + timedelta(minutes=4)) == "overdue"
    bed.clock.now += timedelta(minutes=5)
    loop = build_loop(bed.engine, bed.clock, Events())
    await loop.dispatch(done.ticket_id, DISPATCHER, mode="direct", lead="cgj")
    assert first_reply_status(await bed.ticket(done.ticket_id), bed.clock.now) == "breached"


@dataclass
class Receiver:
    """A webhook receiver in memory: fails the first ``fail`` requests."""

    fail: int = 0
    seen: list[httpx.Request] | None = None

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.seen = (self.seen or []) + [req]
        if self.fail > 0:
            self.fail -= 1
            return httpx.Response(503)
        return httpx.Response(200)


async def test_outbox_backoff_failure_and_delivery_after_a_restart(bed: Bed, db_url: str) -> None:
    receiver = Receiver(fail=1)
    sessions = session_factory(bed.engine)
    sender = OutboxDispatcher(sessions, SETTINGS, bed.clock, httpx.MockTransport(receiver))
    done = await bed.intake.submit(PROVINCE, request("p-9"))
    web = await bed.intake.submit(WEB, request("w-9"))  # no webhook: skipped
    assert await sender.tick() == 0
    (row, skipped) = await bed.outbox()
    assert (row.status, row.attempts, row.last_error) == ("retrying", 1, "HTTP 503")
    assert (skipped.ticket_id, skipped.status) == (web.ticket_id, "skipped")
    assert row.next_at.replace(tzinfo=None) == (bed.clock.now + timedelta(seconds=10)).replace(
        tzinfo=None
    )
    assert await sender.tick() == 0  # not due yet
    bed.clock.now += timedelta(seconds=10)
    assert await sender.tick() == 1
    (row, _) = await bed.outbox()
    assert (row.status, row.attempts) == ("sent", 2) and row.sent_at is not None
    assert receiver.seen is not None
    req = receiver.seen[-1]
    stamp = req.headers["x-hotline-timestamp"]
    assert req.headers["x-hotline-signature"] == sign(HOOK_SECRET, stamp, req.content)
    payload = json.loads(req.content)
    assert payload["external_id"] == "p-9" and payload["state"] == "registered"
    assert payload["ticket_number"] == done.ticket_number

    # A change while the receiver is down, then the node restarts (a new engine and sender).
    loop = build_loop(bed.engine, bed.clock, Events())
    await loop.dispatch(done.ticket_id, DISPATCHER, mode="direct", lead="cgj")
    down = OutboxDispatcher(sessions, SETTINGS, bed.clock, httpx.MockTransport(Receiver(fail=9)))
    for step in (0, 10, 20):  # backoff 10 s, 20 s; the third attempt is the last
        bed.clock.now += timedelta(seconds=step)
        await down.tick()
    failed = (await bed.outbox())[-1]
    assert (failed.state, failed.status, failed.attempts) == ("dispatched", "failed", 3)
    # 重试 by a supervisor: due at once, one more attempt; failing again, failed again.
    retried = await down.retry_now(failed.id)
    assert retried is not None and retried.status == "retrying"
    assert as_utc(retried.next_at) == bed.clock.now
    assert await down.tick() == 0
    again = (await bed.outbox())[-1]
    assert (again.status, again.attempts) == ("failed", 4)
    sent = (await bed.outbox())[0]
    assert (await down.retry_now(sent.id)).status == "sent"  # type: ignore[union-attr]
    assert await down.retry_now(999_999) is None
    await down.retry_now(failed.id)  # retried again: the receiver is back after the restart
    await loop.accept(done.ticket_id, dept("cgj"))
    await bed.engine.dispose()
    engine = create_engine(db_url)
    try:
        restarted = Receiver()
        fresh = OutboxDispatcher(
            session_factory(engine), SETTINGS, bed.clock, httpx.MockTransport(restarted)
        )
        assert await fresh.tick() == 2  # the retried one and the one written while down
        assert restarted.seen is not None
        states = [json.loads(r.content)["state"] for r in restarted.seen]
        assert states == ["dispatched", "accepted"]
    finally:
        await engine.dispose()


def test_rate_limiter_counts_per_key_in_a_sliding_window() -> None:
    now = [0.0]
    limiter = RateLimiter(Limit(count=2, seconds=60), lambda: now[0])
    for _ in range(2):
        assert limiter.retry_after("1.2.3.4") is None
        limiter.hit("1.2.3.4")
    wait = limiter.retry_after("1.2.3.4")
    assert wait is not None and 59 <= wait <= 60
    assert limiter.retry_after("5.6.7.8") is None
    now[0] = 61
    assert limiter.retry_after("1.2.3.4") is None


def test_base64_attachments_are_decoded_or_refused() -> None:
    from app.intake.service import AttachmentIn, decode_uploads

    (ok,) = decode_uploads(
        [AttachmentIn(filename="a.png", content_base64=base64.b64encode(PNG).decode())]
    )
    assert ok.data == PNG
    with pytest.raises(IntakeRefused, match="not base64"):
        decode_uploads([AttachmentIn(filename="a.png", content_base64="***")])
