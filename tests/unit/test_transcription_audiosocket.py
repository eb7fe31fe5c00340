"""AudioSocket edge: the frame parser on split and garbage input, and the server over real TCP
with a client speaking the protocol as chan_audiosocket does (and clients that do not)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from transcription.audiosocket import (
    AudioSocketError,
    AudioSocketServer,
    Frame,
    FrameKind,
    FrameParser,
    encode,
)

STREAM = uuid.UUID("0b3c1c4e-8a2f-4d3e-9c55-7b1e2f3a4d5e")
AUDIO = bytes(range(256)) + bytes(64)  # 320 bytes: 20 ms of 8 kHz 16-bit audio


def test_parser_reassembles_frames_split_anywhere() -> None:
    wire = encode(FrameKind.UUID, STREAM.bytes) + encode(FrameKind.AUDIO, AUDIO) * 3
    wire += encode(FrameKind.HANGUP)
    for step in (1, 2, 3, 7, 320, len(wire)):
        parser = FrameParser()
        frames: list[Frame] = []
        for i in range(0, len(wire), step):
            frames += parser.feed(wire[i : i + step])
        assert [f.kind for f in frames] == [
            FrameKind.UUID,
            *[FrameKind.AUDIO] * 3,
            FrameKind.HANGUP,
        ]
        assert frames[0].uuid() == STREAM
        assert all(f.payload == AUDIO for f in frames[1:4])
        assert parser.pending == 0


def test_parser_holds_an_incomplete_frame() -> None:
    parser = FrameParser()
    wire = encode(FrameKind.AUDIO, AUDIO)
    assert parser.feed(wire[:100]) == []
    assert parser.pending == 100
    assert parser.feed(wire[100:]) == [Frame(FrameKind.AUDIO, AUDIO)]


def test_parser_reads_dtmf_and_error_frames() -> None:
    frames = FrameParser().feed(encode(FrameKind.DTMF, b"5") + encode(FrameKind.ERROR, b"\x02"))
    assert frames == [Frame(FrameKind.DTMF, b"5"), Frame(FrameKind.ERROR, b"\x02")]


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "unknown frame kind 0x47"),
        (b"\x16\x03\x01\x02\x00", "unknown frame kind 0x16"),  # a TLS ClientHello
        (b"\x01\x00\x05abcde", "UUID frame of 5 bytes"),
        (b"\x10\x01\x41" + bytes(321), "audio frame of 321 bytes"),
        (b"\x10\xff\xfe", "audio frame of 65534 bytes"),
        (b"\x03\x00\x02ab", "DTMF frame of 2 bytes"),
        (b"\xff\x40\x00", "ERROR frame of 16384 bytes"),
    ],
)
def test_parser_refuses_garbage(garbage: bytes, message: str) -> None:
    with pytest.raises(AudioSocketError, match=message):
        FrameParser().feed(garbage)


def test_garbage_after_good_frames_still_raises() -> None:
    parser = FrameParser()
    assert parser.feed(encode(FrameKind.UUID, STREAM.bytes)) != []
    with pytest.raises(AudioSocketError):
        parser.feed(b"\x7fjunk")


def test_encode_refuses_an_oversized_payload() -> None:
    with pytest.raises(ValueError):
        encode(FrameKind.AUDIO, bytes(70_000))


class Collector:
    def __init__(self) -> None:
        self.streams: list[tuple[uuid.UUID, bytes]] = []
        self.done = asyncio.Event()

    async def __call__(self, stream_id: uuid.UUID, audio: AsyncIterator[bytes]) -> None:
        pcm = b"".join([chunk async for chunk in audio])
        self.streams.append((stream_id, pcm))
        self.done.set()


async def serve(collector: Collector, **kw: float) -> AudioSocketServer:
    server = AudioSocketServer("127.0.0.1", 0, collector, **kw)
    await server.start()
    return server


async def open_stream(server: AudioSocketServer) -> asyncio.StreamWriter:
    """A connection that has said its UUID and sent one audio frame."""
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode(FrameKind.UUID, STREAM.bytes) + encode(FrameKind.AUDIO, AUDIO))
    await writer.drain()
    return writer


async def test_server_hands_a_stream_to_the_handler_and_says_hangup() -> None:
    collector = Collector()
    server = await serve(collector)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode(FrameKind.UUID, STREAM.bytes))
        for _ in range(5):
            writer.write(encode(FrameKind.AUDIO, AUDIO))
        writer.write(encode(FrameKind.DTMF, b"1") + encode(FrameKind.HANGUP))
        await writer.drain()
        await asyncio.wait_for(collector.done.wait(), 5)
        # The server answers with a hang-up frame, then closes.
        assert await asyncio.wait_for(reader.read(), 5) == encode(FrameKind.HANGUP)
        writer.close()
    finally:
        await server.stop()
    assert collector.streams == [(STREAM, AUDIO * 5)]
    assert (server.stats.streams, server.stats.rejected, server.stats.active) == (1, 0, 0)


async def test_stream_ends_when_asterisk_just_closes() -> None:
    collector = Collector()
    server = await serve(collector)
    try:
        writer = await open_stream(server)
        writer.close()
        await asyncio.wait_for(collector.done.wait(), 5)
    finally:
        await server.stop()
    assert collector.streams == [(STREAM, AUDIO)]


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "unknown frame kind 0x47"),
        (encode(FrameKind.AUDIO, AUDIO), "first frame is AUDIO, not UUID"),
        (b"", "closed before sending its UUID"),
    ],
)
async def test_garbage_connection_is_dropped_with_a_log_line(
    wire: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    collector = Collector()
    server = await serve(collector)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(wire)
        await writer.drain()
        if not wire:
            writer.write_eof()
        with caplog.at_level(logging.WARNING, "transcription.audiosocket"):
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
            await asyncio.sleep(0.05)
        writer.close()
        # The server is still serving: a good stream after the garbage goes through.
        _, good = await asyncio.open_connection("127.0.0.1", server.port)
        good.write(encode(FrameKind.UUID, STREAM.bytes) + encode(FrameKind.HANGUP))
        await good.drain()
        await asyncio.wait_for(collector.done.wait(), 5)
        good.close()
    finally:
        await server.stop()
    assert collector.streams == [(STREAM, b"")]
    assert server.stats.rejected == 1
    assert any("dropped connection" in r.message and why in r.message for r in caplog.records)


async def test_silent_client_is_dropped_after_the_first_frame_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector()
    server = await serve(collector, first_frame_timeout=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        with caplog.at_level(logging.WARNING, "transcription.audiosocket"):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await server.stop()
    assert collector.streams == []
    assert any("sent no UUID" in r.message for r in caplog.records)


async def test_garbage_mid_stream_ends_the_stream_keeping_the_audio_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector()
    server = await serve(collector)
    try:
        writer = await open_stream(server)
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, "transcription.audiosocket"):
            writer.write(b"\x42garbage")
            await writer.drain()
            await asyncio.wait_for(collector.done.wait(), 5)
        writer.close()
    finally:
        await server.stop()
    assert collector.streams == [(STREAM, AUDIO)]
    assert any("dropped on garbage" in r.message for r in caplog.records)
