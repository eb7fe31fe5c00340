"""The AGI edge: header parsing, reading a request off a stream, commands and replies."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import ivr
from ivr.agi import (
    MAX_HEADER_LINES,
    AgiChannel,
    AgiCommandError,
    AgiHangup,
    AgiProtocolError,
    AgiRequest,
    AgiResult,
    parse_headers,
    quote,
    read_request,
)

# What Asterisk 22 sends for AGI(agi://127.0.0.1:14573/inbound) on a carrier call.
ASTERISK_22_BLOCK = """\
agi_request: agi://127.0.0.1:14573/inbound
agi_channel: PJSIP/carrier-00000001
agi_language: en
agi_type: PJSIP
agi_uniqueid: 1763780000.1
agi_version: 22.10.1
agi_callerid: 13800000001
agi_calleridname: unknown
agi_callingpres: 0
agi_callingani2: 0
agi_callington: 0
agi_callingtns: 0
agi_dnid: 12345
agi_rdnis: unknown
agi_context: hotline-inbound
agi_extension: 12345
agi_priority: 4
agi_enhanced: 0.0
agi_accountcode: 
agi_threadid: 140245362214592
agi_network: yes
agi_network_script: inbound

"""  # noqa: W291 - "agi_accountcode: " really ends with a space


def block(**changes: str | None) -> str:
    """The Asterisk 22 block with some headers replaced (value) or removed (None)."""
    lines = []
    for line in ASTERISK_22_BLOCK.splitlines():
        if not line:
            continue
        key = line.split(":", 1)[0]
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key}: {changes.pop(key)}")
            else:
                changes.pop(key)
        else:
            lines.append(line)
    lines += [f"{k}: {v}" for k, v in changes.items() if v is not None]
    return "\n".join(lines) + "\n\n"


def reader_with(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


# --- parse_headers ---------------------------------------------------------------------------


def test_parses_the_asterisk_22_block() -> None:
    request = parse_headers(ASTERISK_22_BLOCK.splitlines())

    assert request.network_script == "inbound"
    assert request.query == ()
    assert request.channel == "PJSIP/carrier-00000001"
    assert request.uniqueid == "1763780000.1"
    assert request.language == "en"
    assert request.callerid == "13800000001"
    assert request.dnid == "12345"
    assert request.context == "hotline-inbound"
    assert request.extension == "12345"
    assert request.priority == 4
    assert request.args == ()
    assert request.headers["agi_version"] == "22.10.1"


def test_unknown_and_empty_values_become_none() -> None:
    request = parse_headers(ASTERISK_22_BLOCK.splitlines())

    assert request.calleridname is None
    assert request.rdnis is None
    assert request.accountcode is None


def test_withheld_caller_id_is_none() -> None:
    request = parse_headers(block(agi_callerid="unknown").splitlines())

    assert request.callerid is None


def test_request_is_immutable() -> None:
    request = parse_headers(ASTERISK_22_BLOCK.splitlines())

    with pytest.raises(dataclasses.FrozenInstanceError):
        request.channel = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.headers["agi_channel"] = "other"  # type: ignore[index]


def test_route_drops_leading_slash_and_query() -> None:
    request = parse_headers(block(agi_network_script="/inbound?lang=zh&line=2&empty=").splitlines())

    assert request.network_script == "inbound"
    assert request.query == (("lang", "zh"), ("line", "2"), ("empty", ""))
    assert request.param("lang") == "zh"
    assert request.param("missing") is None


def test_args_are_in_numeric_order() -> None:
    extra = {f"agi_arg_{n}": f"a{n}" for n in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)}
    request = parse_headers(block(**extra).splitlines())

    assert request.args == tuple(f"a{n}" for n in range(1, 11))


def test_mandarin_caller_name_passes_through() -> None:
    request = parse_headers(block(agi_calleridname="张三").splitlines())

    assert request.calleridname == "张三"


def test_blank_line_ends_the_block() -> None:
    lines = [*ASTERISK_22_BLOCK.splitlines(), "agi_channel: ignored"]

    assert parse_headers(lines).channel == "PJSIP/carrier-00000001"


def test_lines_with_newlines_are_accepted() -> None:
    request = parse_headers(ASTERISK_22_BLOCK.replace("\n", "\r\n").splitlines(keepends=True))

    assert request.network_script == "inbound"
    assert request.accountcode is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (block(agi_network_script=None), "agi_network_script"),
        (block(agi_uniqueid=None), "agi_uniqueid"),
        (block(agi_channel=None), "agi_channel"),
        ("agi_channel PJSIP/x\n\n", "malformed"),
        ("GET / HTTP/1.1\nHost: x\n\n", "malformed"),
        (block().replace("agi_network: yes", "agi_network: yes\nagi_channel: again"), "duplicate"),
        (block(agi_priority="s"), "agi_priority"),
    ],
)
def test_malformed_blocks_raise_protocol_error(text: str, message: str) -> None:
    with pytest.raises(AgiProtocolError, match=message):
        parse_headers(text.splitlines())


# --- read_request ------------------------------------------------------------------------------


async def test_read_request_reads_one_block() -> None:
    reader = reader_with(ASTERISK_22_BLOCK.encode() + b"200 result=1\n", eof=False)

    request = await read_request(reader, timeout=1)

    assert isinstance(request, AgiRequest)
    assert request.network_script == "inbound"
    # Only the header block is consumed: what follows belongs to the AGI conversation.
    assert await reader.readline() == b"200 result=1\n"


@pytest.mark.parametrize(
    "data",
    [b"", b"agi_network_script: inbound\n", b"agi_network_script: inb"],
    ids=["connect-and-close", "half-block", "half-line"],
)
async def test_read_request_returns_none_on_early_eof(data: bytes) -> None:
    assert await read_request(reader_with(data), timeout=1) is None


async def test_read_request_times_out_on_a_silent_client() -> None:
    reader = reader_with(b"agi_network_script: inbound\n", eof=False)

    with pytest.raises(AgiProtocolError, match="within"):
        await read_request(reader, timeout=0.05)


async def test_read_request_rejects_too_many_lines() -> None:
    data = b"".join(b"agi_arg_%d: x\n" % n for n in range(MAX_HEADER_LINES + 1)) + b"\n"

    with pytest.raises(AgiProtocolError, match="lines"):
        await read_request(reader_with(data), timeout=1)


async def test_read_request_rejects_an_over_long_line() -> None:
    data = b"agi_channel: " + b"x" * 9000 + b"\n\n"

    with pytest.raises(AgiProtocolError, match="long"):
        await read_request(reader_with(data), timeout=1)


async def test_read_request_rejects_a_line_beyond_the_stream_limit() -> None:
    reader = asyncio.StreamReader(limit=1024)
    reader.feed_data(b"\xff" * 4096)

    with pytest.raises(AgiProtocolError, match="long"):
        await read_request(reader, timeout=1)


async def test_read_request_rejects_non_utf8() -> None:
    data = b"agi_calleridname: \xd5\xc5\xc8\xfd\n\n"  # GBK, not UTF-8

    with pytest.raises(AgiProtocolError, match="UTF-8"):
        await read_request(reader_with(data), timeout=1)


# --- AgiChannel ----------------------------------------------------------------------------------


class ScriptedAsterisk:
    """In-memory far side: records each command and feeds the next scripted reply."""

    def __init__(self, *replies: str) -> None:
        self.reader = asyncio.StreamReader()
        self.replies = list(replies)
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)
        if self.replies:
            self.reader.feed_data(self.replies.pop(0).encode())
        else:
            self.reader.feed_eof()

    async def drain(self) -> None:
        return None

    @property
    def commands(self) -> list[str]:
        return [s.decode() for s in self.sent]

    def channel(self) -> AgiChannel:
        return AgiChannel(self.reader, self)


async def test_command_parses_result_and_data() -> None:
    far = ScriptedAsterisk("200 result=1 (1763780000.1)\n")

    result = await far.channel().command("GET VARIABLE CHANNEL(linkedid)")

    assert result == AgiResult(code=200, result="1", data="1763780000.1")
    assert far.commands == ["GET VARIABLE CHANNEL(linkedid)\n"]


async def test_command_skips_100_trying() -> None:
    far = ScriptedAsterisk("100 result=0 Trying...\n200 result=0\n")

    assert await far.channel().command("EXEC Wait 1") == AgiResult(200, "0", None)


async def test_command_parses_timeout_and_extra_fields() -> None:
    far = ScriptedAsterisk("200 result= (timeout)\n", "200 result=0 endpos=8000\n")
    channel = far.channel()

    assert await channel.command("WAIT FOR DIGIT 100") == AgiResult(200, "", "timeout")
    assert await channel.command('STREAM FILE x ""') == AgiResult(200, "0", None)


async def test_usage_error_is_read_to_its_end_and_channel_stays_usable() -> None:
    far = ScriptedAsterisk(
        "520-Invalid command syntax.  Proper usage follows:\n"
        " Usage: SET VARIABLE <variablename> <value>\n"
        "520 End of proper usage.\n",
        "200 result=1\n",
    )
    channel = far.channel()

    with pytest.raises(AgiCommandError) as caught:
        await channel.command("SET VARIABLE")
    assert caught.value.code == 520
    assert "Usage: SET VARIABLE" in caught.value.message
    assert await channel.command("SET VARIABLE X 1") == AgiResult(200, "1", None)


async def test_invalid_command_raises_command_error() -> None:
    far = ScriptedAsterisk("510 Invalid or unknown command\n")

    with pytest.raises(AgiCommandError) as caught:
        await far.channel().command("FROB")
    assert caught.value.code == 510


async def test_hangup_line_raises_and_later_commands_never_reach_the_socket() -> None:
    far = ScriptedAsterisk("HANGUP\n")
    channel = far.channel()

    with pytest.raises(AgiHangup):
        await channel.command("EXEC Playback hello")
    with pytest.raises(AgiHangup):
        await channel.command("VERBOSE x 1")
    assert channel.hung_up
    assert far.commands == ["EXEC Playback hello\n"]


async def test_dead_channel_reply_raises_hangup() -> None:
    far = ScriptedAsterisk("511 Command Not Permitted on a dead channel or intercept routine\n")

    with pytest.raises(AgiHangup):
        await far.channel().command("GET VARIABLE X")


async def test_eof_raises_hangup() -> None:
    far = ScriptedAsterisk()  # closes on the first command

    with pytest.raises(AgiHangup):
        await far.channel().command("GET VARIABLE X")


async def test_unreadable_reply_raises_protocol_error() -> None:
    far = ScriptedAsterisk("hello there\n")

    with pytest.raises(AgiProtocolError):
        await far.channel().command("GET VARIABLE X")


async def test_set_variable_quotes_and_keeps_utf8() -> None:
    far = ScriptedAsterisk("200 result=1\n")

    await far.channel().set_variable("__HOTLINE_CATEGORY", 'say "hi" \\ 城市管理')

    assert far.sent == ['SET VARIABLE __HOTLINE_CATEGORY "say \\"hi\\" \\\\ 城市管理"\n'.encode()]


@pytest.mark.parametrize("value", ["a\nEXEC Hangup", "a\rb", "a\0b"])
async def test_values_cannot_inject_a_second_command(value: str) -> None:
    far = ScriptedAsterisk("200 result=1\n")

    with pytest.raises(ValueError, match="one line"):
        await far.channel().set_variable("X", value)
    assert far.sent == []


@pytest.mark.parametrize("name", ["", "A B", 'A"', "A\nB", "${X}"])
async def test_bad_variable_names_are_refused(name: str) -> None:
    far = ScriptedAsterisk("200 result=1\n")

    with pytest.raises(ValueError):
        await far.channel().get_variable(name)
    assert far.sent == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("200 result=1 (1763780000.1)\n", "1763780000.1"),
        ("200 result=1 (投诉 (噪音))\n", "投诉 (噪音)"),
        ("200 result=1 ()\n", ""),
        ("200 result=0\n", None),
    ],
)
async def test_get_variable(reply: str, expected: str | None) -> None:
    far = ScriptedAsterisk(reply)

    assert await far.channel().get_variable("CHANNEL(linkedid)") == expected
    assert far.commands == ["GET VARIABLE CHANNEL(linkedid)\n"]


async def test_get_full_variable_quotes_the_expression() -> None:
    far = ScriptedAsterisk("200 result=1 (1763780000.1)\n")

    assert await far.channel().get_full_variable("${CHANNEL(linkedid)}") == "1763780000.1"
    assert far.commands == ['GET FULL VARIABLE "${CHANNEL(linkedid)}"\n']


async def test_verbose_and_exec_command_text() -> None:
    far = ScriptedAsterisk("200 result=1\n", "200 result=0\n")
    channel = far.channel()

    await channel.verbose("工单 42 已创建", level=2)
    result = await channel.exec("Playback", "hotline/welcome", "noanswer")

    assert result == AgiResult(200, "0", None)
    assert far.commands == [
        'VERBOSE "工单 42 已创建" 2\n',
        'EXEC Playback "hotline/welcome,noanswer"\n',
    ]


def test_quote() -> None:
    assert quote("") == '""'
    assert quote('a "b" c\\d') == '"a \\"b\\" c\\\\d"'


def test_public_api() -> None:
    assert sorted(ivr.__all__) == ivr.__all__
    assert len(set(ivr.__all__)) == len(ivr.__all__)
    for name in ivr.__all__:
        assert getattr(ivr, name) is not None
    assert {"FastAgiServer", "AgiChannel", "AgiRequest", "InboundDialog", "CallIntake"} <= set(
        ivr.__all__
    )
    assert issubclass(ivr.AgiProtocolError, ivr.AgiError)
    assert issubclass(ivr.AgiHangup, ivr.AgiError)
    assert issubclass(ivr.AgiCommandError, ivr.AgiError)
