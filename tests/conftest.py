"""Fixtures shared by every suite: settings for tests and databases (SQLite and a real
PostgreSQL server that the session starts and stops)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLAN = REPO / "numberplan.example.toml"
EXAMPLE_CATALOGUE = REPO / "dispatch.example.toml"
# chinesecalendar 1.11 stops at 2026; start-up checks the coming month, so tests bring a year.
TEST_CALENDAR = REPO / "tests" / "unit" / "data" / "casework" / "calendar-2027.toml"
TEST_SECRET = "test-secret-0123456789abcdefghij"
TEST_TOKEN = "test-token-0123456789abcdefghijkl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp,
        # Nothing listens there: the app must come up and keep retrying AMI.
        "ami": {"secret": TEST_SECRET, "port": free_port(), "reconnect_max_delay": 1},
        "api": {"token": TEST_TOKEN, "port": free_port()},
        "agi": {"port": free_port()},
        "number_plan": EXAMPLE_PLAN,
        "asterisk": {"root": tmp / "root", "instance": "unit"},
        "casework": {"catalogue": EXAMPLE_CATALOGUE, "calendar_overrides": TEST_CALENDAR},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


class PostgresServer:
    """A throwaway PostgreSQL cluster on loopback, owned by the 'postgres' system user."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is missing: apt-get install -y postgresql")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.port = free_port()
        self.user = "postgres"

    def _as_pg(self, *cmd: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            prefix = ["runuser", "-u", self.user, "--"]
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.dir / "data"
        self._as_pg(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self._as_pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_pg(
                str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(
                    self.url("postgres").replace("+psycopg", ""), autocommit=True
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each supported kind."""
    from app.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    upgrade(url)
    return url
