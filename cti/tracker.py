"""Per-call state from AMI events, and the telephony facts it publishes on the bus.

One :class:`CallTracker` per Asterisk node consumes that node's typed AMI events from one queue
in one task (:meth:`CallTracker.run`), so per-call state has a single owner and events are
handled in the order Asterisk sent them. State is keyed by the channel's ``Uniqueid`` and
forgotten at its ``Hangup``; it only enriches what each event already carries (with
manager.conf ``channelvars=`` every event repeats the ticket id and dialled number), so losing
it on a restart or a missed Hangup degrades nothing but a fallback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from core.bus import Bus
from core.events import (
    AgentCallEnded,
    AgentConnected,
    AgentRinging,
    CallerAbandoned,
    CallQueued,
    CentreJoined,
    ChannelHungUp,
    HandoverResult,
)
from core.events import PromptPlayed as PromptPlayedEvent
from cti.ami_events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AmiEvent,
    BridgeEnter,
    ChannelEvent,
    HandoverDialled,
    Hangup,
    PromptPlayed,
    QueueCallerAbandon,
    QueueCallerJoin,
    VarSet,
)

log = logging.getLogger(__name__)

TICKET_ID_VAR = "TICKET_ID"
"""Channel variable the IVR sets to the ticket draft's id (manager.conf channelvars=)."""
DNIS_VAR = "HOTLINE_DNIS"
"""Channel variable holding the number the citizen dialled (12345, or a merged old number)."""

_TICKET_ID = re.compile(r"[0-9]{1,18}")


def parse_ticket_id(value: str | None) -> int | None:
    """A positive integer ticket id, or ``None`` for an absent, empty or malformed value."""
    if value is None:
        return None
    value = value.strip()
    if not _TICKET_ID.fullmatch(value) or int(value) == 0:
        return None
    return int(value)


# Centres' endpoints are named peer-<number> (hotline/numberplan_conf.py).
PEER_PREFIX = "PJSIP/peer-"
MEDIA_PREFIX = "PJSIP/"
CALL_ID_VAR = "HOTLINE_CALL_ID"


@dataclass(slots=True)
class _Channel:
    """What we remember about one channel between its events."""

    linkedid: str
    media: bool = False  # a SIP channel: it holds an RTP port pair (cti.media_ports)
    caller: str | None = None
    dialled: str | None = None
    ticket_id: int | None = None


class CallTracker:
    """Turns one node's AMI events into bus events (CallQueued, AgentConnected, …)."""

    def __init__(self, bus: Bus, node_id: str, *, max_tracked: int = 20_000) -> None:
        self._bus = bus
        self._node_id = node_id
        # Bound on remembered channels, for Hangups missed while the AMI link was down.
        self._max_tracked = max_tracked
        self._channels: dict[str, _Channel] = {}

    @property
    def active_channels(self) -> int:
        """How many channels the tracker currently remembers."""
        return len(self._channels)

    @property
    def media_channels(self) -> int:
        """Channels up that carry RTP (PJSIP; not Local, Snoop or Announcer channels)."""
        return sum(1 for c in self._channels.values() if c.media)

    def reset(self) -> None:
        """Forget every channel (when Asterisk restarted and its channels are gone)."""
        self._channels.clear()

    async def run(self, queue: asyncio.Queue[AmiEvent]) -> None:
        """Handle events from ``queue`` in order until cancelled; a failure skips one event."""
        while True:
            event = await queue.get()
            try:
                await self.handle(event)
            except Exception:
                log.exception("call tracker failed on %s", type(event).__name__)
            finally:
                queue.task_done()

    async def handle(self, event: AmiEvent) -> None:
        """Update per-call state from one event and publish what it means."""
        if not isinstance(event, ChannelEvent):
            return
        if isinstance(event, Hangup):
            self._channels.pop(event.uniqueid, None)
            self._bus.publish(
                ChannelHungUp(
                    node_id=self._node_id,
                    uniqueid=event.uniqueid,
                    linkedid=event.linkedid,
                    channel=event.channel,
                    cause=event.cause,
                    cause_text=event.cause_text,
                )
            )
            return
        state = self._observe(event)
        node = self._node_id
        match event:
            case QueueCallerJoin():
                self._bus.publish(
                    CallQueued(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        linkedid=event.linkedid,
                        queue=event.queue,
                        caller=state.caller or "",
                        dialled=state.dialled or event.exten,
                        position=event.position,
                        ticket_id=state.ticket_id,
                    )
                )
            case AgentCalled():
                self._bus.publish(
                    AgentRinging(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        queue=event.queue,
                        agent_id=event.agent_id,
                        caller=state.caller or "",
                    )
                )
            case AgentConnect():
                self._bus.publish(
                    AgentConnected(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        linkedid=event.linkedid,
                        queue=event.queue,
                        agent_id=event.agent_id,
                        agent_channel=event.dest.channel,
                        caller=state.caller or "",
                        dialled=state.dialled or event.exten,
                        hold_seconds=event.hold_time,
                        ticket_id=state.ticket_id,
                        caller_channel=event.channel,
                    )
                )
            case AgentComplete():
                self._bus.publish(
                    AgentCallEnded(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        queue=event.queue,
                        agent_id=event.agent_id,
                        talk_seconds=event.talk_time,
                        reason=event.reason,
                    )
                )
            case QueueCallerAbandon():
                self._bus.publish(
                    CallerAbandoned(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        queue=event.queue,
                        hold_seconds=event.hold_time,
                        position=event.position,
                    )
                )
            case PromptPlayed():
                self._bus.publish(
                    PromptPlayedEvent(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        prompt=event.prompt,
                        status=event.status,
                    )
                )
            case BridgeEnter() if event.channel.startswith(PEER_PREFIX) and event.chan_var(
                CALL_ID_VAR
            ):
                target = event.channel.removeprefix(PEER_PREFIX).rsplit("-", 1)[0]
                self._bus.publish(
                    CentreJoined(
                        node_id=node,
                        call_id=event.chan_var(CALL_ID_VAR) or "",
                        target=target,
                        channel=event.channel,
                    )
                )
            case HandoverDialled():
                self._bus.publish(
                    HandoverResult(
                        node_id=node,
                        uniqueid=event.uniqueid,
                        target=event.target,
                        status=event.status,
                    )
                )
            case _:
                pass

    def _observe(self, event: ChannelEvent) -> _Channel:
        """The channel's state, created on first sight and refreshed from this event."""
        state = self._channels.get(event.uniqueid)
        if state is None:
            if len(self._channels) >= self._max_tracked:
                oldest = next(iter(self._channels))
                log.warning("tracking %d channels: forgot %s", len(self._channels), oldest)
                del self._channels[oldest]
            state = self._channels[event.uniqueid] = _Channel(
                linkedid=event.linkedid, media=event.channel.startswith(MEDIA_PREFIX)
            )
        state.linkedid = event.linkedid
        if event.caller_id_num:
            state.caller = event.caller_id_num
        # The number dialled: the IVR's HOTLINE_DNIS, else the extension the channel was
        # first seen in (the DID on Newchannel, before any Goto inside the dialplan).
        dnis = event.chan_var(DNIS_VAR)
        if dnis:
            state.dialled = dnis
        elif state.dialled is None and event.exten:
            state.dialled = event.exten
        raw_ticket = event.chan_var(TICKET_ID_VAR)
        if raw_ticket is not None:
            state.ticket_id = self._ticket_id(raw_ticket, event)
        if isinstance(event, VarSet) and event.value:
            if event.variable == TICKET_ID_VAR:
                state.ticket_id = self._ticket_id(event.value, event)
            elif event.variable == DNIS_VAR:
                state.dialled = event.value
        return state

    @staticmethod
    def _ticket_id(raw: str, event: ChannelEvent) -> int | None:
        ticket_id = parse_ticket_id(raw)
        if ticket_id is None:
            log.warning(
                "%s on %s: %s=%r is not a ticket id",
                event.event_name,
                event.channel,
                TICKET_ID_VAR,
                raw,
            )
        return ticket_id
