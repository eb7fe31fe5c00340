"""Asterisk's queue log, read back at the edge: what happened to calls while the app was away.

Asterisk appends one line per queue event to ``<astlogdir>/queue_log``, synchronously on the
channel's own thread (no Stasis taskprocessor, unlike CDR and CEL)::

    1732260000|1732259990.12|main|1001|CONNECT|8|1732260000.13|2

``time|callid|queue|agent|event|data…``; ``callid`` is the caller channel's uniqueid, ``agent``
the member name (our agent id). Our dialplan adds two lines of its own with ``QueueLog()``
(asterisk_conf/extensions.conf) so a call that never reaches a queue, and the facts the queue
does not know, are there too:

- ``HOTLINE_START`` after Answer: ``dialled|linkedid|channel|source|epoch.ms|caller``
  (the caller number last: it comes from outside and may hold anything, even a ``|``);
- ``HOTLINE_END`` in the channel's hang-up handler: ``cause|route|prompt|playback status``.

This module is pure: :func:`parse_line` makes typed lines, :class:`CallFold` folds them into
one :class:`LoggedCall` per caller channel, and the file helpers read from a byte offset
(``FilePosition``), find where a time starts (:func:`offset_at`) and follow a rotation.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal

START = "HOTLINE_START"
END = "HOTLINE_END"
# Queue events that end the caller's time in the queue (an agent's call, or no agent).
_QUEUE_DONE = frozenset(
    {"COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"}
)
_NO_AGENT = frozenset({"EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"})

# lost: open when Asterisk restarted (a QUEUESTART line): the call died with it.
Outcome = Literal["answered", "abandoned", "unanswered", "lost"]


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    at: datetime  # UTC, whole seconds (Asterisk writes time(NULL))
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    offset: int = 0  # byte offset of the line in its file


def parse_line(raw: str, offset: int = 0) -> QueueLogLine | None:
    """One line of the queue log, or None for a line that is not one (torn, garbage)."""
    parts = raw.rstrip("\r\n").split("|")
    if len(parts) < 5 or not parts[0].isdigit():
        return None
    return QueueLogLine(
        at=datetime.fromtimestamp(int(parts[0]), UTC),
        callid=parts[1],
        queue=parts[2],
        agent=parts[3],
        event=parts[4],
        data=tuple(parts[5:]),
        offset=offset,
    )


def agent_id(member: str) -> str | None:
    """Member name → agent id: ``1001``, or the interface ``PJSIP/1001`` of an unnamed one."""
    if not member or member == "NONE":
        return None
    return member.rsplit("/", 1)[-1]


def _int(values: tuple[str, ...], index: int) -> int | None:
    with contextlib.suppress(IndexError, ValueError):
        return int(values[index])
    return None


def _epoch(value: str) -> datetime | None:
    with contextlib.suppress(ValueError, OverflowError):
        return datetime.fromtimestamp(float(value), UTC) if value else None
    return None


@dataclass(slots=True)
class LoggedCall:
    """One caller channel as the queue log tells it. ``closed``: its end is in the log.
    The fold fills it in place while it is open; once handed out it is not changed."""

    uniqueid: str
    started_at: datetime
    first_offset: int
    last_at: datetime
    linkedid: str | None = None
    channel: str | None = None
    caller: str | None = None
    dialled: str | None = None
    source: str | None = None
    queue: str | None = None
    agent_id: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hold_seconds: int | None = None
    outcome: Outcome | None = None
    route: str | None = None  # set by FastAGI; None: the dialplan fell through (app down)
    prompt: str | None = None
    prompt_status: str | None = None
    cause: int | None = None
    closed: bool = False
    has_start: bool = False  # our HOTLINE_START line was read (else: queue lines only)

    @property
    def wait_seconds(self) -> int | None:
        """How long a caller who reached nobody waited (queue wait, or the whole call)."""
        if self.hold_seconds is not None:
            return self.hold_seconds
        if self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds())


@dataclass
class CallFold:
    """Folds queue-log lines, in file order, into calls; feed it across many reads."""

    calls: dict[str, LoggedCall] = field(default_factory=dict)  # still open, by uniqueid
    closed: list[LoggedCall] = field(default_factory=list)  # drained by take_closed()
    newest: datetime | None = None

    def feed(self, line: QueueLogLine) -> None:
        self.newest = line.at if self.newest is None else max(self.newest, line.at)
        if line.event == "QUEUESTART":
            # app_queue (re)loaded: Asterisk restarted, and no open call survived it.
            for uid in list(self.calls):
                self.calls[uid].outcome = "lost"
                self._close(uid)
            return
        if line.callid in ("", "NONE"):
            return
        call = self.calls.get(line.callid)
        if line.event == START:
            self.calls[line.callid] = self._started(line)
            return
        if call is None:
            if line.event != "ENTERQUEUE":
                return  # a call that started before what we read, or not a caller's line
            call = LoggedCall(
                uniqueid=line.callid,
                started_at=line.at,
                first_offset=line.offset,
                last_at=line.at,
                caller=(line.data[1] or None) if len(line.data) > 1 else None,
            )
        self._apply(call, line)
        self.calls[line.callid] = call
        if call.closed:
            self._close(line.callid)

    @staticmethod
    def _started(line: QueueLogLine) -> LoggedCall:
        d = line.data
        head = (*d[:5], *([""] * (5 - len(d[:5]))))
        return LoggedCall(
            uniqueid=line.callid,
            started_at=_epoch(head[4]) or line.at,
            first_offset=line.offset,
            last_at=line.at,
            dialled=head[0] or None,
            linkedid=head[1] or None,
            channel=head[2] or None,
            source=head[3] or None,
            caller="|".join(d[5:]) or None,
            has_start=True,
        )

    @staticmethod
    def _apply(call: LoggedCall, line: QueueLogLine) -> None:
        """One line's facts into the (still open) call, in place: a copy per line would be
        most of the fold's time over a large log."""
        ev, d = line.event, line.data
        call.last_at = line.at
        if ev == "ENTERQUEUE":
            call.queue = line.queue
        elif ev == "CONNECT":
            call.queue, call.agent_id, call.answered_at = line.queue, agent_id(line.agent), line.at
            call.hold_seconds, call.outcome = _int(d, 0), "answered"
        elif ev == END:
            call.ended_at, call.cause, call.closed = line.at, _int(d, 0), True
            call.route = (d[1] or None) if len(d) > 1 else None
            call.prompt = (d[2] or None) if len(d) > 2 else None
            call.prompt_status = (d[3] or None) if len(d) > 3 else None
            call.outcome = call.outcome or "unanswered"
        elif ev == "ABANDON" or ev in _NO_AGENT or ev in _QUEUE_DONE:
            if call.outcome is None and ev == "ABANDON":
                call.outcome, call.hold_seconds = "abandoned", _int(d, 2)
            elif call.outcome is None and ev in _NO_AGENT:
                call.outcome = "unanswered"
                call.hold_seconds = _int(d, 3) if ev == "EXITWITHKEY" else _int(d, 2)
            if not call.has_start:
                # No START line (it was before what we read): the queue's last word closes it;
                # otherwise the hang-up handler's END line does.
                call.ended_at, call.closed = line.at, True
                call.outcome = call.outcome or "unanswered"

    def _close(self, uid: str) -> None:
        call = self.calls.pop(uid)
        if not call.closed:
            call.closed, call.ended_at = True, call.ended_at or call.last_at
            call.outcome = call.outcome or "unanswered"
        self.closed.append(call)

    def take_closed(self) -> list[LoggedCall]:
        out, self.closed = self.closed, []
        return out

    def expire(self, older_than: timedelta) -> None:
        """Close calls whose last line is ``older_than`` before the newest line: their end was
        lost (Asterisk killed without a restart line, a torn file); they must not pin the
        watermark for ever."""
        if self.newest is None:
            return
        for uid, call in list(self.calls.items()):
            if self.newest - call.last_at > older_than:
                self._close(uid)

    def resume_offset(self, end_offset: int) -> int:
        """Where the next read must start so every open call is read from its first line."""
        return min((c.first_offset for c in self.calls.values()), default=end_offset)


# --- the file -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilePosition:
    """A place in the queue log: the file's identity (inode) and a byte offset in it."""

    inode: int
    offset: int


def read_lines(path: Path, offset: int, limit: int = 1 << 20) -> tuple[list[QueueLogLine], int]:
    """Whole lines from ``offset``, at most about ``limit`` bytes; and the offset after the
    last whole line (a line Asterisk is still writing is left for the next read)."""
    with path.open("rb") as f:
        f.seek(offset)
        chunk = f.read(limit)
    end = chunk.rfind(b"\n") + 1
    lines: list[QueueLogLine] = []
    pos = offset
    for raw in chunk[:end].splitlines(keepends=True):
        line = parse_line(raw.decode("utf-8", "replace"), pos)
        if line is not None:
            lines.append(line)
        pos += len(raw)
    if end == 0 and len(chunk) == limit:
        # One line longer than ``limit``: garbage, skip it rather than stall.
        return [], offset + len(chunk)
    return lines, offset + end


def _line_time_after(f: BinaryIO, pos: int) -> tuple[int, datetime] | None:
    """The first whole line starting at or after ``pos``: its offset and time."""
    f.seek(pos)
    if pos:
        f.readline()  # the rest of a line we landed in
    while True:
        start = f.tell()
        raw = f.readline()
        if not raw:
            return None
        line = parse_line(raw.decode("utf-8", "replace"))
        if line is not None:
            return start, line.at


def offset_at(path: Path, when: datetime) -> int:
    """Byte offset of the first line at or after ``when``, by bisecting the file (lines are
    in time order): a year of records is a few dozen reads, not a scan."""
    size = path.stat().st_size
    lo, hi = 0, size
    with path.open("rb") as f:
        while lo < hi:
            mid = (lo + hi) // 2
            found = _line_time_after(f, mid)
            if found is None or found[1] >= when:
                hi = mid
            else:
                lo = mid + 1
        found = _line_time_after(f, lo)
    return found[0] if found is not None else size


def segments(path: Path, mark: FilePosition | None) -> list[tuple[Path, int]]:
    """What to read since ``mark``: the rest of the marked file, wherever it is now (rotated to
    ``queue_log.N`` by ``logger rotate``), then the current file from the start."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return []
    if mark is None or mark.inode == current.st_ino:
        start = mark.offset if mark is not None and mark.offset <= current.st_size else 0
        return [(path, start)]
    out: list[tuple[Path, int]] = []
    for sibling in sorted(path.parent.glob(path.name + ".*")):
        with contextlib.suppress(OSError):
            if os.stat(sibling).st_ino == mark.inode:
                out.append((sibling, mark.offset))
                break
    return [*out, (path, 0)]


def inode(path: Path) -> int:
    return path.stat().st_ino


def iter_file(path: Path, offset: int) -> Iterator[QueueLogLine]:
    """Every whole line from ``offset`` to the end (tests, tools)."""
    while True:
        lines, offset2 = read_lines(path, offset)
        yield from lines
        if offset2 == offset:
            return
        offset = offset2
