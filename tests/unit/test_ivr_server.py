"""FastAgiServer over real TCP: routing, bad clients, the connect-and-close regression, stop()."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from types import FrameType

import pytest

from ivr.agi import AgiChannel, AgiHangup, AgiRequest
from ivr.server import AgiHandler, FastAgiServer, FastAgiStats

BLOCK = """\
agi_request: agi://127.0.0.1:14573/{script}
agi_channel: PJSIP/carrier-00000001
agi_language: en
agi_type: PJSIP
agi_uniqueid: 1763780000.1
agi_version: 22.10.1
agi_callerid: 13800000001
agi_calleridname: unknown
agi_callingpres: 0
agi_callingani2: 0
agi_callington: 0
agi_callingtns: 0
agi_dnid: 12345
agi_rdnis: unknown
agi_context: hotline-inbound
agi_extension: 12345
agi_priority: 4
agi_enhanced: 0.0
agi_accountcode: 
agi_threadid: 140245362214592
agi_network: yes
agi_network_script: {script}

"""  # noqa: W291 - "agi_accountcode: " really ends with a space


def request_block(script: str = "inbound") -> bytes:
    return BLOCK.format(script=script).encode()


class Recorder:
    """A route handler that records what it was given."""

    def __init__(self) -> None:
        self.requests: list[AgiRequest] = []

    async def __call__(self, request: AgiRequest, channel: AgiChannel) -> None:
        self.requests.append(request)


@contextlib.asynccontextmanager
async def serving(
    routes: Mapping[str, AgiHandler], header_timeout: float = 5.0
) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer(routes, host="127.0.0.1", port=0, header_timeout=header_timeout)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def closed_by_server(reader: asyncio.StreamReader, within: float = 1.0) -> bool:
    """True if the server ends the connection (FIN or reset) within ``within`` seconds."""
    async with asyncio.timeout(within):
        try:
            return await reader.read() == b""
        except ConnectionResetError:
            return True  # closing with our unread bytes pending makes the kernel send RST


async def serve_one(server: FastAgiServer, script: str = "inbound") -> None:
    """A well-formed request; returns once the server has closed the connection."""
    reader, writer = await connect(server)
    writer.write(request_block(script))
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()


async def settle(server: FastAgiServer) -> FastAgiStats:
    """Stats once every connection task has finished."""
    await asyncio.wait_for(server.drain(), 1)
    return server.stats


@contextlib.contextmanager
def loop_watchdog(seconds: float) -> Iterator[None]:
    """Break a frozen event loop with SIGALRM so a regression fails instead of hanging.

    The alarm repeats: each spinning connection needs its own interruption.
    """

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"event loop frozen for {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def test_serves_a_request_on_its_route() -> None:
    inbound, other = Recorder(), Recorder()
    async with serving({"inbound": inbound, "other": other}) as server:
        await serve_one(server)

        assert [r.uniqueid for r in inbound.requests] == ["1763780000.1"]
        assert inbound.requests[0].network_script == "inbound"
        assert other.requests == []
        stats = await settle(server)
        assert stats.p50_ms is not None and stats.p50_ms == stats.p99_ms
        assert stats == FastAgiStats(
            connections=1,
            served=1,
            failed=0,
            rejected=0,
            active=0,
            p50_ms=stats.p50_ms,
            p99_ms=stats.p99_ms,
        )


async def test_handler_talks_agi_over_the_same_socket() -> None:
    seen: list[str | None] = []

    async def handler(request: AgiRequest, channel: AgiChannel) -> None:
        seen.append(await channel.get_variable("CHANNEL(linkedid)"))

    async with serving({"inbound": handler}) as server:
        reader, writer = await connect(server)
        writer.write(request_block())
        command = await asyncio.wait_for(reader.readline(), 1)
        writer.write(b"200 result=1 (1763780000.1)\n")

        assert command == b"GET VARIABLE CHANNEL(linkedid)\n"
        assert await closed_by_server(reader)
        assert seen == ["1763780000.1"]
        writer.close()


async def test_connect_and_close_never_freezes_the_loop() -> None:
    """Regression for panoramisk's FastAGI spin on EOF (DESIGN.md §5)."""
    inbound = Recorder()
    with loop_watchdog(2):
        async with serving({"inbound": inbound}) as server:
            # A bare TCP health check, then half a header block, half a line: all close early.
            for data in (b"", b"agi_network_script: inbound\nagi_channel: PJ", b"agi_net"):
                _, writer = await connect(server)
                writer.write(data)
                await writer.drain()
                writer.close()
                await writer.wait_closed()

            # A broken client that stays connected mid-header.
            _, lingering = await connect(server)
            lingering.write(b"agi_network_script: inbound\n")
            await lingering.drain()

            started = time.monotonic()
            await asyncio.sleep(0.05)
            assert time.monotonic() - started < 1.0

            started = time.monotonic()
            await serve_one(server)
            assert time.monotonic() - started < 1.0
            assert len(inbound.requests) == 1

            lingering.close()
            stats = await settle(server)
            assert (stats.connections, stats.served, stats.failed, stats.rejected) == (5, 1, 0, 0)


@pytest.mark.parametrize(
    "garbage",
    [
        bytes(range(256)).replace(b"\n", b"") * 80,  # binary, no newline, ~20 KiB
        b"agi_channel: " + b"x" * 9000 + b"\n\n",  # over-long line
        b"\xd5\xc5\xc8\xfd\xff\xfe\n\n",  # not UTF-8
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a browser or HTTP health check
    ],
    ids=["binary", "long-line", "non-utf8", "http"],
)
async def test_garbage_closes_only_that_connection(garbage: bytes) -> None:
    inbound = Recorder()
    async with serving({"inbound": inbound}) as server:
        reader, writer = await connect(server)
        writer.write(garbage)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

        assert await closed_by_server(reader)
        writer.close()
        await serve_one(server)
        assert len(inbound.requests) == 1
        stats = await settle(server)
        assert (stats.served, stats.rejected, stats.failed) == (1, 1, 0)


async def test_silent_client_times_out() -> None:
    async with serving({"inbound": Recorder()}, header_timeout=0.2) as server:
        reader, writer = await connect(server)
        started = time.monotonic()

        assert await closed_by_server(reader)
        assert 0.15 < time.monotonic() - started < 1.0
        assert (await settle(server)).rejected == 1
        writer.close()


async def test_unknown_route_is_logged_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    inbound = Recorder()
    async with serving({"inbound": inbound}) as server:
        with caplog.at_level(logging.ERROR, logger="ivr.server"):
            await serve_one(server, script="survey")

        assert inbound.requests == []
        assert (await settle(server)).failed == 1
        assert "unknown route 'survey'" in caplog.text


async def test_failing_handler_does_not_stop_the_server(caplog: pytest.LogCaptureFixture) -> None:
    inbound = Recorder()

    async def boom(request: AgiRequest, channel: AgiChannel) -> None:
        raise RuntimeError("database down")

    async with serving({"boom": boom, "inbound": inbound}) as server:
        with caplog.at_level(logging.ERROR, logger="ivr.server"):
            await serve_one(server, script="boom")
        await serve_one(server)

        assert len(inbound.requests) == 1
        stats = await settle(server)
        assert (stats.served, stats.failed) == (1, 1)
        assert "database down" in caplog.text


async def test_caller_hangup_in_a_handler_counts_as_served() -> None:
    async def hung_up(request: AgiRequest, channel: AgiChannel) -> None:
        raise AgiHangup("caller hung up")

    async with serving({"inbound": hung_up}) as server:
        await serve_one(server)

        stats = await settle(server)
        assert (stats.served, stats.failed) == (1, 0)


async def test_a_slow_handler_does_not_hold_up_other_calls() -> None:
    release = asyncio.Event()
    fast = Recorder()

    async def slow(request: AgiRequest, channel: AgiChannel) -> None:
        await release.wait()

    async with serving({"slow": slow, "inbound": fast}) as server:
        reader, writer = await connect(server)
        writer.write(request_block("slow"))
        await serve_one(server)

        assert len(fast.requests) == 1
        assert server.stats.active == 1
        release.set()
        assert await closed_by_server(reader)
        writer.close()


async def test_stop_cancels_in_flight_handlers_and_closes_the_port() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever(request: AgiRequest, channel: AgiChannel) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = FastAgiServer({"inbound": forever}, host="127.0.0.1", port=0, header_timeout=5)
    await server.start()
    port = server.port
    reader, writer = await connect(server)
    writer.write(request_block())
    await asyncio.wait_for(started.wait(), 1)

    await asyncio.wait_for(server.stop(), 1)

    assert cancelled.is_set()
    assert server.stats.active == 0
    assert await closed_by_server(reader)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    writer.close()


async def test_port_needs_a_started_server() -> None:
    server = FastAgiServer({}, host="127.0.0.1", port=0, header_timeout=1)

    with pytest.raises(RuntimeError):
        _ = server.port
    await server.start()
    assert server.port > 0
    await server.stop()
    await server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = server.port


async def test_latency_percentiles_cover_handled_requests() -> None:
    async def slow(request: AgiRequest, channel: AgiChannel) -> None:
        await asyncio.sleep(0.02)

    async with serving({"inbound": slow}) as server:
        assert server.stats.p50_ms is None
        for _ in range(5):
            await serve_one(server)
        stats = await settle(server)
        assert stats.p50_ms is not None and stats.p99_ms is not None
        assert 19 <= stats.p50_ms <= stats.p99_ms
