"""Leadership: one of two contenders leads on PostgreSQL, the other takes over when the
leader's connection dies or its process is killed with -9, and SQLite always leads; the
runtime's scheduler follows it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from apscheduler.schedulers.base import STATE_RUNNING  # type: ignore[import-untyped]

from app.migrate import upgrade
from app.runtime import Runtime
from core.leader import LocalLeader, PgAdvisoryLeader, leadership
from tests.conftest import PostgresServer, make_settings


class Contender:
    def __init__(self, url: str) -> None:
        self.changes: list[bool] = []
        self.leader = PgAdvisoryLeader(
            url,
            lambda: self.changes.append(True),
            lambda: self.changes.append(False),
            retry_seconds=0.2,
        )


async def wait_for(cond: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


def terminate(postgres: PostgresServer, pid: int) -> None:
    dsn = postgres.url("postgres").replace("+psycopg", "")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.postgres
async def test_one_leads_and_the_other_takes_over(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    a, b = Contender(url), Contender(url)
    await a.leader.start()
    await b.leader.start()
    try:
        await asyncio.sleep(0.6)  # a few retries: b still does not lead
        assert a.leader.is_leader and not b.leader.is_leader
        assert (a.changes, b.changes) == ([True], [])

        pid = a.leader.backend_pid
        assert pid is not None
        await asyncio.to_thread(terminate, postgres, pid)  # what kill -9 of a does to its session
        await wait_for(lambda: b.leader.is_leader and not a.leader.is_leader)
        assert a.changes == [True, False] and b.changes == [True]

        await b.leader.stop()  # a clean stop releases the lock too
        await wait_for(lambda: a.leader.is_leader)
    finally:
        await a.leader.stop()
        await b.leader.stop()


# A leader in a process of its own, to be killed with -9.
CHILD_LEADER = """
import asyncio, sys
from core.leader import PgAdvisoryLeader

async def main():
    leader = PgAdvisoryLeader(sys.argv[1], lambda: print("leader", flush=True), lambda: None)
    await leader.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.postgres
async def test_kill_9_of_the_leader_process_frees_the_lock(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_LEADER, url, stdout=subprocess.PIPE
    )
    b = Contender(url)
    try:
        assert child.stdout is not None
        assert await child.stdout.readline() == b"leader\n"
        await b.leader.start()
        await asyncio.sleep(0.5)
        assert not b.leader.is_leader
        child.kill()
        await child.wait()
        await wait_for(lambda: b.leader.is_leader)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await b.leader.stop()


async def test_sqlite_always_leads(tmp_path: Path) -> None:
    changes: list[bool] = []
    local = leadership(
        f"sqlite:///{tmp_path / 'x.db'}",
        lambda: changes.append(True),
        lambda: changes.append(False),
    )
    assert isinstance(local, LocalLeader)
    await local.start()
    assert local.is_leader
    await local.stop()
    assert changes == [True, False]


def scheduler_runs(rt: Runtime) -> bool:
    return bool(rt.scheduler.state == STATE_RUNNING)


async def test_runtime_on_sqlite_runs_its_scheduler(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await asyncio.to_thread(upgrade, settings.db_url)
    rt = Runtime(settings)
    await rt.start()
    try:
        assert rt.leader.is_leader and scheduler_runs(rt)
    finally:
        await rt.stop()


@pytest.mark.postgres
async def test_two_runtimes_on_postgresql_run_one_scheduler(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    await asyncio.to_thread(upgrade, url)
    runtimes = [
        Runtime(
            make_settings(
                tmp_path / name,
                database_url=url,
                scheduler={"leader_retry_seconds": 0.2},
            )
        )
        for name in ("a", "b")
    ]
    for rt in runtimes:
        await rt.start()
    a, b = runtimes
    try:
        assert a.leader.is_leader and scheduler_runs(a)
        assert not b.leader.is_leader and not scheduler_runs(b)  # started, but paused
        await a.stop()  # the leader goes away: b's scheduler takes over
        await wait_for(lambda: scheduler_runs(b))
    finally:
        for rt in runtimes:
            if rt.scheduler.running:
                await rt.stop()
