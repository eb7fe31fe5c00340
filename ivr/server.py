"""Our FastAGI server: Asterisk's dialplan connects here (``AGI(agi://127.0.0.1:14573/inbound)``).

Replaces panoramisk's ``fast_agi.Application``, whose header loop spins on EOF and freezes the
event loop (DESIGN.md §5). Each connection gets its own task: read the header block with a
timeout, pick the handler by route name, run it with an ``AgiChannel``, close the socket.
A bad client or a failing handler only ever ends its own connection.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ivr.agi import MAX_LINE_BYTES, AgiChannel, AgiError, AgiHangup, AgiRequest, read_request

log = logging.getLogger(__name__)

AgiHandler = Callable[[AgiRequest, AgiChannel], Awaitable[None]]

# How many recent requests the latency percentiles are computed over.
LATENCY_WINDOW = 10_000
# How long closing a socket may wait for unsent data before it is aborted.
_CLOSE_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class FastAgiStats:
    """Counters for the health endpoint.

    ``served``: handler returned (or the caller hung up meanwhile); ``failed``: unknown route
    or handler error; ``rejected``: malformed or late header block. A client that connects
    and closes (a TCP health check) counts only as a connection.
    """

    connections: int
    served: int
    failed: int
    rejected: int
    active: int
    # Handling time of recent requests (headers read → handler done), in milliseconds.
    p50_ms: float | None
    p99_ms: float | None


class FastAgiServer:
    """Serves FastAGI requests on ``host:port`` by route (``agi_network_script``)."""

    def __init__(
        self,
        routes: Mapping[str, AgiHandler],
        host: str,
        port: int,
        header_timeout: float,
    ) -> None:
        self._routes: Mapping[str, AgiHandler] = MappingProxyType(dict(routes))
        self._host = host
        self._requested_port = port
        self._header_timeout = header_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = 0
        self._served = 0
        self._failed = 0
        self._rejected = 0
        self._durations: deque[float] = deque(maxlen=LATENCY_WINDOW)

    @property
    def port(self) -> int:
        """The port actually bound (useful when started with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAgiServer is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def stats(self) -> FastAgiStats:
        p50 = p99 = None
        if len(self._durations) >= 2:
            cuts = statistics.quantiles(self._durations, n=100, method="inclusive")
            p50, p99 = round(cuts[49], 3), round(cuts[98], 3)
        elif self._durations:
            p50 = p99 = round(self._durations[0], 3)
        return FastAgiStats(
            connections=self._connections,
            served=self._served,
            failed=self._failed,
            rejected=self._rejected,
            active=len(self._tasks),
            p50_ms=p50,
            p99_ms=p99,
        )

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAgiServer already started")
        # The stream limit caps a header line that never ends; Asterisk's lines are far shorter.
        self._server = await asyncio.start_server(
            self._accept, self._host, self._requested_port, limit=MAX_LINE_BYTES
        )
        log.info("FastAGI server listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening, cancel in-flight handlers and wait for them to finish."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
        log.info("FastAGI server stopped")

    async def drain(self) -> None:
        """Wait until no connection is in flight (graceful shutdown, tests)."""
        while self._tasks:
            # asyncio.wait, not gather: cancelling drain() must not cancel the calls.
            await asyncio.wait(list(self._tasks))

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback: we own the task (asyncio's own wrapper would log our cancellation).
        self._connections += 1
        task = asyncio.create_task(self._serve(reader, writer), name="fastagi-connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            await self._handle(reader, writer, peer)
        finally:
            await _close(writer)

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        try:
            request = await read_request(reader, self._header_timeout)
        except AgiError as exc:
            self._rejected += 1
            log.warning("FastAGI client %s rejected: %s", peer, exc)
            return
        if request is None:
            log.debug("FastAGI client %s closed before sending a request", peer)
            return

        handler = self._routes.get(request.network_script)
        if handler is None:
            self._failed += 1
            log.error(
                "FastAGI unknown route %r from %s (channel %s)",
                request.network_script,
                peer,
                request.channel,
            )
            return

        started = time.perf_counter()
        try:
            await handler(request, AgiChannel(reader, writer))
        except AgiHangup as exc:
            # The caller leaving mid-dialog is normal telephony, not a server failure.
            self._served += 1
            log.info(
                "FastAGI %s for call %s ended by hangup: %s",
                request.network_script,
                request.uniqueid,
                exc,
            )
        except Exception:
            self._failed += 1
            log.exception(
                "FastAGI handler %r failed for call %s", request.network_script, request.uniqueid
            )
        else:
            self._served += 1
        finally:
            self._durations.append((time.perf_counter() - started) * 1000)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()  # peer stopped reading; don't keep the socket for it
    except OSError:
        pass  # the peer reset the connection first: it is closed either way
