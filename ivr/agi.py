"""The AGI edge: parse the FastAGI header block and talk AGI commands back to Asterisk.

Asterisk's dialplan opens a TCP connection to our FastAGI server (``ivr.server``), sends the
``agi_*: value`` header block ended by a blank line, then waits for commands on the same
socket. ``read_request`` turns the header block into an ``AgiRequest``; ``AgiChannel`` sends
commands and parses the replies into ``AgiResult``. Nothing past this module sees raw AGI text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol
from urllib.parse import parse_qsl

MAX_HEADER_LINES = 256
MAX_LINE_BYTES = 8 * 1024

# Asterisk's values for "no such data" (caller id withheld, no redirecting number, ...).
_ABSENT = frozenset({"", "unknown"})
_HEADER_KEY = re.compile(r"agi_[a-z0-9_]+")
_ARG_KEY = re.compile(r"agi_arg_([0-9]+)")
_STATUS = re.compile(r"([0-9]{3})([ -])(.*)")
# Variable and function names go on the command line unquoted: keep them to one safe token.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.()\-,:/]*")


class AgiError(Exception):
    """Root of every error raised by the ``ivr`` AGI edge."""


class AgiProtocolError(AgiError):
    """The peer broke the FastAGI protocol (bad header block, unreadable reply, timeout)."""


class AgiHangup(AgiError):
    """The channel hung up or the connection to Asterisk ended; no more commands can run."""


class AgiCommandError(AgiError):
    """Asterisk refused a command (510 unknown command, 520 usage error, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"AGI error {code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One FastAGI request, as parsed from the ``agi_*`` header block."""

    network_script: str
    channel: str
    uniqueid: str
    query: tuple[tuple[str, str], ...] = ()
    language: str | None = None
    callerid: str | None = None
    calleridname: str | None = None
    dnid: str | None = None
    rdnis: str | None = None
    context: str = ""
    extension: str = ""
    priority: int | None = None
    accountcode: str | None = None
    args: tuple[str, ...] = ()
    # Raw block for debugging only; code must read the typed fields above.
    headers: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    def param(self, name: str) -> str | None:
        """First value of query parameter ``name`` (``agi://host/script?name=value``)."""
        return next((v for k, v in self.query if k == name), None)


def _optional(headers: Mapping[str, str], key: str) -> str | None:
    value = headers.get(key, "")
    return None if value in _ABSENT else value


def parse_headers(lines: Iterable[str]) -> AgiRequest:
    """Parse a FastAGI header block (lines without or with their newline; stops at a blank line).

    Raises ``AgiProtocolError`` on anything Asterisk would not send.
    """
    headers: dict[str, str] = {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            break
        key, sep, value = line.partition(":")
        if not sep or not _HEADER_KEY.fullmatch(key):
            raise AgiProtocolError(f"malformed AGI header line {line[:80]!r}")
        if key in headers:
            raise AgiProtocolError(f"duplicate AGI header {key!r}")
        # "agi_accountcode: " carries an empty value; tolerate "key:" if a space got stripped.
        headers[key] = value[1:] if value.startswith(" ") else value

    for required in ("agi_network_script", "agi_channel", "agi_uniqueid"):
        if not headers.get(required):
            raise AgiProtocolError(f"AGI header block has no {required}")

    script, _, query = headers["agi_network_script"].lstrip("/").partition("?")
    priority_text = headers.get("agi_priority", "")
    if priority_text and not priority_text.isdigit():
        raise AgiProtocolError(f"agi_priority is not a number: {priority_text[:20]!r}")

    numbered = [(int(m.group(1)), v) for k, v in headers.items() if (m := _ARG_KEY.fullmatch(k))]
    return AgiRequest(
        network_script=script,
        channel=headers["agi_channel"],
        uniqueid=headers["agi_uniqueid"],
        query=tuple(parse_qsl(query, keep_blank_values=True)),
        language=_optional(headers, "agi_language"),
        callerid=_optional(headers, "agi_callerid"),
        calleridname=_optional(headers, "agi_calleridname"),
        dnid=_optional(headers, "agi_dnid"),
        rdnis=_optional(headers, "agi_rdnis"),
        context=headers.get("agi_context", ""),
        extension=headers.get("agi_extension", ""),
        priority=int(priority_text) if priority_text else None,
        accountcode=_optional(headers, "agi_accountcode"),
        args=tuple(v for _, v in sorted(numbered)),
        headers=MappingProxyType(headers),
    )


# The deadline is part of the protocol contract (settings.agi.header_timeout), not a
# caller-side cancellation, hence a parameter rather than asyncio.timeout around the call.
async def read_request(
    reader: asyncio.StreamReader,
    timeout: float,  # noqa: ASYNC109
) -> AgiRequest | None:
    """Read one header block; ``None`` if the peer closed before the blank line.

    The timeout bounds the whole block (Asterisk sends it at once), so a client trickling
    one line at a time cannot hold a connection open for long. Never spins on EOF: that is
    the panoramisk bug that froze the event loop (DESIGN.md §5).
    """
    lines: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await reader.readline()
                except ValueError as exc:  # the stream's own limit: a line with no newline
                    raise AgiProtocolError("AGI header line too long") from exc
                if not raw.endswith(b"\n"):
                    return None  # EOF, possibly after half a line: a connect-and-close probe
                if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                    raise AgiProtocolError(f"AGI header line longer than {MAX_LINE_BYTES} bytes")
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise AgiProtocolError("AGI header is not UTF-8") from exc
                if not line:
                    break
                if len(lines) >= MAX_HEADER_LINES:
                    raise AgiProtocolError(f"more than {MAX_HEADER_LINES} AGI header lines")
                lines.append(line)
    except TimeoutError as exc:
        raise AgiProtocolError(f"no complete AGI header block within {timeout:g} s") from exc
    return parse_headers(lines)


@dataclass(frozen=True, slots=True)
class AgiResult:
    """A successful (200) reply: ``200 result=<result> [(<data>)]``."""

    code: int
    result: str
    data: str | None = None


def parse_result(line: str) -> AgiResult:
    """Parse a single-line ``200 result=...`` reply (other codes are handled by the caller)."""
    match = _STATUS.fullmatch(line)
    if match is None or not match.group(3).startswith("result="):
        raise AgiProtocolError(f"unreadable AGI reply {line[:80]!r}")
    value, _, rest = match.group(3)[len("result=") :].partition(" ")
    rest = rest.strip()
    data: str | None = None
    # Data is in parentheses and may itself contain ')' (a variable's value): take the last one.
    if rest.startswith("(") and (end := rest.rfind(")")) > 0:
        data = rest[1:end]
    return AgiResult(code=int(match.group(1)), result=value, data=data)


def quote(value: str) -> str:
    """Quote one AGI argument: Asterisk splits on spaces and honours ``"`` and ``\\``."""
    _single_line(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _single_line(text: str) -> str:
    # A newline would end the command early and let the rest run as a second command.
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"AGI text must be one line: {text[:40]!r}")
    return text


def _name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a channel variable or function name: {name[:40]!r}")
    return name


class LineWriter(Protocol):
    """The sending half of the socket; ``asyncio.StreamWriter`` fits."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class AgiChannel:
    """Talk AGI to Asterisk for one call, over the FastAGI socket it opened.

    Commands run one at a time (AGI is strictly request/reply). After a hangup every
    command raises ``AgiHangup`` without touching the socket.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: LineWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self._hung_up = False

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    async def command(self, text: str) -> AgiResult:
        """Send one AGI command and return its 200 reply.

        Raises ``AgiHangup`` (HANGUP line, 511 dead channel, EOF), ``AgiCommandError``
        (510, 520 and other refusals), ``AgiProtocolError`` (unreadable reply).
        """
        _single_line(text)
        async with self._lock:
            if self._hung_up:
                raise AgiHangup("channel already hung up")
            try:
                self._writer.write(text.encode("utf-8") + b"\n")
                await self._writer.drain()
            except ConnectionError as exc:
                self._hung_up = True
                raise AgiHangup("connection to Asterisk lost") from exc
            while True:
                line = await self._readline()
                if line == "HANGUP":
                    self._hung_up = True
                    raise AgiHangup("caller hung up")
                if line.startswith("100 "):
                    continue  # "100 result=0 Trying...": the real reply follows
                if line.startswith("520-"):
                    raise AgiCommandError(520, await self._usage(line[4:]))
                if line.startswith("200 "):
                    return parse_result(line)
                code, _, message = line.partition(" ")
                if code == "511":
                    self._hung_up = True
                    raise AgiHangup(message or "dead channel")
                if len(code) == 3 and code.isdigit():
                    raise AgiCommandError(int(code), message)
                raise AgiProtocolError(f"unreadable AGI reply {line[:80]!r}")

    async def _usage(self, first: str) -> str:
        # 520-... usage text runs until the "520 End of proper usage." line.
        parts = [first]
        while not (line := await self._readline()).startswith("520 "):
            parts.append(line)
        return "\n".join(parts).strip()

    async def _readline(self) -> str:
        try:
            raw = await self._reader.readline()
        except ValueError as exc:
            self._hung_up = True  # the reply stream is out of step now: no further commands
            raise AgiProtocolError("AGI reply line too long") from exc
        except ConnectionError as exc:
            self._hung_up = True
            raise AgiHangup("connection to Asterisk lost") from exc
        if not raw.endswith(b"\n"):
            self._hung_up = True
            raise AgiHangup("connection to Asterisk closed")
        # Values come from callers' SIP headers; a stray byte must not fail the whole call.
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def set_variable(self, name: str, value: str) -> None:
        """``SET VARIABLE``; prefix the name with ``__`` to have the agent's channel inherit it."""
        await self.command(f"SET VARIABLE {_name(name)} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function (``CHANNEL(linkedid)``); ``None`` when unset."""
        return _value(await self.command(f"GET VARIABLE {_name(name)}"))

    async def get_full_variable(self, expression: str) -> str | None:
        """Evaluate a dialplan expression such as ``${CHANNEL(linkedid)}``."""
        return _value(await self.command(f"GET FULL VARIABLE {quote(expression)}"))

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write to the Asterisk console/log at a verbosity level (1-4)."""
        await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def stream_file(self, path: str, escape_digits: str = "") -> str:
        """Play a sound file (no extension); return the digit that interrupted it, or ""."""
        reply = await self.command(f"STREAM FILE {quote(path)} {quote(escape_digits)}")
        return _digit(reply)

    async def get_data(self, path: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``path`` and collect up to ``max_digits`` DTMF digits; "" when none came in
        time. Digits pressed during the prompt count (the citizen need not wait for it)."""
        reply = await self.command(f"GET DATA {quote(path)} {int(timeout_ms)} {int(max_digits)}")
        if reply.result == "-1":
            self._hung_up = True
            raise AgiHangup("caller hung up during GET DATA")
        return "" if reply.data == "timeout" and not reply.result.isdigit() else reply.result

    async def record_file(
        self, path: str, fmt: str, escape_digits: str, timeout_ms: int, silence_s: int
    ) -> None:
        """Record from the caller into ``path.fmt`` after a beep, until a digit in
        ``escape_digits``, ``silence_s`` seconds of silence or ``timeout_ms``. A hang-up
        during the recording keeps what was said and raises ``AgiHangup``."""
        reply = await self.command(
            f"RECORD FILE {quote(path)} {quote(fmt)} {quote(escape_digits)} "
            f"{int(timeout_ms)} BEEP s={int(silence_s)}"
        )
        if reply.result == "-1":
            self._hung_up = True
            raise AgiHangup("caller hung up during RECORD FILE")

    async def exec(self, app: str, *args: str) -> AgiResult:
        """Run a dialplan application; ``args`` are joined with commas as in the dialplan.

        ``result`` is the application's return value: ``-1`` usually means the caller left.
        """
        return await self.command(f"EXEC {_name(app)} {quote(','.join(args))}")


def _digit(reply: AgiResult) -> str:
    """STREAM FILE answers with the ASCII code of the interrupting digit (0: none)."""
    if reply.result == "-1":
        raise AgiHangup("caller hung up during playback")
    code = int(reply.result) if reply.result.isdigit() else 0
    return chr(code) if code else ""


def _value(reply: AgiResult) -> str | None:
    return (reply.data or "") if reply.result == "1" else None
