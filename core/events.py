"""Typed events that travel on the bus between the hotline's parts.

Protocol data (AMI events, AGI variables) is parsed at each edge into these classes; nothing
past the edge handles raw dicts. Events are immutable value objects with a stable ``name``
so they cross a process boundary (core.redis_bus) as JSON: ``to_dict`` on the way out,
``from_dict`` on the way in, which looks the class up by ``name`` and rebuilds its typed
fields (datetimes, tuples, nested records).

Every event carries a unique ``event_id``: a bus across processes delivers at least once, so
a handler that must not act twice on one event keys on it.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Union


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Root of every bus event."""

    name: ClassVar[str] = "event"
    at: datetime = field(default_factory=utcnow)
    # Not part of equality: two publications of the same fact compare equal in tests.
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready payload (datetimes as ISO 8601), with the event name."""
        out: dict[str, Any] = {"event": self.name}
        for f in dataclasses.fields(self):
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


class UnknownEvent(ValueError):
    """A payload names no known event class, or does not fit it."""


def event_classes() -> dict[str, type[Event]]:
    """Every concrete event class by its ``name`` (computed on demand: no import-time state)."""
    out: dict[str, type[Event]] = {}
    todo: list[type[Event]] = [Event]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # slots=True replaces each class at definition; only the module's own binding counts.
        module = sys.modules.get(cls.__module__)
        if getattr(module, cls.__qualname__, None) is cls:
            out[cls.name] = cls
    return out


def from_dict(payload: dict[str, Any]) -> Event:
    """The typed event a :meth:`Event.to_dict` payload came from; UnknownEvent if none fits."""
    cls = event_classes().get(str(payload.get("event")))
    if cls is None:
        raise UnknownEvent(f"unknown event {payload.get('event')!r}")
    try:
        return typing.cast(Event, _from_json(cls, payload))
    except (TypeError, ValueError, KeyError) as exc:
        raise UnknownEvent(f"payload does not fit {cls.name}: {exc}") from exc


def _from_json(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        kinds = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_json(kinds[0], value) if len(kinds) == 1 else value
    if tp is datetime:
        return datetime.fromisoformat(value)
    if origin is tuple:
        (item, *_) = typing.get_args(tp)
        return tuple(_from_json(item, v) for v in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _from_json(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return tp(**kwargs)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


# --- telephony facts, published by cti from AMI ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued(Event):
    """A caller entered a queue (AMI QueueCallerJoin)."""

    name: ClassVar[str] = "call.queued"
    node_id: str
    uniqueid: str
    linkedid: str
    queue: str
    caller: str
    dialled: str
    position: int
    ticket_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRinging(Event):
    """The queue offers a caller to an agent (AMI AgentCalled)."""

    name: ClassVar[str] = "agent.ringing"
    node_id: str
    uniqueid: str
    queue: str
    agent_id: str
    caller: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected(Event):
    """An agent answered a queued caller (AMI AgentConnect): the moment of the screen pop."""

    name: ClassVar[str] = "agent.connected"
    node_id: str
    uniqueid: str
    linkedid: str
    queue: str
    agent_id: str
    agent_channel: str
    caller: str
    dialled: str
    hold_seconds: int
    ticket_id: int | None
    # The citizen's channel (what live transcription spies on); "" when not known.
    caller_channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCallEnded(Event):
    """A queue call an agent took has ended (AMI AgentComplete)."""

    name: ClassVar[str] = "agent.call_ended"
    node_id: str
    uniqueid: str
    queue: str
    agent_id: str
    talk_seconds: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerAbandoned(Event):
    """A caller hung up while waiting in a queue (AMI QueueCallerAbandon)."""

    name: ClassVar[str] = "call.abandoned"
    node_id: str
    uniqueid: str
    queue: str
    hold_seconds: int
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHungUp(Event):
    """A channel of a call ended (AMI Hangup)."""

    name: ClassVar[str] = "channel.hangup"
    node_id: str
    uniqueid: str
    linkedid: str
    channel: str
    cause: int
    cause_text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptPlayed(Event):
    """Asterisk played a greeting or notice to a caller (our dialplan's UserEvent)."""

    name: ClassVar[str] = "call.prompt_played"
    node_id: str
    uniqueid: str
    prompt: str
    status: str  # PLAYBACKSTATUS: SUCCESS or FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoverResult(Event):
    """Asterisk dialled a centre for a call (sub-centre or emergency) and got this status."""

    name: ClassVar[str] = "call.handover_result"
    node_id: str
    uniqueid: str
    target: str
    status: str  # DIALSTATUS: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL …


@dataclass(frozen=True, slots=True, kw_only=True)
class CentreJoined(Event):
    """A centre's channel (PJSIP/peer-<number>-…) entered the bridge of one of our calls."""

    name: ClassVar[str] = "call.centre_joined"
    node_id: str
    call_id: str
    target: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferAnswered(Event):
    """The centre consulted in an attended transfer answered: only now may the agent complete
    it (completing while it rings would leave the citizen alone with a ringing line). Sent to
    the agent's desk as a ``transfer`` frame."""

    name: ClassVar[str] = "transfer"
    agent_id: str
    transfer_id: int
    call_id: str
    target: str
    state: str = "centre_answered"


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiLinkChanged(Event):
    """The AMI link to an Asterisk node went up or down."""

    name: ClassVar[str] = "ami.link"
    node_id: str
    connected: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged(Event):
    """An agent entered a state (``at`` is when): logged_out, ready, paused, on_call, wrapup."""

    name: ClassVar[str] = "agent.state"
    node_id: str
    agent_id: str
    state: str
    reason: str | None
    source: str


# --- application facts, published by app -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    """A call's record is closed (its caller hung up), published after the write committed."""

    name: ClassVar[str] = "call.ended"
    node_id: str
    uniqueid: str
    call_id: str
    answered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptReady(Event):
    """A call's post-call transcript is stored (with ``alerts`` keyword alerts found in it)."""

    name: ClassVar[str] = "transcript.ready"
    call_id: str
    ticket_id: int | None
    alerts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSummary:
    """One line of a caller's history, as shown beside the screen pop."""

    id: int
    state: str
    category: str | None
    created_at: datetime
    summary: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPop(Event):
    """Open this ticket on this agent's screen now."""

    name: ClassVar[str] = "screen_pop"
    agent_id: str
    ticket_id: int
    call_id: str
    caller: str
    dialled: str
    category: str | None
    earlier_tickets: tuple[TicketSummary, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveTranscript(Event):
    """Live text of what the citizen is saying, for the agent's desk: ``partial`` is the open
    sentence so far (replaced by the next partial), ``final`` a closed sentence. Times are
    seconds from the start of the live stream (the agent answering)."""

    name: ClassVar[str] = "live_transcript"
    agent_id: str
    call_id: str
    ticket_id: int | None
    kind: str  # partial | final
    speaker: str  # citizen
    text: str
    start: float | None
    end: float | None
    stream_at: float  # seconds of the stream decoded when this was produced


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordAlert(Event):
    """An emergency phrase heard live: the desk offers a one-key transfer to ``centre``, the
    supervisor's wallboard lists it; stored on the ticket (``alert_id``)."""

    name: ClassVar[str] = "keyword_alert"
    alert_id: int | None  # None only if the call's record is missing (not stored)
    agent_id: str
    call_id: str
    ticket_id: int | None
    category: str
    category_zh: str
    centre: str | None  # 119, 120, 122, 110 — the number to transfer to
    phrase: str
    speaker: str | None
    offset: float  # seconds from the start of the live stream
    # The one-key action: POST this path with {"target": centre, "mode": "attended"}.
    transfer_path: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRegistered(Event):
    """受理: a ticket left draft for ``registered`` (the desk's 登记受理 or a workflow request),
    published after the commit. The big screen counts today's intake and its categories."""

    name: ClassVar[str] = "ticket.registered"
    ticket_id: int
    category: str | None
    source: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SurgeAlert(Event):
    """突增预警: more requests on one matter in one place than its history makes likely, in an
    hour or a day (``casework.surge``). Published by ``app.surges`` once per new alert, after
    its row is stored; the big screen lists it."""

    name: ClassVar[str] = "surge_alert"
    category: str  # the matter (a catalogue category)
    count: int  # requests in the window
    window_minutes: int
    baseline: float | None = None  # what the window usually holds
    district: str | None = None  # a district's department code, None: the whole city
    message: str = ""  # what the hall screen shows, e.g. "朝阳区停水诉求 30 分钟 42 件"
    area: str | None = None  # the place (address cluster) or district code it concerns


# --- the case loop (接诉即办): app.cases.loop publishes these after its commit ----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvent(Event):
    """Root of the case loop's events: the ticket and the department it concerns (None: the
    ticket is in the grab pool, or back in the dispatch queue)."""

    name: ClassVar[str] = "case"
    ticket_id: int
    department: str | None
    actor: str = "system"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketDispatched(CaseEvent):
    """派单: sent to a department (direct) or published to the grab pool (grab)."""

    name: ClassVar[str] = "ticket.dispatched"
    mode: str  # direct | grab
    assisting: tuple[str, ...] = ()
    eligible: tuple[str, ...] = ()  # grab: who may claim it


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketClaimed(CaseEvent):
    """抢单: the first claim won."""

    name: ClassVar[str] = "ticket.claimed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketForceAssigned(CaseEvent):
    """指定派发: nobody claimed it in the window; the catalogue's lead department has it."""

    name: ClassVar[str] = "ticket.force_assigned"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineWarning(CaseEvent):
    """督办 reminder: the configured share of the reply time is used."""

    name: ClassVar[str] = "ticket.deadline_warning"
    due: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketOverdue(CaseEvent):
    """超期: the reply deadline passed without a reply."""

    name: ClassVar[str] = "ticket.overdue"
    due: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SignForOverdue(CaseEvent):
    """签收超时: a ticket dispatched to the department was not signed for by ``due``."""

    name: ClassVar[str] = "ticket.sign_overdue"
    due: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeFiled(CaseEvent):
    name: ClassVar[str] = "dispute.filed"
    dispute_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DisputeDecided(CaseEvent):
    """A review step: approved, confirmed (the ticket left the department) or rejected."""

    name: ClassVar[str] = "dispute.decided"
    dispute_id: int
    status: str
    new_department: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionRequested(CaseEvent):
    name: ClassVar[str] = "extension.requested"
    extension_id: int
    days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionDecided(CaseEvent):
    name: ClassVar[str] = "extension.decided"
    extension_id: int
    approved: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSupervised(CaseEvent):
    """督办 by a supervisor: by phone, in writing or on site."""

    name: ClassVar[str] = "ticket.supervised"
    level: str


# --- the node's own health -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingSpace(Event):
    """The recordings volume crossed its floor (``[recordings] min_free_mb``): ``low`` when it
    fell below, not when it came back. Published by ``app.calls.disk`` on each crossing;
    calls go on either way (Asterisk answers and queues without a recording), but new calls
    are not recorded while the disk is full."""

    name: ClassVar[str] = "recording_space"
    node_id: str
    low: bool
    free_mb: int
    min_free_mb: int
