"""The inbound dialog end to end: a real FastAgiServer and a scripted "Asterisk" over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import zoneinfo
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

import pytest

from ivr.inbound import InboundDialog
from ivr.numberplan import NumberPlan, RetiredLine, SpecialisedLine
from ivr.ports import CallOpened, InboundCall
from ivr.server import FastAgiServer

BLOCK = """\
agi_request: agi://127.0.0.1:14573/inbound
agi_channel: PJSIP/carrier-00000001
agi_language: en
agi_type: PJSIP
agi_uniqueid: 1763780000.2
agi_version: 22.10.1
agi_callerid: {callerid}
agi_calleridname: unknown
agi_callingpres: 0
agi_callingani2: 0
agi_callington: 0
agi_callingtns: 0
agi_dnid: {exten}
agi_rdnis: unknown
agi_context: hotline-inbound
agi_extension: {exten}
agi_priority: 4
agi_enhanced: 0.0
agi_accountcode: 
agi_threadid: 140245362214592
agi_network: yes
agi_network_script: inbound

"""  # noqa: W291 - "agi_accountcode: " really ends with a space

Answer = Callable[[str], str]


class RecordingIntake:
    """Fake CallIntake: records each call and returns a fixed outcome (or raises)."""

    def __init__(self, opened: CallOpened | None = None, error: Exception | None = None) -> None:
        self.calls: list[InboundCall] = []
        self.opened = opened or CallOpened(ticket_id=42, call_id="c-0001", category=None)
        self.error = error

    async def open_call(self, call: InboundCall) -> CallOpened:
        self.calls.append(call)
        if self.error is not None:
            raise self.error
        return self.opened


SH = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PLAN = NumberPlan(
    retired=(
        RetiredLine(
            number="12369", name="环保热线", category="生态环境", window_start=date(2026, 11, 1)
        ),
        RetiredLine(
            number="12328", name="粮食热线", category="粮食", window_start=date(2026, 1, 1)
        ),  # window over by December
    ),
    specialised=(
        SpecialisedLine(
            number="12329",
            name="住房公积金热线",
            category="住房公积金",
            queue="gjj",
            skilled_agents=("1002",),
            overflow_seconds=20,
        ),
    ),
)


def asterisk(
    linkedid_reply: str = "200 result=1 (1763780000.1)", source_reply: str = "200 result=0"
) -> Answer:
    """How Asterisk 22 answers the commands the inbound dialog sends."""

    def answer(command: str) -> str:
        if command == "GET VARIABLE CHANNEL(linkedid)":
            return linkedid_reply
        if command == "GET VARIABLE HOTLINE_SOURCE":
            return source_reply
        if command.startswith("SET VARIABLE "):
            return "200 result=1"
        return "510 Invalid or unknown command"

    return answer


@contextlib.asynccontextmanager
async def inbound_server(intake: RecordingIntake) -> AsyncIterator[FastAgiServer]:
    routes = {"inbound": InboundDialog(intake, lambda: PLAN, SH, clock=lambda: NOW)}
    server = FastAgiServer(routes, host="127.0.0.1", port=0, header_timeout=5)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def call(
    server: FastAgiServer, answer: Answer, callerid: str = "13800000001", exten: str = "12345"
) -> list[str]:
    """Play Asterisk for one AGI() call: send the headers, answer every command until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(BLOCK.format(callerid=callerid, exten=exten).encode())
    commands: list[str] = []
    async with asyncio.timeout(2):
        while line := await reader.readline():
            command = line.decode("utf-8").rstrip("\n")
            commands.append(command)
            writer.write(f"{answer(command)}\n".encode())
            await writer.drain()
    writer.close()
    return commands


async def settled(server: FastAgiServer) -> None:
    await asyncio.wait_for(server.drain(), 1)


async def test_opens_the_call_and_tags_the_channel_for_the_agent() -> None:
    intake = RecordingIntake(CallOpened(ticket_id=42, call_id="c-0001", category="城市管理"))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk())
        await settled(server)

        assert commands == [
            "GET VARIABLE CHANNEL(linkedid)",
            "GET VARIABLE HOTLINE_SOURCE",
            'SET VARIABLE HOTLINE_ROUTE "main"',
            'SET VARIABLE __TICKET_ID "42"',
            'SET VARIABLE __HOTLINE_CALL_ID "c-0001"',
            'SET VARIABLE __HOTLINE_CATEGORY "城市管理"',
        ]
        assert intake.calls == [
            InboundCall(
                uniqueid="1763780000.2",
                linkedid="1763780000.1",
                channel="PJSIP/carrier-00000001",
                caller="13800000001",
                caller_name=None,
                dialled="12345",
            )
        ]
        assert (server.stats.served, server.stats.failed) == (1, 0)


async def test_no_category_variable_without_a_category() -> None:
    intake = RecordingIntake(CallOpened(ticket_id=7, call_id="c-0002", category=None))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk())

        assert commands == [
            "GET VARIABLE CHANNEL(linkedid)",
            "GET VARIABLE HOTLINE_SOURCE",
            'SET VARIABLE HOTLINE_ROUTE "main"',
            'SET VARIABLE __TICKET_ID "7"',
            'SET VARIABLE __HOTLINE_CALL_ID "c-0002"',
        ]


async def test_linkedid_falls_back_to_uniqueid() -> None:
    intake = RecordingIntake()
    async with inbound_server(intake) as server:
        await call(server, asterisk(linkedid_reply="200 result=0"))

        assert [c.linkedid for c in intake.calls] == ["1763780000.2"]


async def test_withheld_caller_id_reaches_the_intake_as_none() -> None:
    intake = RecordingIntake()
    async with inbound_server(intake) as server:
        await call(server, asterisk(), callerid="unknown")

        assert [c.caller for c in intake.calls] == [None]


async def test_intake_failure_sets_nothing_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    intake = RecordingIntake(error=RuntimeError("tickets database unavailable"))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk())
        await settled(server)

        # The dialplan carries on to greeting and queue; the call just has no ticket.
        assert commands == ["GET VARIABLE CHANNEL(linkedid)", "GET VARIABLE HOTLINE_SOURCE"]
        assert len(intake.calls) == 1
        assert (server.stats.served, server.stats.failed) == (0, 1)
        assert "tickets database unavailable" in caplog.text


async def test_caller_hanging_up_before_intake_opens_nothing() -> None:
    intake = RecordingIntake()
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk(linkedid_reply="HANGUP"))
        await settled(server)

        assert commands == ["GET VARIABLE CHANNEL(linkedid)"]
        assert intake.calls == []
        assert (server.stats.served, server.stats.failed) == (1, 0)


async def test_each_call_is_served_independently() -> None:
    intake = RecordingIntake()
    async with inbound_server(intake) as server:
        results = await asyncio.gather(*(call(server, asterisk()) for _ in range(5)))
        await settled(server)

        assert all(len(commands) == 5 for commands in results)
        assert len(intake.calls) == 5
        assert server.stats.served == 5


async def test_retired_line_inside_its_window_plays_the_notice_with_its_category() -> None:
    intake = RecordingIntake(CallOpened(ticket_id=9, call_id="c-9", category="生态环境"))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk(), exten="12369")
    (opened,) = intake.calls
    assert (opened.route, opened.category, opened.wants_ticket) == ("notice", "生态环境", True)
    assert 'SET VARIABLE HOTLINE_ROUTE "notice"' in commands
    assert 'SET VARIABLE HOTLINE_PROMPT "notice-12369"' in commands
    assert not any("HOTLINE_QUEUE" in c for c in commands)


async def test_retired_line_after_its_window_stops_without_a_ticket() -> None:
    intake = RecordingIntake(CallOpened(ticket_id=None, call_id="c-10", category="粮食"))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk(), exten="12328")
    (opened,) = intake.calls
    assert (opened.route, opened.wants_ticket) == ("stopped", False)
    assert 'SET VARIABLE HOTLINE_PROMPT "stopped-12328"' in commands
    assert not any("__TICKET_ID" in c for c in commands)


async def test_specialised_line_goes_to_its_skill_queue_skilled_first() -> None:
    intake = RecordingIntake(CallOpened(ticket_id=11, call_id="c-11", category="住房公积金"))
    async with inbound_server(intake) as server:
        commands = await call(server, asterisk(), exten="12329")
    assert intake.calls[0].route == "specialised"
    assert 'SET VARIABLE HOTLINE_QUEUE "gjj"' in commands
    assert 'SET VARIABLE QUEUE_MAX_PENALTY "0"' in commands
    assert 'SET VARIABLE HOTLINE_PROMPT "greeting-12329"' in commands


async def test_handover_source_reaches_the_intake() -> None:
    intake = RecordingIntake()
    async with inbound_server(intake) as server:
        await call(server, asterisk(source_reply="200 result=1 (110)"))
    assert intake.calls[0].source == "110"
