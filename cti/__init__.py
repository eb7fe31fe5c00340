"""Computer-telephony integration: the AMI edge and the call tracker.

Where this sits in a 12345 call: the carrier's call reaches Asterisk 22, whose dialplan runs our
IVR over FastAGI (``ivr``), which writes the ticket draft and sets channel variables
(``TICKET_ID``, ``HOTLINE_DNIS``…) before the call enters the ``main`` queue. From then on
Asterisk reports the call over AMI: :class:`AmiConnection` receives those events, parses each
into a typed event (:mod:`cti.ami_events`) and queues it; one :class:`CallTracker` task per node
turns them into bus events (``core.events.CallQueued``, ``AgentConnected`` → the agent's screen
pop in ``app``, ``CallerAbandoned`` → a callback in ``callbacks``, …).

The composition root builds both and wires them::

    queue: asyncio.Queue[AmiEvent] = asyncio.Queue()
    ami = AmiConnection.from_settings(
        settings.ami, queue,
        on_link=lambda up: bus.publish(AmiLinkChanged(node_id=node, connected=up)),
    )
    tracker = CallTracker(bus, node)
    task = asyncio.create_task(tracker.run(queue))
    await ami.connect()
"""

from cti.agent_states import (
    WRAPUP_REASON,
    AgentBoard,
    AgentState,
    AgentStatus,
    QueueMembership,
)
from cti.ami_events import (
    EVENT_NAMES,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentEvent,
    AgentRingNoAnswer,
    AmiError,
    AmiEvent,
    AmiFields,
    AmiParseError,
    BridgeEnter,
    BridgeLeave,
    ChannelEvent,
    ChannelSnapshot,
    FullyBooted,
    HandoverDialled,
    Hangup,
    Newchannel,
    PromptPlayed,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMember,
    QueueMemberAdded,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
    VarSet,
    agent_id_from_interface,
    iter_ami_blocks,
    load_ami_recording,
    parse_ami_block,
    parse_event,
)
from cti.connection import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnection,
    AmiLoginError,
    AmiResponse,
    AmiUnavailable,
    LinkCallback,
)
from cti.control import CallControl, OriginateResult
from cti.tracker import CallTracker, parse_ticket_id

__all__ = [
    "EVENT_NAMES",
    "WRAPUP_REASON",
    "AgentBoard",
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentEvent",
    "AgentRingNoAnswer",
    "AgentState",
    "AgentStatus",
    "AmiActionError",
    "AmiActionTimeout",
    "AmiConnection",
    "AmiError",
    "AmiEvent",
    "AmiFields",
    "AmiLoginError",
    "AmiParseError",
    "AmiResponse",
    "AmiUnavailable",
    "BridgeEnter",
    "BridgeLeave",
    "CallControl",
    "CallTracker",
    "ChannelEvent",
    "ChannelSnapshot",
    "FullyBooted",
    "HandoverDialled",
    "Hangup",
    "LinkCallback",
    "Newchannel",
    "OriginateResult",
    "PromptPlayed",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueMember",
    "QueueMemberAdded",
    "QueueMemberEvent",
    "QueueMemberPause",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueMembership",
    "VarSet",
    "agent_id_from_interface",
    "iter_ami_blocks",
    "load_ami_recording",
    "parse_ami_block",
    "parse_event",
    "parse_ticket_id",
]
