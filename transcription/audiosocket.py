"""AudioSocket: Asterisk's live-audio TCP protocol, parsed at the edge into typed frames.

Call flow: when an agent answers a call on a live-transcribed queue, the app asks Asterisk (AMI
Originate) for an ``AudioSocket/<host>:<port>/<uuid>`` channel running ``ChanSpy`` on the
caller's channel; chan_audiosocket connects to :class:`AudioSocketServer` here and streams what
the caller says. The server reads the first frame (the stream's UUID), hands the stream to the
app's handler, and yields audio until Asterisk hangs up.

Wire format (Asterisk 22 res_audiosocket): a 3-byte header — kind (1 byte) and payload length
(2 bytes, big-endian) — then the payload. Kinds: 0x00 hang-up, 0x01 the UUID (16 bytes),
0x03 a DTMF digit, 0x10 signed-linear 16-bit little-endian mono 8 kHz audio (320 bytes per
20 ms), 0xff error (optional code). Asterisk 22 may also send 0x11-0x18 (higher-rate slin)
when the channel is asked for another codec; we never ask, so those count as garbage.

Anything else on the port (a port scanner, an HTTP request, a stray client) is garbage: the
connection is closed with one log line and nothing reaches the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum

from transcription.engine import TranscriptionError

log = logging.getLogger(__name__)

HEADER_BYTES = 3
SAMPLE_RATE = 8000
# Asterisk sends 320-byte (20 ms) audio frames; a longer payload than this is not Asterisk.
MAX_PAYLOAD = 8192
# How long a new connection may take to say which stream it is.
FIRST_FRAME_TIMEOUT = 5.0
# A stream that sends nothing for this long is dead (ChanSpy sends silence while spying).
IDLE_TIMEOUT = 30.0


class FrameKind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class AudioSocketError(TranscriptionError):
    """Bytes on the AudioSocket port that are not the protocol (the connection is dropped)."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    payload: bytes

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)


def encode(kind: FrameKind, payload: bytes = b"") -> bytes:
    """One frame on the wire (what Asterisk sends; used by tests and the benchmark)."""
    if len(payload) > 0xFFFF:
        raise ValueError("an AudioSocket payload holds at most 65535 bytes")
    return bytes((kind,)) + len(payload).to_bytes(2, "big") + payload


class FrameParser:
    """Turns a byte stream into frames (no I/O): feed what the socket read, get whole frames.

    Raises ``AudioSocketError`` at the first byte that cannot be the protocol; the caller
    drops the connection, since nothing after that point can be trusted to be aligned.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._max = max_payload

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back until the rest arrives."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= HEADER_BYTES:
            raw_kind = self._buf[0]
            length = int.from_bytes(self._buf[1:3], "big")
            kind = _check(raw_kind, length, self._max)
            if len(self._buf) < HEADER_BYTES + length:
                break
            payload = bytes(self._buf[HEADER_BYTES : HEADER_BYTES + length])
            del self._buf[: HEADER_BYTES + length]
            frames.append(Frame(kind, payload))
        return frames


def _check(raw_kind: int, length: int, max_payload: int) -> FrameKind:
    try:
        kind = FrameKind(raw_kind)
    except ValueError:
        raise AudioSocketError(f"unknown frame kind 0x{raw_kind:02x}") from None
    if kind is FrameKind.UUID and length != 16:
        raise AudioSocketError(f"UUID frame of {length} bytes (expected 16)")
    if kind is FrameKind.AUDIO and (length % 2 or length > max_payload):
        raise AudioSocketError(f"audio frame of {length} bytes")
    if kind is FrameKind.DTMF and length != 1:
        raise AudioSocketError(f"DTMF frame of {length} bytes")
    if length > max_payload:
        raise AudioSocketError(f"{kind.name} frame of {length} bytes")
    return kind


# The app's handler: the stream's UUID and its audio (16-bit 8 kHz PCM per frame), which ends
# when Asterisk hangs up or the connection breaks. The connection closes when it returns.
StreamHandler = Callable[[uuid.UUID, AsyncIterator[bytes]], Awaitable[None]]


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    streams: int = 0  # connections that identified themselves and reached the handler
    rejected: int = 0  # garbage, or no UUID in time
    active: int = 0


class AudioSocketServer:
    """Accepts chan_audiosocket connections and hands each identified stream to ``handler``."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: StreamHandler,
        *,
        first_frame_timeout: float = FIRST_FRAME_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._first_timeout = first_frame_timeout
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = ServerStats()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        if self.port == 0:  # tests and the benchmark bind a free port
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("AudioSocket server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AudioSocket connection from %s failed", peer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        parser = FrameParser()
        frames: list[Frame] = []
        try:
            async with asyncio.timeout(self._first_timeout):
                while not frames:
                    data = await reader.read(4096)
                    if not data:
                        self._reject(peer, "closed before sending its UUID")
                        return
                    frames = parser.feed(data)
        except TimeoutError:
            self._reject(peer, f"sent no UUID within {self._first_timeout:g} s")
            return
        except AudioSocketError as exc:
            self._reject(peer, str(exc))
            return
        if frames[0].kind is not FrameKind.UUID:
            self._reject(peer, f"first frame is {frames[0].kind.name}, not UUID")
            return
        stream_id = frames[0].uuid()
        self.stats.streams += 1
        self.stats.active += 1
        try:
            await self._handler(stream_id, self._audio(stream_id, reader, parser, frames[1:]))
        finally:
            self.stats.active -= 1
        # Tell Asterisk we are done (it hangs the AudioSocket channel up; ChanSpy ends).
        with contextlib.suppress(Exception):
            writer.write(encode(FrameKind.HANGUP))
            await writer.drain()

    def _reject(self, peer: object, why: str) -> None:
        self.stats.rejected += 1
        log.warning("AudioSocket: dropped connection from %s: %s", peer, why)

    async def _audio(
        self,
        stream_id: uuid.UUID,
        reader: asyncio.StreamReader,
        parser: FrameParser,
        first: list[Frame],
    ) -> AsyncIterator[bytes]:
        frames = first
        while True:
            for frame in frames:
                match frame.kind:
                    case FrameKind.AUDIO:
                        yield frame.payload
                    case FrameKind.HANGUP:
                        return
                    case FrameKind.ERROR:
                        code = frame.payload.hex() or "none"
                        log.warning("AudioSocket stream %s: Asterisk error %s", stream_id, code)
                        return
                    case FrameKind.UUID | FrameKind.DTMF:
                        pass  # a repeated UUID or a digit carries no audio
            try:
                data = await asyncio.wait_for(reader.read(4096), self._idle_timeout)
            except TimeoutError:
                log.warning(
                    "AudioSocket stream %s: no audio for %g s", stream_id, self._idle_timeout
                )
                return
            except ConnectionError:
                return
            if not data:
                return
            try:
                frames = parser.feed(data)
            except AudioSocketError as exc:
                self.stats.rejected += 1
                log.warning("AudioSocket stream %s: dropped on garbage: %s", stream_id, exc)
                return
