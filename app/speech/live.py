"""Live transcription service: the caller's words on the agent's desk while the call is up,
and emergency keyword alerts for the desk, the supervisor and the ticket.

Call flow: cti publishes ``AgentConnected`` (the caller is now bridged to the agent) →
:meth:`LiveTranscription.on_agent_connected` checks the queue is live and a stream slot is
free, then asks Asterisk (AMI Originate, ``CallControl.tap_audio``) for an AudioSocket channel
that runs ``ChanSpy(<caller channel>,qEo)`` → Asterisk connects to our
``transcription.AudioSocketServer`` with the stream's UUID → the audio is decoded by a
``transcription.LiveDecoder`` in this service's bounded executor → ``LiveTranscript`` partials
and finals go to the agent's WebSocket (``AgentHub.send``); a ``KeywordAlert`` is stored on the
ticket (``live_alerts``), published on the bus for the supervisor, and sent to the agent with
the centre to transfer to. ChanSpy ends with the caller's channel, which ends the stream.

Why ChanSpy into AudioSocket (and not the others):
- ``AudioSocket()`` as a dialplan application takes over the channel that runs it: the caller
  could not be in the queue's bridge with the agent at the same time.
- ARI external media needs res_ari, a Stasis application and a snoop channel: a second control
  interface next to AMI, for the same result.
- ChanSpy on the caller's channel, from a channel the app originates over the AMI link it
  already has, taps the caller's own audio (``o``) without joining or changing the bridge, and
  MixMonitor's recording goes on as before (spies and audiohooks stack). Nothing changes in the
  dialplan: the decision is the app's, per call, so a busy or stopped app simply adds no tap —
  the call is never blocked or delayed, and post-call transcription still runs from the
  recording.

Saturation: at most ``live.streams`` taps (pending or streaming) at once; a call beyond that is
counted as a fall-back and gets only its post-call transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cases.service import call_key
from app.models import Call, LiveAlert
from core.bus import Bus
from core.events import AgentConnected, ChannelHungUp, Event, KeywordAlert, LiveTranscript
from core.settings import LiveSettings
from transcription import (
    CATEGORY_LABELS_ZH,
    Alert,
    AudioSocketServer,
    KeywordRule,
    LiveDecoder,
    LiveOutput,
    StreamingModel,
)
from transcription.live import CHUNK_SECONDS, SAMPLE_RATE

log = logging.getLogger(__name__)

# Asterisk connects within milliseconds of the Originate; past this the tap is not coming.
CONNECT_TIMEOUT = 10.0
CHUNK_BYTES = int(SAMPLE_RATE * CHUNK_SECONDS) * 2


class AudioTap(Protocol):
    """What the service needs from call control (cti.CallControl)."""

    async def tap_audio(self, channel: str, host: str, port: int, stream_id: str) -> Any: ...


Deliver = Callable[[str, Event], Awaitable[None]]


@dataclass(slots=True)
class _Stream:
    call_id: str
    ticket_id: int | None
    agent_id: str
    queue: str
    agent_channel: str = ""
    requested: float = field(default_factory=time.monotonic)
    # Set when the agent's channel hangs up (an attended transfer completed, the agent left
    # a three-way call): the citizen is still talking, but no longer to this agent.
    agent_left: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class LiveStats:
    offered: int = 0  # calls answered on a live queue
    started: int = 0  # taps whose audio reached us
    fallbacks: int = 0  # calls left to post-call only because every slot was busy
    failed: int = 0  # taps Asterisk refused or never connected
    alerts: int = 0


class LiveTranscription:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        tap: AudioTap,
        model: StreamingModel | None,
        settings: LiveSettings,
        rules: Sequence[KeywordRule],
        deliver: Deliver,
        *,
        node_id: str,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._tap = tap
        self._model = model
        self._settings = settings
        self._rules = tuple(rules)
        self._deliver = deliver
        self._node_id = node_id
        self._connect_timeout = connect_timeout
        self._pending: dict[uuid.UUID, _Stream] = {}
        self._active: dict[uuid.UUID, _Stream] = {}
        self._executor: ThreadPoolExecutor | None = None
        self.server = AudioSocketServer(settings.host, settings.port, self._on_stream)
        self.stats = LiveStats()

    @property
    def enabled(self) -> bool:
        return self._model is not None and bool(self._settings.queues)

    @property
    def busy(self) -> int:
        """Slots taken: taps asked for and streams being decoded."""
        return len(self._pending) + len(self._active)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "queues": list(self._settings.queues),
            "streams": self._settings.streams,
            "pending": len(self._pending),
            "active": len(self._active),
            **asdict(self.stats),
            "audiosocket": asdict(self.server.stats),
        }

    async def start(self) -> None:
        if not self.enabled:
            return
        # One thread per stream slot: a stream's chunks never wait behind another stream's.
        self._executor = ThreadPoolExecutor(self._settings.streams, thread_name_prefix="live")
        assert self._model is not None
        # Loaded in the background: start-up does not wait, the first live call need not.
        self._executor.submit(self._model.load).add_done_callback(_log_load_failure)
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # --- a call is answered -----------------------------------------------------------------

    async def on_agent_connected(self, event: AgentConnected) -> None:
        if not self.enabled or event.queue not in self._settings.queues:
            return
        self.stats.offered += 1
        call_id = call_key(event.node_id, event.uniqueid)
        if not event.caller_channel:
            log.warning("live: call %s has no caller channel to listen to", call_id)
            self.stats.failed += 1
            return
        if self.busy >= self._settings.streams:
            self.stats.fallbacks += 1
            log.info(
                "live: all %d streams busy; call %s gets its post-call transcript only",
                self._settings.streams,
                call_id,
            )
            return
        stream_id = uuid.uuid4()
        self._pending[stream_id] = _Stream(
            call_id, event.ticket_id, event.agent_id, event.queue, event.agent_channel
        )
        try:
            await self._tap.tap_audio(
                event.caller_channel, self.server.host, self.server.port, str(stream_id)
            )
        except Exception as exc:
            self._pending.pop(stream_id, None)
            self.stats.failed += 1
            log.warning("live: Asterisk would not tap call %s: %s", call_id, exc)
            return
        asyncio.get_running_loop().call_later(self._connect_timeout, self._expire, stream_id)

    def _expire(self, stream_id: uuid.UUID) -> None:
        stream = self._pending.pop(stream_id, None)
        if stream is not None:
            self.stats.failed += 1
            log.warning(
                "live: Asterisk never streamed call %s (%g s); slot freed",
                stream.call_id,
                self._connect_timeout,
            )

    async def on_hangup(self, event: ChannelHungUp) -> None:
        """The agent left a call that goes on (its caller handed to 119 …): end the tap, so
        the citizen's words stop reaching that agent's desk and the slot is free again."""
        for stream in (*self._pending.values(), *self._active.values()):
            if stream.agent_channel and stream.agent_channel == event.channel:
                log.info("live: agent %s left call %s; tap ended", stream.agent_id, stream.call_id)
                stream.agent_left.set()

    # --- a stream arrives -------------------------------------------------------------------

    async def _on_stream(self, stream_id: uuid.UUID, audio: AsyncIterator[bytes]) -> None:
        stream = self._pending.pop(stream_id, None)
        if stream is None:
            log.warning("live: AudioSocket stream %s is no tap of ours; dropped", stream_id)
            return
        if stream.agent_left.is_set():
            return  # the agent left before Asterisk connected: nothing to show anybody
        self.stats.started += 1
        self._active[stream_id] = stream
        try:
            await self._run(stream, audio)
        finally:
            del self._active[stream_id]
        log.info("live: stream of call %s ended", stream.call_id)

    async def _run(self, stream: _Stream, audio: AsyncIterator[bytes]) -> None:
        assert self._model is not None and self._executor is not None
        loop = asyncio.get_running_loop()
        settings, model = self._settings, self._model
        decoder = await loop.run_in_executor(
            self._executor,
            lambda: LiveDecoder(
                model,
                self._rules,
                fillers=settings.fillers,
                vocabulary=settings.vocabulary,
                min_conf=settings.min_conf,
            ),
        )
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        outbox: asyncio.Queue[Event | None] = asyncio.Queue()
        reader = asyncio.create_task(_chunk(audio, chunks), name=f"live-read:{stream.call_id}")
        sender = asyncio.create_task(self._send(stream, outbox), name=f"live-send:{stream.call_id}")
        leave = asyncio.create_task(_cancel_when(stream.agent_left, reader))
        try:
            while True:
                first = await chunks.get()
                if stream.agent_left.is_set():
                    return  # what is still queued would reach nobody
                pcm, ended = _drain(first, chunks)
                if pcm:
                    out = await loop.run_in_executor(self._executor, decoder.feed, pcm)
                    await self._emit(stream, out, outbox)
                if ended:
                    out = await loop.run_in_executor(self._executor, decoder.finish)
                    await self._emit(stream, out, outbox)
                    return
        finally:
            leave.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            outbox.put_nowait(None)
            await sender

    async def _emit(
        self, stream: _Stream, out: LiveOutput, outbox: asyncio.Queue[Event | None]
    ) -> None:
        for text in out.texts:
            outbox.put_nowait(
                LiveTranscript(
                    agent_id=stream.agent_id,
                    call_id=stream.call_id,
                    ticket_id=stream.ticket_id,
                    kind=text.kind,
                    speaker="citizen",
                    text=text.text,
                    start=None if text.start is None else round(text.start, 2),
                    end=None if text.end is None else round(text.end, 2),
                    stream_at=round(text.audio_at, 2),
                )
            )
        for alert in out.alerts:
            event = await self._store(stream, alert)
            self.stats.alerts += 1
            log.warning(
                "live alert on call %s: %s %r → %s",
                stream.call_id,
                alert.category,
                alert.phrase,
                alert.centre,
            )
            self._bus.publish(event)
            outbox.put_nowait(event)

    async def _send(self, stream: _Stream, outbox: asyncio.Queue[Event | None]) -> None:
        """In order, off the decode loop: a slow browser must not hold the decoder back."""
        while (event := await outbox.get()) is not None:
            try:
                await self._deliver(stream.agent_id, event)
            except Exception:
                log.exception("live: could not deliver %s to agent %s", event.name, stream.agent_id)

    async def _store(self, stream: _Stream, alert: Alert) -> KeywordAlert:
        async with self._sessions.begin() as session:
            call = await session.get(Call, stream.call_id)
            ticket_id = stream.ticket_id or (call.ticket_id if call is not None else None)
            row_id: int | None = None
            if call is not None:
                row = LiveAlert(
                    call_id=stream.call_id,
                    ticket_id=ticket_id,
                    agent_id=stream.agent_id,
                    category=alert.category,
                    centre=alert.centre,
                    phrase=alert.phrase,
                    speaker=alert.speaker,
                    offset=round(alert.at, 2),
                )
                session.add(row)
                await session.flush()
                row_id = row.id
            else:
                log.error("live alert for unknown call %s not stored", stream.call_id)
        return KeywordAlert(
            alert_id=row_id,
            agent_id=stream.agent_id,
            call_id=stream.call_id,
            ticket_id=ticket_id,
            category=alert.category,
            category_zh=CATEGORY_LABELS_ZH.get(alert.category, alert.category),
            centre=alert.centre,
            phrase=alert.phrase,
            speaker=alert.speaker,
            offset=round(alert.at, 2),
            transfer_path=f"/api/calls/{stream.call_id}/transfers" if alert.centre else None,
        )

    # --- queries for the API ----------------------------------------------------------------

    async def list_alerts(
        self, *, since: datetime | None = None, ticket_id: int | None = None, limit: int = 100
    ) -> list[LiveAlert]:
        stmt = select(LiveAlert).order_by(LiveAlert.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(LiveAlert.raised_at >= since)
        if ticket_id is not None:
            stmt = stmt.where(LiveAlert.ticket_id == ticket_id)
        async with self._sessions() as session:
            return list((await session.scalars(stmt)).all())


def _log_load_failure(future: Future[object]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("live: the speech model did not load: %s", exc)


async def _chunk(audio: AsyncIterator[bytes], out: asyncio.Queue[bytes | None]) -> None:
    """Frames (20 ms) into decoder chunks (0.2 s); None marks the end of the stream."""
    buf = bytearray()
    try:
        async for frame in audio:
            buf += frame
            if len(buf) >= CHUNK_BYTES:
                out.put_nowait(bytes(buf))
                buf.clear()
    finally:
        if buf:
            out.put_nowait(bytes(buf))
        out.put_nowait(None)


async def _cancel_when(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    await event.wait()
    task.cancel()


def _drain(first: bytes | None, chunks: asyncio.Queue[bytes | None]) -> tuple[bytes, bool]:
    """``first`` and every chunk already waiting, joined (a decoder that fell behind catches
    up in one call), and whether the stream ended."""
    parts: list[bytes] = []
    item = first
    while True:
        if item is None:
            return b"".join(parts), True
        parts.append(item)
        try:
            item = chunks.get_nowait()
        except asyncio.QueueEmpty:
            return b"".join(parts), False
