"""AmiConnection against a real TCP server that speaks just enough AMI to misbehave.

The end-to-end suite runs against a real Asterisk 22; this fake exists only for the faults a
unit test cannot cause there on demand: a dropped or silently dead link, garbage on the
socket, a refused login, a greeting that is not AMI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from cti.ami_events import (
    AgentConnect,
    AmiEvent,
    FullyBooted,
    Hangup,
    Newchannel,
    QueueCallerJoin,
    parse_ami_block,
)
from cti.connection import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnection,
    AmiLoginError,
    AmiUnavailable,
    _backoff,
)

DATA = Path(__file__).parent / "data" / "ami"
USER = "hotline"
SECRET = "k3Jx9-test-secret-0123456789"
CRLF = b"\r\n"


def wire(path: Path) -> bytes:
    """A recording as Asterisk sends it: CRLF line ends whatever git did to the file."""
    text = path.read_bytes().decode("utf-8")
    return ("\r\n".join(text.splitlines()) + "\r\n").encode("utf-8")


def event_block(event: str, **fields: str) -> bytes:
    lines = [f"Event: {event}", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def hangup(uniqueid: str) -> bytes:
    return event_block(
        "Hangup",
        Privilege="call,all",
        Channel=f"PJSIP/carrier-{uniqueid}",
        Uniqueid=uniqueid,
        Linkedid=uniqueid,
        Cause="16",
        **{"Cause-txt": "Normal Clearing"},
    )


class FakeAmiServerForFaults:
    """Greets, answers Login/Ping/Logoff, refuses or ignores chosen actions, and on command
    drops every connection, goes silent on them, or writes raw bytes to them."""

    def __init__(self, *, greeting: bytes = b"Asterisk Call Manager/11.0.0\r\n") -> None:
        self.greeting = greeting
        self.logins = 0
        self.failed_logins = 0
        self.actions: list[dict[str, str | list[str]]] = []
        self.refuse: dict[str, str] = {"originate": "Permission denied"}
        self.ignore: set[str] = {"slow"}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, bool] = {}  # logged in → still answering?
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in self._handlers:
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers)
        await self.drop()

    async def drop(self) -> None:
        """Close every client connection (Asterisk restarting, a network cut)."""
        for writer in list(self._clients):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self._clients.clear()

    def go_silent(self) -> None:
        """Keep the connections open but never answer again (a half-open link)."""
        for writer in self._clients:
            self._clients[writer] = False

    async def send(self, data: bytes, *, pause_after: int | None = None) -> None:
        """Write raw bytes to every logged-in client; optionally in two writes."""
        for writer, answering in list(self._clients.items()):
            if not answering:
                continue
            if pause_after is None:
                writer.write(data)
            else:
                writer.write(data[:pause_after])
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(data[pause_after:])
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        writer.write(self.greeting)
        buffer = b""
        try:
            while data := await reader.read(4096):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    await self._answer(parse_ami_block(raw.decode()), writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # stop() cancels handlers; 3.11's stream server logs a cancelled one as an error
        finally:
            self._handlers.discard(task)
            self._clients.pop(writer, None)
            writer.close()

    async def _answer(
        self, action: dict[str, str | list[str]], writer: asyncio.StreamWriter
    ) -> None:
        if writer in self._clients and not self._clients[writer]:
            return
        self.actions.append(action)
        name = str(action.get("Action", "")).lower()
        reply = [f"ActionID: {action.get('ActionID', '')}"]

        def respond(response: str, *lines: str) -> None:
            text = "\r\n".join([f"Response: {response}", *reply, *lines]) + "\r\n\r\n"
            writer.write(text.encode())

        if name == "login":
            if action.get("Username") == USER and action.get("Secret") == SECRET:
                self.logins += 1
                self._clients[writer] = True
                respond("Success", "Message: Authentication accepted")
                writer.write(
                    event_block(
                        "FullyBooted",
                        Privilege="system,all",
                        Uptime="12",
                        LastReload="12",
                        Status="Fully Booted",
                    )
                )
            else:
                self.failed_logins += 1
                respond("Error", "Message: Authentication failed")
                await writer.drain()
                writer.close()
        elif name == "ping":
            respond("Success", "Ping: Pong", "Timestamp: 1795330000.000000")
        elif name == "logoff":
            respond("Goodbye", "Message: Thanks for all the fish.")
            await writer.drain()
            writer.close()
        elif name == "queuestatus":  # a list answer, as Asterisk 22 writes it
            respond("Success", "EventList: start", "Message: Queue status will follow")
            for event, *lines in (
                ("QueueParams", "Queue: main", "Calls: 0"),
                ("QueueMember", "Queue: main", "Name: 1001", "Location: PJSIP/1001", "InCall: 1"),
                ("QueueStatusComplete", "EventList: Complete", "ListItems: 2"),
            ):
                writer.write(
                    ("\r\n".join([f"Event: {event}", *reply, *lines]) + "\r\n\r\n").encode()
                )
        elif name == "queueadd":  # panoramisk would wait for a list after this message
            respond("Success", "Message: Added interface to queue")
        elif name in self.refuse:
            respond("Error", f"Message: {self.refuse[name]}")
        elif name not in self.ignore:
            respond("Success", "Message: OK")
        await writer.drain()


class Link:
    """What the connection reports through its callback."""

    def __init__(self) -> None:
        self.changes: list[bool] = []

    def __call__(self, up: bool) -> None:
        self.changes.append(up)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServerForFaults]:
    fake = FakeAmiServerForFaults()
    await fake.start()
    yield fake
    await fake.stop()


def make_connection(
    port: int,
    events: asyncio.Queue[AmiEvent],
    link: Link | None = None,
    *,
    secret: str = SECRET,
    **options: Any,
) -> AmiConnection:
    settings: dict[str, Any] = {
        "ping_interval": 0.1,
        "ping_timeout": 2.0,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.2,
        "connect_timeout": 2.0,
        "action_timeout": 2.0,
    }
    return AmiConnection(
        host="127.0.0.1",
        port=port,
        username=USER,
        secret=secret,
        events=events,
        on_link=link,
        **(settings | options),
    )


@pytest.fixture
async def events() -> asyncio.Queue[AmiEvent]:
    return asyncio.Queue()


async def next_event(queue: asyncio.Queue[AmiEvent]) -> AmiEvent:
    """The next event that is not the FullyBooted every login brings."""
    async with asyncio.timeout(3):
        while isinstance(event := await queue.get(), FullyBooted):
            pass
    return event


async def until(predicate: Callable[[], bool]) -> None:
    """Wait up to 3 s for a condition the connection or the server reaches."""
    for _ in range(300):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 3 s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_login_then_events_and_actions(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link)
    await ami.connect()
    try:
        assert ami.connected
        assert link.changes == [True]
        login = server.actions[0]
        assert (login["Action"], login["Username"], login["Events"]) == ("Login", USER, "on")
        async with asyncio.timeout(3):
            booted = await events.get()
        assert isinstance(booted, FullyBooted) and booted.uptime == 12
        pong = await ami.send_action({"Action": "Ping"})
        assert pong.response == "Success" and pong.get("ping") == "Pong"
    finally:
        await ami.close()
    assert not ami.connected
    assert link.changes == [True, False]
    assert server.actions[-1]["Action"] == "Logoff"


async def test_recorded_call_arrives_typed_and_in_order(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    ami = make_connection(server.port, events)
    await ami.connect()
    try:
        await server.send(wire(DATA / "answered_call.ami"))
        received = [await next_event(events) for _ in range(12)]
    finally:
        await ami.close()
    names = [type(e).__name__ for e in received]
    assert names == [
        "Newchannel",
        "VarSet",
        "QueueCallerJoin",
        "Newchannel",
        "AgentCalled",
        "AgentConnect",
        "BridgeEnter",
        "BridgeEnter",
        "AgentComplete",
        "BridgeLeave",
        "Hangup",
        "Hangup",
    ]
    connect = received[5]
    assert isinstance(connect, AgentConnect)
    assert connect.chan_var("TICKET_ID") == "42" and connect.dest.channel == "PJSIP/1001-00000001"


async def test_garbage_between_events_does_not_stop_later_events(
    server: FakeAmiServerForFaults,
    events: asyncio.Queue[AmiEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ami = make_connection(server.port, events)
    await ami.connect()
    caplog.set_level(logging.WARNING, logger="cti")
    try:
        await server.send(hangup("1.1"))
        await server.send(b"\x00\xff\xfe binary noise without a colon\r\n\r\n")
        await server.send(b"Event: Hangup\r\nEvent: Hangup\r\n\r\n")  # breaks panoramisk
        await server.send(b"Event: Hangup\r\nChannel: PJSIP/x\r\n\r\n")  # no Uniqueid
        await server.send(b"Response: Success\r\nActionID: nobody-asked\r\n\r\n")
        await server.send(b"\r\n\r\n\r\n")
        await server.send(hangup("2.2"))
        first, second = await next_event(events), await next_event(events)
        assert ami.connected
    finally:
        await ami.close()
    assert isinstance(first, Hangup) and first.uniqueid == "1.1"
    assert isinstance(second, Hangup) and second.uniqueid == "2.2"
    assert server.logins == 1  # no reconnect was needed
    assert events.empty()
    logged = caplog.text
    assert "neither response nor event" in logged
    assert "could not be handled" in logged
    assert "Uniqueid is missing" in logged


async def test_utf8_split_across_reads_is_decoded(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    ami = make_connection(server.port, events)
    await ami.connect()
    try:
        block = event_block(
            "Newchannel",
            Channel="PJSIP/carrier-00000005",
            CallerIDNum="13800000005",
            CallerIDName="张三丰",
            Uniqueid="5.5",
            Linkedid="5.5",
        )
        middle_of_a_character = block.index("三".encode()) + 1
        await server.send(block, pause_after=middle_of_a_character)
        event = await next_event(events)
    finally:
        await ami.close()
    assert isinstance(event, Newchannel) and event.caller_id_name == "张三丰"


async def test_dropped_connection_reconnects_and_reports_down_then_up(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link)
    await ami.connect()
    try:
        await server.drop()
        await until(lambda: link.changes == [True, False, True])
        assert server.logins == 2
        assert ami.connected
        await server.send(hangup("3.3"))
        event = await next_event(events)
        assert isinstance(event, Hangup) and event.uniqueid == "3.3"
    finally:
        await ami.close()


async def test_reconnects_when_asterisk_comes_back_after_being_away(
    events: asyncio.Queue[AmiEvent],
) -> None:
    server = FakeAmiServerForFaults()
    port = await server.start()
    link = Link()
    ami = make_connection(port, events, link)
    await ami.connect()
    try:
        await server.stop()  # Asterisk stops: connections refused for a while
        await until(lambda: link.changes == [True, False])
        await asyncio.sleep(0.4)  # several refused attempts, backing off
        assert not ami.connected
        with pytest.raises(AmiUnavailable, match="down"):
            await ami.send_action({"Action": "Ping"})
        await server.start(port)
        await until(lambda: link.changes == [True, False, True])
        assert ami.connected and server.logins == 2  # the first login, then one more
    finally:
        await ami.close()
        await server.stop()


async def test_silent_dead_link_is_noticed_by_ping(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link, ping_interval=0.1, ping_timeout=0.2)
    await ami.connect()
    try:
        server.go_silent()
        await until(lambda: link.changes == [True, False, True])
        assert server.logins == 2 and ami.connected
    finally:
        await ami.close()


async def test_bad_credentials_raise_login_error_quickly_and_do_not_retry(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link, secret="wrong-secret-wrong-secret")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AmiLoginError, match=r"refused the AMI login of user 'hotline'.*failed"):
        await ami.connect()
    assert loop.time() - started < 1.0
    assert not ami.connected
    await asyncio.sleep(0.3)
    assert server.failed_logins == 1 and link.changes == []
    await ami.close()


async def test_nothing_listening_raises_unavailable(events: asyncio.Queue[AmiEvent]) -> None:
    ami = make_connection(free_port(), events)
    with pytest.raises(AmiUnavailable, match=r"cannot reach AMI at 127\.0\.0\.1"):
        await ami.connect()
    assert not ami.connected


async def test_silent_listener_does_not_hang_connect(events: asyncio.Queue[AmiEvent]) -> None:
    server = FakeAmiServerForFaults(greeting=b"")
    port = await server.start()
    ami = make_connection(port, events, connect_timeout=0.3)
    try:
        with pytest.raises(AmiUnavailable, match=r"within 0\.3s"):
            await ami.connect()
    finally:
        await server.stop()


async def test_a_server_that_is_not_ami_is_refused(events: asyncio.Queue[AmiEvent]) -> None:
    server = FakeAmiServerForFaults(greeting=b"SSH-2.0-OpenSSH_9.2\r\n")
    port = await server.start()
    ami = make_connection(port, events)
    try:
        with pytest.raises(AmiUnavailable, match=r"not an Asterisk Manager Interface.*SSH"):
            await ami.connect()
    finally:
        await server.stop()


async def test_error_response_raises_action_error(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    ami = make_connection(server.port, events)
    await ami.connect()
    try:
        with pytest.raises(AmiActionError, match="Originate: Permission denied") as caught:
            await ami.send_action(
                {"Action": "Originate", "Channel": "PJSIP/1001", "Variable": ["A=1", "B=2"]}
            )
        assert caught.value.response.message == "Permission denied"
        originate = server.actions[-1]
        assert originate["Variable"] == ["A=1", "B=2"]  # a list is sent once per item
        with pytest.raises(ValueError, match="Action"):
            await ami.send_action({"Channel": "PJSIP/1001"})
    finally:
        await ami.close()


async def test_list_answers_carry_their_events_and_single_answers_return_at_once(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    ami = make_connection(server.port, events)
    await ami.connect()
    try:
        status = await ami.send_action({"Action": "QueueStatus"})
        assert [e["Event"] for e in status.events] == [
            "QueueParams",
            "QueueMember",
            "QueueStatusComplete",
        ]
        added = await ami.send_action({"Action": "QueueAdd", "Queue": "main"})
        assert added.message == "Added interface to queue"
        await asyncio.sleep(0.05)
        # The list's events went to the action, not to the event queue.
        assert all(
            isinstance(e, FullyBooted) for e in [events.get_nowait() for _ in range(events.qsize())]
        )
    finally:
        await ami.close()


async def test_unanswered_action_times_out_and_the_link_stays_up(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    ami = make_connection(server.port, events, action_timeout=0.2)
    await ami.connect()
    try:
        with pytest.raises(AmiActionTimeout, match=r"Slow within 0\.2s"):
            await ami.send_action({"Action": "Slow"})
        assert ami.connected
        assert (await ami.send_action({"Action": "Ping"})).get("Ping") == "Pong"
    finally:
        await ami.close()


async def test_pending_action_fails_when_the_link_drops_and_is_not_resent(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link, action_timeout=5.0)
    await ami.connect()
    try:
        pending = asyncio.create_task(ami.send_action({"Action": "Slow"}))
        await until(lambda: any(a.get("Action") == "Slow" for a in server.actions))
        await server.drop()
        async with asyncio.timeout(1):
            with pytest.raises(AmiUnavailable, match="closed before Asterisk answered"):
                await pending
        await until(lambda: link.changes == [True, False, True])
        await asyncio.sleep(0.2)
        assert [a["Action"] for a in server.actions].count("Slow") == 1
    finally:
        await ami.close()


async def test_close_stops_reconnecting(
    server: FakeAmiServerForFaults, events: asyncio.Queue[AmiEvent]
) -> None:
    link = Link()
    ami = make_connection(server.port, events, link)
    await ami.connect()
    await ami.close()
    await ami.close()  # idempotent
    await server.drop()
    await asyncio.sleep(0.3)
    assert server.logins == 1 and link.changes == [True, False]
    with pytest.raises(AmiUnavailable):
        await ami.send_action({"Action": "Ping"})


async def test_events_go_to_the_queue_even_when_no_one_has_started_consuming(
    server: FakeAmiServerForFaults,
) -> None:
    queue: asyncio.Queue[AmiEvent] = asyncio.Queue(maxsize=2)  # FullyBooted + one
    ami = make_connection(server.port, queue)
    await ami.connect()
    try:
        await server.send(wire(DATA / "abandoned_call.ami"))
        await asyncio.sleep(0.2)
        assert ami.connected  # a full queue drops events, it does not kill the reader
        assert queue.full()
        assert isinstance(queue.get_nowait(), FullyBooted)
        assert isinstance(queue.get_nowait(), Newchannel)
        await server.send(wire(DATA / "answered_call.ami"))
        event = await next_event(queue)
        assert isinstance(event, Newchannel) and event.uniqueid == "1795330000.0"
    finally:
        await ami.close()


def test_backoff_doubles_up_to_the_cap() -> None:
    assert list(islice(_backoff(0.5, 4.0), 6)) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert list(islice(_backoff(10.0, 3.0), 2)) == [3.0, 3.0]


def test_connection_can_be_built_from_settings_outside_a_loop() -> None:
    from core.settings import AmiSettings

    settings = AmiSettings(secret=SECRET, port=15099, ping_interval=2.5)
    ami = AmiConnection.from_settings(settings, asyncio.Queue())
    assert ami.address == "127.0.0.1:15099"
    assert not ami.connected


def test_queue_caller_join_type_is_exported() -> None:
    # The queue carries only typed events: nothing past the edge sees raw AMI dicts.
    assert issubclass(QueueCallerJoin, AmiEvent)
