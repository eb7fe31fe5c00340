"""The AMI events the hotline uses, parsed once at the edge into typed, immutable values.

Asterisk writes each event as ``Key: Value`` lines ending in a blank line. A key that repeats
(``ChanVariable: TICKET_ID=42`` once per variable listed in manager.conf ``channelvars=``)
arrives as a list of strings, the way panoramisk's ``Message`` represents it: a single
occurrence is a plain string, two or more are a ``list[str]``. :func:`parse_event` accepts such a
mapping (a panoramisk ``Message`` or the output of :func:`parse_ami_block`) and returns one of
the classes below, ``None`` for events we do not use, or raises :class:`AmiParseError` when an
event we use lacks a field we rely on. Nothing past this module handles raw AMI dicts.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, TypeAlias, TypedDict

log = logging.getLogger(__name__)

AmiFields: TypeAlias = Mapping[str, str | list[str]]
"""One AMI message: header name → value, or the list of values of a repeated header."""

UNKNOWN = "<unknown>"
"""What Asterisk prints for an absent caller id / connected line; parsed as ``None``."""

_INTEGER = re.compile(r"-?[0-9]+")  # ASCII only: int() would also take "٤٢" or "1_000"


class AmiError(Exception):
    """Root of every error the cti package raises about AMI."""


class AmiParseError(AmiError, ValueError):
    """An event we use arrived without a field we rely on, or with a malformed one."""

    def __init__(self, event: str, problem: str) -> None:
        super().__init__(f"AMI {event} event: {problem}")
        self.event = event


def _frozen_vars() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSnapshot:
    """One channel as an AMI event prints it (the ``Dest*`` fields use the same shape)."""

    channel: str
    uniqueid: str
    linkedid: str
    caller_id_num: str | None = None
    caller_id_name: str | None = None
    connected_line_num: str | None = None
    context: str = ""
    exten: str = ""
    # ``ChanVariable: NAME=value`` lines (manager.conf channelvars=), read-only.
    chan_variables: Mapping[str, str] = field(default_factory=_frozen_vars, hash=False)

    def chan_var(self, name: str) -> str | None:
        """A channel variable's value; ``None`` when absent or empty (Asterisk prints unset
        channelvars as ``NAME=``)."""
        return self.chan_variables.get(name) or None


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiEvent:
    """Root of the typed AMI events; ``event_name`` is the AMI ``Event:`` value."""

    event_name: ClassVar[str] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(ChannelSnapshot, AmiEvent):
    """An event about one channel: its fields are that channel's snapshot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Newchannel(ChannelEvent):
    event_name: ClassVar[str] = "Newchannel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(ChannelEvent):
    event_name: ClassVar[str] = "Hangup"
    cause: int
    cause_text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VarSet(ChannelEvent):
    event_name: ClassVar[str] = "VarSet"
    variable: str
    value: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoin(ChannelEvent):
    event_name: ClassVar[str] = "QueueCallerJoin"
    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeave(ChannelEvent):
    event_name: ClassVar[str] = "QueueCallerLeave"
    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandon(ChannelEvent):
    event_name: ClassVar[str] = "QueueCallerAbandon"
    queue: str
    position: int
    original_position: int
    hold_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent(ChannelEvent):
    """A queue event between a caller (the event's own channel) and a queue member.

    ``dest`` is the member's channel (the ``Dest*`` fields); ``interface`` the member as
    queues.conf names it (``PJSIP/1001``).
    """

    queue: str
    interface: str
    member_name: str
    dest: ChannelSnapshot

    @property
    def agent_id(self) -> str:
        return agent_id_from_interface(self.interface)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(AgentEvent):
    event_name: ClassVar[str] = "AgentCalled"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(AgentEvent):
    event_name: ClassVar[str] = "AgentRingNoAnswer"
    ring_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnect(AgentEvent):
    event_name: ClassVar[str] = "AgentConnect"
    ring_time: int
    hold_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentComplete(AgentEvent):
    event_name: ClassVar[str] = "AgentComplete"
    hold_time: int
    talk_time: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEnter(ChannelEvent):
    event_name: ClassVar[str] = "BridgeEnter"
    bridge_uniqueid: str
    bridge_type: str = ""
    bridge_num_channels: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeLeave(ChannelEvent):
    event_name: ClassVar[str] = "BridgeLeave"
    bridge_uniqueid: str
    bridge_type: str = ""
    bridge_num_channels: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptPlayed(ChannelEvent):
    """``UserEvent(HotlinePrompt,…)`` from our dialplan after each greeting or notice:
    Asterisk's own word on which prompt played and how (PLAYBACKSTATUS)."""

    event_name: ClassVar[str] = "UserEvent"
    prompt: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoverDialled(ChannelEvent):
    """``UserEvent(HotlineHandover,…)`` after the dialplan dialled a centre for this channel:
    DIALSTATUS says whether the centre answered (ANSWER, BUSY, NOANSWER, …)."""

    event_name: ClassVar[str] = "UserEvent"
    target: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FullyBooted(AmiEvent):
    """Asterisk finished starting (also sent right after each login)."""

    event_name: ClassVar[str] = "FullyBooted"
    status: str = ""
    uptime: int | None = None
    last_reload: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberEvent(AmiEvent):
    """A queue member's state as Asterisk reports it (cti.agent_states reads these)."""

    queue: str
    interface: str
    member_name: str
    membership: str  # dynamic or static
    paused: bool
    paused_reason: str
    in_call: bool
    status: int  # device state: 1 not in use, 2 in use, 5 unavailable, 6 ringing …
    last_pause: int = 0  # epoch seconds of the member's last pause (0: never)

    @property
    def agent_id(self) -> str:
        return agent_id_from_interface(self.interface)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberAdded(QueueMemberEvent):
    event_name: ClassVar[str] = "QueueMemberAdded"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberRemoved(QueueMemberEvent):
    event_name: ClassVar[str] = "QueueMemberRemoved"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberPause(QueueMemberEvent):
    event_name: ClassVar[str] = "QueueMemberPause"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberStatus(QueueMemberEvent):
    event_name: ClassVar[str] = "QueueMemberStatus"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMember(QueueMemberEvent):
    """One member in the answer to the QueueStatus action (the rebuild after a reconnect)."""

    event_name: ClassVar[str] = "QueueMember"


def agent_id_from_interface(interface: str) -> str:
    """``PJSIP/1001`` → ``1001``; ``Local/1001@agents/n`` → ``1001``."""
    _tech, slash, resource = interface.partition("/")
    if not slash:
        return interface
    return resource.split("@", 1)[0].split("/", 1)[0]


# --- parsing -------------------------------------------------------------------------------


class _ChannelFields(TypedDict):
    channel: str
    uniqueid: str
    linkedid: str
    caller_id_num: str | None
    caller_id_name: str | None
    connected_line_num: str | None
    context: str
    exten: str
    chan_variables: Mapping[str, str]


class _Fields:
    """Case-insensitive, typed access to one AMI message's fields, naming the event on error."""

    def __init__(self, event: str, raw: AmiFields) -> None:
        self.event = event
        self._raw = {key.lower(): value for key, value in raw.items()}

    def _single(self, key: str) -> str | None:
        value = self._raw.get(key.lower())
        if isinstance(value, list):
            raise AmiParseError(self.event, f"field {key} appears {len(value)} times")
        return value

    def text(self, key: str) -> str:
        value = self._single(key)
        if not value:
            raise AmiParseError(self.event, f"required field {key} is missing or empty")
        return value

    def optional(self, key: str) -> str:
        return self._single(key) or ""

    def caller_id(self, key: str) -> str | None:
        value = self.optional(key).strip()
        return None if value in ("", UNKNOWN) else value

    def integer(self, key: str) -> int:
        value = self.text(key).strip()
        if not _INTEGER.fullmatch(value):
            raise AmiParseError(self.event, f"field {key} is not an integer: {value!r}")
        return int(value)

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if self._single(key) else None

    def variables(self, key: str) -> Mapping[str, str]:
        raw = self._raw.get(key.lower())
        items = [raw] if isinstance(raw, str) else (raw or [])
        out: dict[str, str] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name:
                log.warning("AMI %s event: ignored malformed %s %r", self.event, key, item)
                continue
            out[name] = value
        return MappingProxyType(out)

    def channel(self, prefix: str = "") -> _ChannelFields:
        return _ChannelFields(
            channel=self.text(f"{prefix}Channel"),
            uniqueid=self.text(f"{prefix}Uniqueid"),
            linkedid=self.text(f"{prefix}Linkedid"),
            caller_id_num=self.caller_id(f"{prefix}CallerIDNum"),
            caller_id_name=self.caller_id(f"{prefix}CallerIDName"),
            connected_line_num=self.caller_id(f"{prefix}ConnectedLineNum"),
            context=self.optional(f"{prefix}Context"),
            exten=self.optional(f"{prefix}Exten"),
            chan_variables=self.variables(f"{prefix}ChanVariable"),
        )

    def dest(self) -> ChannelSnapshot:
        return ChannelSnapshot(**self.channel("Dest"))


def _agent_called(f: _Fields) -> AgentCalled:
    return AgentCalled(
        **f.channel(),
        queue=f.text("Queue"),
        interface=f.text("Interface"),
        member_name=f.optional("MemberName"),
        dest=f.dest(),
    )


def _agent_ring_no_answer(f: _Fields) -> AgentRingNoAnswer:
    return AgentRingNoAnswer(
        **f.channel(),
        queue=f.text("Queue"),
        interface=f.text("Interface"),
        member_name=f.optional("MemberName"),
        dest=f.dest(),
        ring_time=f.integer("RingTime"),
    )


def _agent_connect(f: _Fields) -> AgentConnect:
    return AgentConnect(
        **f.channel(),
        queue=f.text("Queue"),
        interface=f.text("Interface"),
        member_name=f.optional("MemberName"),
        dest=f.dest(),
        ring_time=f.integer("RingTime"),
        hold_time=f.integer("HoldTime"),
    )


def _agent_complete(f: _Fields) -> AgentComplete:
    return AgentComplete(
        **f.channel(),
        queue=f.text("Queue"),
        interface=f.text("Interface"),
        member_name=f.optional("MemberName"),
        dest=f.dest(),
        hold_time=f.integer("HoldTime"),
        talk_time=f.integer("TalkTime"),
        reason=f.optional("Reason"),
    )


def _member(cls: type[QueueMemberEvent]) -> Callable[[_Fields], QueueMemberEvent]:
    def parse(f: _Fields) -> QueueMemberEvent:
        # Member events name the member "Interface"; QueueStatus's QueueMember says "Location".
        interface = f.optional("Interface") or f.text("Location")
        return cls(
            queue=f.text("Queue"),
            interface=interface,
            member_name=f.optional("MemberName") or f.optional("Name"),
            membership=f.optional("Membership"),
            paused=f.optional("Paused") == "1",
            paused_reason=f.optional("PausedReason"),
            in_call=f.optional("InCall") == "1",
            status=f.optional_integer("Status") or 0,
            last_pause=f.optional_integer("LastPause") or 0,
        )

    return parse


def _user_event(f: _Fields) -> AmiEvent | None:
    """Our dialplan's own events; any other UserEvent is not ours to read."""
    kind = f.optional("UserEvent")
    if kind == "HotlinePrompt":
        return PromptPlayed(**f.channel(), prompt=f.text("Prompt"), status=f.optional("Status"))
    if kind == "HotlineHandover":
        return HandoverDialled(**f.channel(), target=f.text("Target"), status=f.optional("Status"))
    return None


_PARSERS: dict[str, Callable[[_Fields], AmiEvent | None]] = {
    "newchannel": lambda f: Newchannel(**f.channel()),
    "hangup": lambda f: Hangup(
        **f.channel(), cause=f.integer("Cause"), cause_text=f.optional("Cause-txt")
    ),
    "varset": lambda f: VarSet(
        **f.channel(), variable=f.text("Variable"), value=f.optional("Value")
    ),
    "queuecallerjoin": lambda f: QueueCallerJoin(
        **f.channel(),
        queue=f.text("Queue"),
        position=f.integer("Position"),
        count=f.integer("Count"),
    ),
    "queuecallerleave": lambda f: QueueCallerLeave(
        **f.channel(),
        queue=f.text("Queue"),
        position=f.integer("Position"),
        count=f.integer("Count"),
    ),
    "queuecallerabandon": lambda f: QueueCallerAbandon(
        **f.channel(),
        queue=f.text("Queue"),
        position=f.integer("Position"),
        original_position=f.integer("OriginalPosition"),
        hold_time=f.integer("HoldTime"),
    ),
    "agentcalled": _agent_called,
    "agentringnoanswer": _agent_ring_no_answer,
    "agentconnect": _agent_connect,
    "agentcomplete": _agent_complete,
    "bridgeenter": lambda f: BridgeEnter(
        **f.channel(),
        bridge_uniqueid=f.text("BridgeUniqueid"),
        bridge_type=f.optional("BridgeType"),
        bridge_num_channels=f.integer("BridgeNumChannels"),
    ),
    "bridgeleave": lambda f: BridgeLeave(
        **f.channel(),
        bridge_uniqueid=f.text("BridgeUniqueid"),
        bridge_type=f.optional("BridgeType"),
        bridge_num_channels=f.integer("BridgeNumChannels"),
    ),
    "userevent": _user_event,
    "queuememberadded": _member(QueueMemberAdded),
    "queuememberremoved": _member(QueueMemberRemoved),
    "queuememberpause": _member(QueueMemberPause),
    "queuememberstatus": _member(QueueMemberStatus),
    "queuemember": _member(QueueMember),
    "fullybooted": lambda f: FullyBooted(
        status=f.optional("Status"),
        uptime=f.optional_integer("Uptime"),
        last_reload=f.optional_integer("LastReload"),
    ),
}

EVENT_NAMES: frozenset[str] = frozenset(
    cls.event_name
    for cls in (
        Newchannel,
        Hangup,
        VarSet,
        QueueCallerJoin,
        QueueCallerLeave,
        QueueCallerAbandon,
        AgentCalled,
        AgentRingNoAnswer,
        AgentConnect,
        AgentComplete,
        BridgeEnter,
        BridgeLeave,
        PromptPlayed,
        FullyBooted,
        QueueMemberAdded,
        QueueMemberRemoved,
        QueueMemberPause,
        QueueMemberStatus,
    )
)
"""The ``Event:`` values :func:`parse_event` turns into typed events (for manager.conf filters)."""


def parse_event(fields: AmiFields) -> AmiEvent | None:
    """Turn one AMI event's fields into its typed event.

    Returns ``None`` for event types we do not use; raises :class:`AmiParseError` when the
    message has no ``Event`` field or an event we use lacks a required field.
    """
    name = next((v for k, v in fields.items() if k.lower() == "event"), None)
    if name is None:
        raise AmiParseError("(unnamed)", "no Event field: not an AMI event")
    if isinstance(name, list):
        raise AmiParseError("(unnamed)", f"Event field appears {len(name)} times: {name!r}")
    parser = _PARSERS.get(name.strip().lower())
    if parser is None:
        return None
    return parser(_Fields(name.strip(), fields))


# --- raw AMI text (recorded traffic, test fixtures) -----------------------------------------


def parse_ami_block(text: str) -> dict[str, str | list[str]]:
    """Parse one AMI message (``Key: Value`` lines, CRLF or LF) into a mapping.

    Repeated keys become a list of their values in order, as panoramisk's ``Message`` does;
    lines without a ``:`` (the ``Asterisk Call Manager/…`` greeting, garbage) are skipped.
    """
    fields: dict[str, str | list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            continue
        value = value[1:] if value.startswith(" ") else value
        previous = fields.get(key)
        if previous is None:
            fields[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            fields[key] = [previous, value]
    return fields


def iter_ami_blocks(text: str) -> Iterator[dict[str, str | list[str]]]:
    """Split AMI traffic (messages separated by a blank line) into parsed messages."""
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            block.append(line)
            continue
        if block:
            fields = parse_ami_block("\n".join(block))
            if fields:
                yield fields
            block = []


def load_ami_recording(path: str | os.PathLike[str]) -> list[dict[str, str | list[str]]]:
    """Every message of a recorded AMI traffic file, in order (UTF-8, CRLF as on the wire)."""
    return list(iter_ami_blocks(Path(path).read_bytes().decode("utf-8")))
