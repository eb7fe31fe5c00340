"""A throwaway redis-server for the bus tests and the faults bench: a loopback port, its own
folder, and an append-only file fsynced on every write, so what Redis acknowledged survives
``kill -9`` (the durability the multi-node README asks of the bus's Redis)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.conftest import free_port


class RedisServer:
    """A throwaway redis-server on a loopback port; appendonly so kill -9 keeps the stream."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is missing: run scripts/setup --test (apt-get install redis-server)"
            )
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        where = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        # fsync every write: an XADD Redis acknowledged survives kill -9.
        durable = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(
            [self.binary, *where, *durable],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown save, only the append-only file survives
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
