"""A test's own view of Asterisk: logs in to AMI and keeps every event with its arrival time.

Assertions about what happened on the call (who answered, when, which bridge) come from here,
from Asterisk itself, not from the app under test. ``dump_to`` writes the raw wire text, which
is how tests/unit/data/ami/ fixtures were recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ObservedEvent:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]

    @property
    def name(self) -> str:
        return self.fields.get("Event", "")


class AmiObserver:
    def __init__(
        self, host: str, port: int, username: str, secret: str, dump_to: Path | None = None
    ) -> None:
        self._addr = (host, port)
        self._login = (username, secret)
        self._dump = dump_to.open("w", encoding="utf-8", newline="") if dump_to else None
        self.events: list[ObservedEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> AmiObserver:
        reader, writer = await asyncio.open_connection(*self._addr)
        self._writer = writer
        await reader.readline()  # banner
        user, secret = self._login
        writer.write(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n".encode())
        await writer.drain()
        block = await self._read_block(reader)
        if block.get("Response") != "Success":
            raise RuntimeError(f"AMI login failed: {block}")
        self._task = asyncio.create_task(self._run(reader))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer:
            self._writer.close()
        if self._dump:
            self._dump.close()

    async def _read_block(self, reader: asyncio.StreamReader) -> dict[str, str]:
        fields: dict[str, str] = {}
        raw = []
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("AMI closed")
            raw.append(line.decode("utf-8", "replace"))
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if fields:
                    if self._dump and "Event" in fields:
                        self._dump.write("".join(raw))
                    return fields
                raw.clear()
                continue
            key, _, value = text.partition(": ")
            # Repeated keys (ChanVariable) are folded into "Key[NAME]" for assertions.
            if key in ("ChanVariable", "DestChanVariable") and "=" in value:
                name, _, val = value.partition("=")
                fields[f"{key}[{name}]"] = val
            else:
                fields[key] = value

    async def _run(self, reader: asyncio.StreamReader) -> None:
        while True:
            fields = await self._read_block(reader)
            if "Event" in fields:
                self.events.append(ObservedEvent(time.monotonic(), fields))
                self._changed.set()

    async def wait_for(
        self,
        name: str,
        timeout: float,
        prefix: dict[str, str] | None = None,
        after: ObservedEvent | None = None,
        **match: str,
    ) -> ObservedEvent:
        """The first event ``name`` (later than ``after``) whose fields equal ``match`` and
        start with ``prefix``."""
        deadline = time.monotonic() + timeout
        starts = prefix or {}
        while True:
            for ev in self.events:
                if after is not None and ev.at <= after.at:
                    continue
                if (
                    ev.name == name
                    and all(ev.fields.get(k) == v for k, v in match.items())
                    and all(ev.fields.get(k, "").startswith(v) for k, v in starts.items())
                ):
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = sorted({e.name for e in self.events})
                raise TimeoutError(f"no AMI {name} {match} {starts} within {timeout} s; saw {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def named(self, name: str) -> list[ObservedEvent]:
        return [e for e in self.events if e.name == name]
