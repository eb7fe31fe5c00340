"""AMI text → typed events, at the edge (cti.ami_events), replayed from recorded traffic."""

from __future__ import annotations

import dataclasses
import pkgutil
from pathlib import Path

import pytest
from panoramisk import Message

import cti
from cti.ami_events import (
    EVENT_NAMES,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiParseError,
    BridgeEnter,
    BridgeLeave,
    FullyBooted,
    HandoverDialled,
    Hangup,
    Newchannel,
    PromptPlayed,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    VarSet,
    agent_id_from_interface,
    iter_ami_blocks,
    load_ami_recording,
    parse_ami_block,
    parse_event,
)

DATA = Path(__file__).parent / "data" / "ami"
ANSWERED = DATA / "answered_call.ami"
ABANDONED = DATA / "abandoned_call.ami"


def events_of(path: Path) -> list[object]:
    return [parse_event(fields) for fields in load_ami_recording(path)]


def test_answered_call_recording_parses_into_typed_events_in_order() -> None:
    kinds = [type(e) for e in events_of(ANSWERED)]
    assert kinds == [
        Newchannel,
        VarSet,
        QueueCallerJoin,
        Newchannel,
        AgentCalled,
        AgentConnect,
        BridgeEnter,
        BridgeEnter,
        AgentComplete,
        BridgeLeave,
        Hangup,
        Hangup,
    ]


def test_abandoned_call_recording_parses_into_typed_events_in_order() -> None:
    kinds = [type(e) for e in events_of(ABANDONED)]
    assert kinds == [
        Newchannel,
        VarSet,
        QueueCallerJoin,
        Newchannel,
        AgentCalled,
        AgentRingNoAnswer,
        Hangup,
        QueueCallerAbandon,
        QueueCallerLeave,
        Hangup,
    ]


def test_channel_fields_unknown_caller_id_and_chan_variables() -> None:
    join = events_of(ANSWERED)[2]
    assert isinstance(join, QueueCallerJoin)
    assert join.channel == "PJSIP/carrier-00000000"
    assert join.uniqueid == join.linkedid == "1795330000.0"
    assert join.caller_id_num == "13800000001"
    assert join.caller_id_name is None  # "<unknown>" on the wire
    assert join.connected_line_num is None
    assert (join.context, join.exten) == ("hotline-inbound", "12345")
    assert dict(join.chan_variables) == {
        "TICKET_ID": "42",
        "HOTLINE_CALL_ID": "1795330000.0",
        "HOTLINE_CATEGORY": "consultation",
        "HOTLINE_DNIS": "12345",
    }
    assert (join.queue, join.position, join.count) == ("main", 1, 1)


def test_unset_channel_variable_reads_as_none() -> None:
    newchannel = events_of(ANSWERED)[0]
    assert isinstance(newchannel, Newchannel)
    assert newchannel.chan_variables["TICKET_ID"] == ""
    assert newchannel.chan_var("TICKET_ID") is None
    assert newchannel.chan_var("NOT_CONFIGURED") is None


def test_agent_connect_carries_member_and_destination_channel() -> None:
    connect = events_of(ANSWERED)[5]
    assert isinstance(connect, AgentConnect)
    assert (connect.queue, connect.interface, connect.member_name) == ("main", "PJSIP/1001", "1001")
    assert connect.agent_id == "1001"
    assert (connect.ring_time, connect.hold_time) == (3, 12)
    assert connect.dest.channel == "PJSIP/1001-00000001"
    assert connect.dest.uniqueid == "1795330012.1"
    assert connect.dest.linkedid == "1795330000.0"
    assert connect.dest.caller_id_num == "1001"
    assert connect.dest.connected_line_num == "13800000001"
    assert dict(connect.dest.chan_variables) == {
        "TICKET_ID": "",
        "HOTLINE_CALL_ID": "",
        "HOTLINE_CATEGORY": "",
        "HOTLINE_DNIS": "",
    }
    assert connect.chan_var("TICKET_ID") == "42"


def test_other_event_specific_fields() -> None:
    answered = events_of(ANSWERED)
    varset, complete, hangup = answered[1], answered[8], answered[10]
    assert isinstance(varset, VarSet)
    assert (varset.variable, varset.value) == ("TICKET_ID", "42")
    assert isinstance(complete, AgentComplete)
    assert (complete.hold_time, complete.talk_time, complete.reason) == (12, 187, "caller")
    assert isinstance(hangup, Hangup)
    assert (hangup.cause, hangup.cause_text) == (16, "Normal Clearing")
    bridge = answered[7]
    assert isinstance(bridge, BridgeEnter)
    assert bridge.bridge_num_channels == 2 and bridge.bridge_type == "basic"
    abandoned = events_of(ABANDONED)
    no_answer, abandon = abandoned[5], abandoned[7]
    assert isinstance(no_answer, AgentRingNoAnswer)
    assert (no_answer.agent_id, no_answer.ring_time) == ("1002", 15)
    assert isinstance(abandon, QueueCallerAbandon)
    assert (abandon.position, abandon.original_position, abandon.hold_time) == (1, 1, 23)


def test_fully_booted() -> None:
    event = parse_event(
        {
            "Event": "FullyBooted",
            "Privilege": "system,all",
            "Uptime": "12",
            "Status": "Fully Booted",
        }
    )
    assert event == FullyBooted(status="Fully Booted", uptime=12, last_reload=None)


def test_panoramisk_message_parses_like_our_block_parser() -> None:
    # panoramisk keeps a repeated key as a list of values (a single one as a str) and adds a
    # "content" pseudo-key; the typed event must come out the same either way.
    raw = ANSWERED.read_bytes().decode()
    for text in raw.split("\r\n\r\n"):
        if not text.strip():
            continue
        message = Message.from_line(text.strip())
        assert isinstance(message["ChanVariable"], list)
        assert parse_event(message) == parse_event(parse_ami_block(text))


def test_single_chan_variable_is_a_string_and_still_parsed() -> None:
    fields = parse_ami_block(
        "Event: Newchannel\r\nChannel: PJSIP/x-1\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n"
        "ChanVariable: TICKET_ID=7\r\n"
    )
    assert fields["ChanVariable"] == "TICKET_ID=7"
    event = parse_event(fields)
    assert isinstance(event, Newchannel)
    assert dict(event.chan_variables) == {"TICKET_ID": "7"}


def test_value_containing_equals_sign_is_kept_whole() -> None:
    event = parse_event(
        {
            "Event": "Newchannel",
            "Channel": "PJSIP/x-1",
            "Uniqueid": "1.1",
            "Linkedid": "1.1",
            "ChanVariable": ["HOTLINE_CATEGORY=a=b", "broken", "TICKET_ID="],
        }
    )
    assert isinstance(event, Newchannel)
    assert dict(event.chan_variables) == {"HOTLINE_CATEGORY": "a=b", "TICKET_ID": ""}


def test_unused_event_types_give_none() -> None:
    assert parse_event({"Event": "Newexten", "Channel": "PJSIP/x-1"}) is None
    assert parse_event({"Event": "DeviceStateChange", "Device": "PJSIP/1001"}) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Event": "Hangup", "Channel": "PJSIP/x-1", "Linkedid": "1.1", "Cause": "16"}, "Uniqueid"),
        (
            {"Event": "Hangup", "Channel": "PJSIP/x-1", "Uniqueid": "1.1", "Linkedid": "1.1"},
            "Cause",
        ),
        (
            {
                "Event": "Hangup",
                "Channel": "PJSIP/x-1",
                "Uniqueid": "1.1",
                "Linkedid": "1.1",
                "Cause": "sixteen",
            },
            "not an integer",
        ),
        (
            {
                "Event": "Hangup",
                "Channel": ["PJSIP/x-1", "PJSIP/y-2"],
                "Uniqueid": "1.1",
                "Linkedid": "1.1",
                "Cause": "16",
            },
            "appears 2 times",
        ),
        ({"Channel": "PJSIP/x-1"}, "no Event field"),
        ({"Event": ["Hangup", "Hangup"]}, "Event field appears 2 times"),
    ],
)
def test_known_event_with_missing_or_bad_field_raises_clear_error(
    fields: dict[str, str | list[str]], message: str
) -> None:
    with pytest.raises(AmiParseError, match=message):
        parse_event(fields)


def test_agent_event_without_destination_channel_is_rejected() -> None:
    fields = load_ami_recording(ANSWERED)[5]
    del fields["DestChannel"]
    with pytest.raises(AmiParseError, match=r"AgentConnect.*DestChannel"):
        parse_event(fields)


def test_field_names_are_case_insensitive() -> None:
    event = parse_event(
        {
            "event": "hangup",
            "CHANNEL": "PJSIP/x-1",
            "uniqueid": "1.1",
            "linkedID": "1.1",
            "cause": "0",
        }
    )
    assert isinstance(event, Hangup) and event.uniqueid == "1.1"


@pytest.mark.parametrize(
    ("interface", "agent"),
    [
        ("PJSIP/1001", "1001"),
        ("Local/1001@agents", "1001"),
        ("Local/1001@agents/n", "1001"),
        ("SIP/2002", "2002"),
        ("1003", "1003"),
    ],
)
def test_agent_id_from_interface(interface: str, agent: str) -> None:
    assert agent_id_from_interface(interface) == agent


def test_events_are_immutable() -> None:
    event = events_of(ANSWERED)[2]
    assert isinstance(event, QueueCallerJoin)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.queue = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.chan_variables["TICKET_ID"] = "1"  # type: ignore[index]


def test_block_reader_accepts_lf_skips_greeting_and_garbage() -> None:
    text = (
        "Asterisk Call Manager/11.0.0\n"
        "Response: Success\nMessage: Authentication accepted\n\n"
        "\n\n"
        "garbage without a colon\n\n"
        "Event: VarSet\nVariable: X\nValue: a: b\nValue:c\n"
    )
    blocks = list(iter_ami_blocks(text))
    assert blocks == [
        {"Response": "Success", "Message": "Authentication accepted"},
        {"Event": "VarSet", "Variable": "X", "Value": ["a: b", "c"]},
    ]


def test_loader_reads_every_block_of_a_recording() -> None:
    raw = ANSWERED.read_bytes()
    assert raw.count(b"\r\n\r\n") == len(load_ami_recording(ANSWERED)) == 12
    assert all(block["Privilege"] for block in load_ami_recording(ANSWERED))


def test_event_names_list_every_typed_event() -> None:
    assert {
        "Newchannel",
        "Hangup",
        "VarSet",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "BridgeEnter",
        "UserEvent",
        "BridgeLeave",
        "FullyBooted",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
    } == EVENT_NAMES


def test_package_exports() -> None:
    assert len(set(cti.__all__)) == len(cti.__all__)
    for name in cti.__all__:
        assert getattr(cti, name) is not None, name
    assert {"AmiConnection", "CallTracker", "parse_event", "AmiLoginError"} <= set(cti.__all__)
    # Submodules become package attributes once any test imports them, so which ones show up
    # depends on test order; exclude every submodule, not a hand-kept list of them.
    submodules = {m.name for m in pkgutil.iter_modules(cti.__path__)}
    assert {"connection", "tracker", "media_ports"} <= submodules
    public = {n for n in dir(cti) if not n.startswith("_")} - submodules
    assert public == set(cti.__all__)


def test_hotline_prompt_user_event_is_typed_and_other_user_events_ignored() -> None:
    base = {
        "Event": "UserEvent",
        "Channel": "PJSIP/carrier-00000003",
        "Uniqueid": "e2e-1.3",
        "Linkedid": "e2e-1.3",
        "CallerIDNum": "13800000001",
    }
    played = parse_event(
        {**base, "UserEvent": "HotlinePrompt", "Prompt": "notice-12369", "Status": "SUCCESS"}
    )
    assert isinstance(played, PromptPlayed)
    assert (played.prompt, played.status, played.uniqueid) == ("notice-12369", "SUCCESS", "e2e-1.3")
    assert parse_event({**base, "UserEvent": "SomethingElse"}) is None
    handover = parse_event(
        {**base, "UserEvent": "HotlineHandover", "Target": "12366", "Status": "ANSWER"}
    )
    assert isinstance(handover, HandoverDialled)
    assert (handover.target, handover.status) == ("12366", "ANSWER")
