"""Property-based fuzzing of the three protocol edges Asterisk talks to: AMI events, FastAGI
header blocks and replies, AudioSocket frames. Whatever arrives, each parser either returns
its typed result or raises its own documented error: never another exception, never a hang.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.ami_events import _PARSERS, AmiParseError, parse_ami_block, parse_event
from ivr.agi import AgiProtocolError, AgiResult, parse_headers, parse_result
from transcription.audiosocket import AudioSocketError, Frame, FrameKind, FrameParser, encode

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# Keys Asterisk really sends, so the generator reaches the typed parsers, not just the lookup.
AMI_KEYS = st.sampled_from(
    [
        "Event",
        "Channel",
        "Uniqueid",
        "Linkedid",
        "CallerIDNum",
        "Queue",
        "Interface",
        "MemberName",
        "HoldTime",
        "TalkTime",
        "Paused",
        "Status",
        "UserEvent",
        "Variable",
        "Value",
        "Position",
        "Reason",
        "DestChannel",
        "DestUniqueid",
        "BridgeUniqueid",
    ]
)
AMI_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "1001", "PJSIP/1001", "Local/1001@agents", "99999999999"]),
    st.integers(-(10**12), 10**12).map(str),
)
EVENT_NAMES = st.sampled_from(sorted(_PARSERS))


@FUZZ
@given(
    name=EVENT_NAMES,
    fields=st.dictionaries(AMI_KEYS, st.one_of(AMI_VALUES, st.lists(AMI_VALUES, max_size=3))),
)
def test_ami_events_parse_or_raise_their_own_error(
    name: str, fields: dict[str, str | list[str]]
) -> None:
    fields = {**fields, "Event": name}
    with contextlib.suppress(AmiParseError):
        parse_event(fields)


@FUZZ
@given(st.text(max_size=400))
def test_ami_text_blocks_never_crash(text: str) -> None:
    fields = parse_ami_block(text)
    assert all(":" not in key and " " not in key for key in fields)
    with contextlib.suppress(AmiParseError):
        parse_event(fields)


AGI_LINES = st.one_of(
    st.text(max_size=60),
    st.builds(
        "{}: {}".format,
        st.sampled_from(
            [
                "agi_network_script",
                "agi_channel",
                "agi_uniqueid",
                "agi_priority",
                "agi_callerid",
                "agi_arg_1",
                "agi_arg_2",
                "agi_extension",
                "agi_language",
            ]
        ),
        st.text(max_size=30),
    ),
)


@FUZZ
@given(st.lists(AGI_LINES, max_size=20))
def test_agi_header_blocks_parse_or_raise_a_protocol_error(lines: list[str]) -> None:
    try:
        request = parse_headers(lines)
    except AgiProtocolError:
        return
    assert request.channel and request.uniqueid


@FUZZ
@given(st.one_of(st.text(max_size=80), st.builds("200 result={}".format, st.text(max_size=40))))
def test_agi_replies_parse_or_raise_a_protocol_error(line: str) -> None:
    with contextlib.suppress(AgiProtocolError):
        assert isinstance(parse_result(line), AgiResult)


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_audiosocket_garbage_is_frames_or_a_clean_error(data: bytes, cuts: list[int]) -> None:
    parser = FrameParser()
    frames: list[Frame] = []
    try:
        start = 0
        for cut in cuts:
            frames += parser.feed(data[start : start + cut])
            start += cut
        frames += parser.feed(data[start:])
    except AudioSocketError:
        return
    consumed = sum(3 + len(f.payload) for f in frames)
    assert consumed + parser.pending == len(data)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.builds(lambda n: (FrameKind.AUDIO, bytes(2 * n)), st.integers(0, 160)),
            st.just((FrameKind.UUID, bytes(range(16)))),
            st.builds(lambda d: (FrameKind.DTMF, d), st.binary(min_size=1, max_size=1)),
            st.just((FrameKind.HANGUP, b"")),
        ),
        max_size=30,
    ),
    st.integers(1, 50),
)
def test_audiosocket_valid_streams_come_back_whole_in_any_chunking(
    frames: list[tuple[FrameKind, bytes]], chunk: int
) -> None:
    wire = b"".join(encode(kind, payload) for kind, payload in frames)
    parser = FrameParser()
    got: list[Frame] = []
    for i in range(0, len(wire), chunk):
        got += parser.feed(wire[i : i + chunk])
    assert [(f.kind, f.payload) for f in got] == frames
    assert parser.pending == 0
