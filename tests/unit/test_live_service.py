"""The live transcription service with the real Korean model, a real database and its real
AudioSocket server: a tapped call's partials reach the agent, an alert phrase is stored on the
ticket and published; the slot bound makes further calls fall back without waiting; a refused
or never-connecting tap frees its slot.

Asterisk's side of the tap is ``FakeAsteriskTap``: it connects to the service's AudioSocket
port and speaks the protocol as chan_audiosocket does (tests/e2e/test_live_transcription.py
does the same through the real Asterisk)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.cases.service import TicketService
from app.speech.live import LiveTranscription
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import AgentConnected, ChannelHungUp, Event, KeywordAlert, LiveTranscript
from core.settings import LiveSettings
from tests.conftest import free_port
from tests.unit.call_events import NODE, connected, inbound
from tests.unit.korean_speech import say, silence
from transcription.audiosocket import FrameKind, encode
from transcription.keywords import KeywordRule
from transcription.vosk_engine import VoskModel

RULES = (KeywordRule("fire", "119", ("화재",)),)
FILLERS = ("여보세요", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원")


class FakeAsteriskTap:
    """Plays Asterisk for ``CallControl.tap_audio``: streams ``pcm`` to the given AudioSocket
    address as 20 ms frames (``connect=False``: accepts the Originate and never connects;
    ``refuse``: Asterisk answers the action with an error)."""

    def __init__(
        self, pcm: bytes, *, connect: bool = True, refuse: bool = False, pace: float = 0.005
    ) -> None:
        self.pcm = pcm
        self.pace = pace  # seconds between 0.2 s of audio
        self.connect = connect
        self.refuse = refuse
        self.taps: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.sent_all = False  # a stream ran to its end (Asterisk's HANGUP frame)

    async def tap_audio(self, channel: str, host: str, port: int, stream_id: str) -> None:
        self.taps.append(channel)
        if self.refuse:
            raise RuntimeError("Originate failed")
        if self.connect:
            self.tasks.append(asyncio.create_task(self._stream(host, port, stream_id)))

    async def _stream(self, host: str, port: int, stream_id: str) -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.write(encode(FrameKind.UUID, uuid.UUID(stream_id).bytes))
        for i in range(0, len(self.pcm), 320):
            writer.write(encode(FrameKind.AUDIO, self.pcm[i : i + 320]))
            if i % 3200 == 0:
                await writer.drain()
                await asyncio.sleep(self.pace)  # faster than real time, but interleaved
        writer.write(encode(FrameKind.HANGUP))
        await writer.drain()
        writer.close()
        self.sent_all = True


@dataclasses.dataclass
class Env:
    tickets: TicketService
    bus: InProcessBus
    service: LiveTranscription
    delivered: list[tuple[str, Event]]
    published: list[KeywordAlert]

    async def answered(self, uid: str, queue: str = "main") -> tuple[AgentConnected, int]:
        opened = await self.tickets.open_call(inbound(uid))
        assert opened.ticket_id is not None
        event = dataclasses.replace(
            connected(uid, opened.ticket_id), queue=queue, caller_channel=f"PJSIP/carrier-{uid}"
        )
        await self.tickets.on_agent_connected(event)
        return event, opened.ticket_id


@pytest.fixture
async def make_env(db_url: str, model: VoskModel) -> AsyncIterator[object]:
    engines = []
    services: list[LiveTranscription] = []
    bus = InProcessBus()

    async def build(tap: FakeAsteriskTap, *, streams: int = 2, timeout: float = 5.0) -> Env:
        engine = create_engine(db_url)
        engines.append(engine)
        sessions = session_factory(engine)
        delivered: list[tuple[str, Event]] = []
        published: list[KeywordAlert] = []

        async def deliver(agent_id: str, event: Event) -> None:
            delivered.append((agent_id, event))

        async def on_alert(event: KeywordAlert) -> None:
            published.append(event)

        bus.subscribe(KeywordAlert, on_alert, name="test.alerts")
        await bus.start()
        settings = LiveSettings(
            queues=["main"], streams=streams, port=free_port(), fillers=list(FILLERS)
        )
        service = LiveTranscription(
            sessions, bus, tap, model, settings, RULES, deliver, node_id=NODE,
            connect_timeout=timeout,
        )  # fmt: skip
        await service.start()
        services.append(service)
        return Env(TicketService(sessions, bus, NODE), bus, service, delivered, published)

    yield build
    for service in services:
        await service.stop()
    await bus.stop()
    for engine in engines:
        await engine.dispose()


async def wait_until(check: object, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_a_tapped_call_reaches_the_agent_and_its_alert_the_ticket(
    make_env: object, tmp_path: Path
) -> None:
    pcm = silence(0.3) + say("여보세요 난방", tmp_path) + silence(1.2)
    pcm += say("화재 주세요", tmp_path) + silence(1.2)
    tap = FakeAsteriskTap(pcm)
    env: Env = await make_env(tap)  # type: ignore[operator]
    event, ticket_id = await env.answered("1700000001.1")
    await env.service.on_agent_connected(event)
    assert tap.taps == ["PJSIP/carrier-1700000001.1"]
    await wait_until(lambda: env.service.stats.started == 1 and env.service.busy == 0)
    await env.bus.drain()
    texts = [e for _, e in env.delivered if isinstance(e, LiveTranscript)]
    assert {a for a, _ in env.delivered} == {"1001"}
    assert any(t.kind == "partial" and t.text for t in texts)
    assert any(t.kind == "final" and t.text for t in texts)
    assert all(t.call_id == f"{NODE}:1700000001.1" and t.ticket_id == ticket_id for t in texts)
    (alert,) = [e for _, e in env.delivered if isinstance(e, KeywordAlert)]
    assert (alert.category, alert.centre, alert.phrase, alert.category_zh) == (
        "fire",
        "119",
        "화재",
        "火警",
    )
    assert alert.transfer_path == f"/api/calls/{NODE}:1700000001.1/transfers"
    assert env.published == [alert]
    (stored,) = await env.service.list_alerts(ticket_id=ticket_id)
    assert (stored.id, stored.category, stored.centre, stored.agent_id) == (
        alert.alert_id,
        "fire",
        "119",
        "1001",
    )
    assert stored.offset == pytest.approx(alert.offset) and stored.raised_at is not None
    assert env.service.status()["alerts"] == 1


async def test_saturated_calls_fall_back_and_stuck_taps_free_their_slot(
    make_env: object, tmp_path: Path
) -> None:
    tap = FakeAsteriskTap(silence(0.5), connect=False)
    env: Env = await make_env(tap, streams=1, timeout=0.3)  # type: ignore[operator]
    first, _ = await env.answered("1700000002.1")
    second, _ = await env.answered("1700000002.2")
    await env.service.on_agent_connected(first)
    await env.service.on_agent_connected(second)  # returns at once: no slot, no waiting
    assert len(tap.taps) == 1
    assert (env.service.stats.fallbacks, env.service.busy) == (1, 1)
    await wait_until(lambda: env.service.busy == 0, timeout=5)
    assert env.service.stats.failed == 1
    third, _ = await env.answered("1700000002.3")
    tap.connect = True
    await env.service.on_agent_connected(third)
    assert len(tap.taps) == 2
    await wait_until(lambda: env.service.stats.started == 1 and env.service.busy == 0)


async def test_refused_tap_and_other_queues(make_env: object) -> None:
    tap = FakeAsteriskTap(b"", refuse=True)
    env: Env = await make_env(tap, streams=1)  # type: ignore[operator]
    call, _ = await env.answered("1700000003.1")
    await env.service.on_agent_connected(call)
    assert (env.service.stats.failed, env.service.busy) == (1, 0)
    other, _ = await env.answered("1700000003.2", queue="gjj")
    await env.service.on_agent_connected(other)
    assert len(tap.taps) == 1 and env.service.stats.offered == 1


async def test_a_stream_nobody_asked_for_is_dropped(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    env: Env = await make_env(FakeAsteriskTap(b""))  # type: ignore[operator]
    stray = FakeAsteriskTap(silence(0.2))
    with contextlib.suppress(ConnectionError):  # the server hangs up on it
        await stray._stream("127.0.0.1", env.service.server.port, str(uuid.uuid4()))
    await wait_until(lambda: "is no tap of ours" in caplog.text, timeout=5)
    assert env.delivered == [] and env.service.stats.started == 0


async def test_the_tap_ends_when_the_agent_leaves_a_call_that_goes_on(
    make_env: object, tmp_path: Path
) -> None:
    """An attended transfer completed: the agent's channel hangs up while the citizen talks
    on with 119. The tap ends at once, the agent's desk gets nothing more, the slot is free."""
    tap = FakeAsteriskTap(silence(60.0), pace=0.1)  # streams for ~30 s: the call goes on
    env: Env = await make_env(tap)  # type: ignore[operator]
    event, _ = await env.answered("1700000009.1")
    await env.service.on_agent_connected(event)
    await wait_until(lambda: env.service.stats.started == 1)
    await env.service.on_hangup(
        ChannelHungUp(
            node_id=NODE,
            uniqueid="1700000009.2",
            linkedid="1700000009.1",
            channel=event.agent_channel,
            cause=16,
            cause_text="Normal Clearing",
        )
    )
    await wait_until(lambda: env.service.busy == 0, timeout=10.0)
    assert not tap.sent_all, "the tap ended on its own, not by the hang-up"
    delivered = len(env.delivered)
    await asyncio.sleep(0.3)
    assert len(env.delivered) == delivered
    for task in tap.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
