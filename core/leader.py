"""Leadership: which of the app processes runs the scheduler's jobs.

app.runtime starts its one APScheduler paused and resumes it only while this process leads,
so the case sweep, the reports, the callbacks and the outbox run exactly once however many
processes serve. On PostgreSQL the leader holds a session-level advisory lock
(``pg_try_advisory_lock``) on a connection of its own: the lock lives exactly as long as that
connection, so a leader killed with -9 (or whose backend is terminated) frees it and another
process takes it at its next try. On SQLite there is one process by design: it always leads.

A leader checks its connection every ``retry_seconds`` and steps down when it is gone, so the
overlap of an old and a new leader is at most about one interval; jobs stay idempotent anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Protocol

import psycopg
from psycopg.rows import TupleRow
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# The advisory lock's key: a fixed 64-bit number derived from a name, shared by all processes.
SCHEDULER_LOCK = "hotline.scheduler"


def lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


Callback = Callable[[], None]


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalLeader:
    """One process (SQLite, the embedded default): it leads from start to stop."""

    def __init__(self, on_elected: Callback, on_deposed: Callback) -> None:
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def start(self) -> None:
        self._leading = True
        self._on_elected()

    async def stop(self) -> None:
        if self._leading:
            self._leading = False
            self._on_deposed()


class PgAdvisoryLeader:
    """Leads while it holds a PostgreSQL advisory lock on its own connection."""

    def __init__(
        self,
        database_url: str,
        on_elected: Callback,
        on_deposed: Callback,
        *,
        name: str = SCHEDULER_LOCK,
        retry_seconds: float = 5.0,
    ) -> None:
        # libpq's form of the SQLAlchemy URL (postgresql+psycopg:// → postgresql://).
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._key = lock_key(name)
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.retry_seconds = retry_seconds
        self._conn: psycopg.AsyncConnection[TupleRow] | None = None
        self._leading = False
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def backend_pid(self) -> int | None:
        """The lock connection's server process (tests terminate it)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    async def start(self) -> None:
        await self._attempt()  # a lone process leads as soon as start returns
        self._task = asyncio.create_task(self._run(), name="leader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._step_down()
        await self._close()  # closing the session releases the lock

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            await self._attempt()

    async def _attempt(self) -> None:
        try:
            # A hung connection (network partition) must not keep us "leading" unnoticed.
            async with asyncio.timeout(max(5.0, 2 * self.retry_seconds)):
                await self._try_lock()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            if self._leading:
                log.warning("leader: lost the lock connection (%s); stepping down", exc)
            self._step_down()
            await self._close()

    async def _try_lock(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=5
            )
        if self._leading:
            await self._conn.execute("SELECT 1")  # still ours while the session lives
            return
        cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
        row = await cur.fetchone()
        if row is not None and row[0]:
            self._leading = True
            log.info("leader: this process now runs the scheduler")
            self._on_elected()

    def _step_down(self) -> None:
        if self._leading:
            self._leading = False
            self._on_deposed()

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()
            self._conn = None


def leadership(
    database_url: str, on_elected: Callback, on_deposed: Callback, *, retry_seconds: float = 5.0
) -> Leadership:
    """PostgreSQL: the advisory lock; anything else (SQLite, one process): always local."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return PgAdvisoryLeader(database_url, on_elected, on_deposed, retry_seconds=retry_seconds)
    return LocalLeader(on_elected, on_deposed)
