"""Two real hotline nodes behind the Kamailio front (``hotline front up``): the carrier (SIPp on
127.0.0.6) calls 12345 at the front; calls are spread over both nodes, strangers and other
numbers are refused, an agent busy on one node shows busy in the other node's queue (and no
one but a node can say so), an agent registering through the front lands on one home node and
takes calls there (and on the live node once its home is dead), and when one node's Asterisk
is killed with -9 new calls go to the other once the OPTIONS probes notice.
Everything real: two Asterisk 22 nodes with their apps, Debian's kamailio, SIPp, baresip."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.settings import load_settings
from hotline.front import Front
from tests.e2e.bed import Node, free_port, hotline, missing_tools, start_node, stop_node
from tests.e2e.helpers import api, citizen_call, start_agent
from tests.e2e.peers.ami_observer import AmiObserver, ObservedEvent
from tests.e2e.peers.sipp import SippCall

pytestmark = pytest.mark.e2e

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the CLI colours member states
CARRIER = "127.0.0.6"  # the carrier's own address; the nodes see the front (127.0.0.2)
AGENTS_SIDE = "127.0.0.3"  # the front's address for agents (agents themselves: 127.0.0.1)
PROBE_INTERVAL = 1
PROBE_THRESHOLD = 1
INVITE_TIMEOUT_MS = 1000


@dataclass
class Bed:
    a: Node
    b: Node
    front: Front
    front_target: str
    agents_target: str  # where agents register through the front
    pcap: Path
    agent_wav: Path

    @property
    def speech(self) -> dict[str, Path]:
        """What start_agent and citizen_call take."""
        return {"agent_wav": self.agent_wav, "citizen_pcap": self.pcap}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory, speech: dict[str, Path]) -> Iterator[Bed]:
    hints = missing_tools()
    if shutil.which("kamailio", path="/usr/sbin:/usr/bin") is None:
        hints.append("apt-get install -y kamailio")
    if hints:
        pytest.fail("the two-node tests need: " + "; ".join(hints))
    work = tmp_path_factory.mktemp("two-nodes")
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(4)]
    # Both nodes' settings carry the same [front]: node A's file also runs the front.
    front = f"""
[front]
listen = "127.0.0.2"
port = {ports[2]}
nodes = ["127.0.0.1:{ports[0]}", "127.0.0.1:{ports[1]}"]
carrier_sources = ["{CARRIER}"]
probe_interval = {PROBE_INTERVAL}
probe_threshold = {PROBE_THRESHOLD}
invite_timeout_ms = {INVITE_TIMEOUT_MS}
agent_listen = "{AGENTS_SIDE}"
agent_port = {ports[3]}
agent_sources = ["127.0.0.1"]
"""
    # Agent 1003 is on both nodes with one SIP secret (the operator copies the file), so it
    # can register through the front to whichever node is its home.
    a = start_node(work / "a", "nodea", ["1001", "1003"], extra=front, sip_port=ports[0])
    b: Node | None = None
    try:
        (work / "b" / "data").mkdir(parents=True)
        shutil.copy(load_settings(a.config).agent_secrets_file, work / "b" / "data")
        b = start_node(work / "b", "nodeb", ["1002", "1003"], extra=front, sip_port=ports[1])
        hotline(a.config, "front", "up", timeout=30)
        kamailio = Front(load_settings(a.config))
        _wait_all_active(kamailio, 2, timeout=10)
        yield Bed(
            a,
            b,
            kamailio,
            f"127.0.0.2:{ports[2]}",
            f"{AGENTS_SIDE}:{ports[3]}",
            speech["citizen_pcap"],
            speech["agent_wav"],
        )
    finally:
        hotline(a.config, "front", "down", timeout=30)
        stop_node(a)
        if b is not None:
            stop_node(b)


def _dispatcher_flags(front: Front) -> dict[str, str]:
    """Each node's dispatcher flags (AP active+probing, IP inactive+probing …), read over
    Kamailio's control socket (kamcmd: fast enough to time the take-out)."""
    out = front.rpc("dispatcher.list") or ""
    flags: dict[str, str] = {}
    uri = None
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "URI":
            uri = value.strip().removeprefix("sip:")
        elif key == "FLAGS" and uri is not None:
            flags[uri] = value.strip()
    return flags


def _wait_all_active(front: Front, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flags = _dispatcher_flags(front)
        if len(flags) == count and all(f.startswith("A") for f in flags.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"nodes not all active at the front: {flags}")


def _call(
    bed: Bed,
    caller: str,
    hold_ms: int,
    work: Path,
    *,
    service: str = "12345",
    source: str = CARRIER,
) -> SippCall:
    return SippCall(
        workdir=work / f"sipp-{caller}-{service}",
        service=service,
        caller=caller,
        target=bed.front_target,
        pcap=bed.pcap,
        hold_ms=hold_ms,
        local_ip=source,
        through_proxy=True,
    ).start()


def _records(node: Node, caller: str) -> list[dict[str, object]]:
    return api(node, f"/api/calls?caller={caller}")  # type: ignore[no-any-return]


def _node_of(bed: Bed, caller: str, timeout: float = 10) -> str:
    """Which node's call records hold the caller's call (written at call start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in (bed.a, bed.b):
            if rows := _records(node, caller):
                return str(rows[0]["node_id"])
        time.sleep(0.2)
    raise AssertionError(f"no node recorded a call from {caller}")


async def _calls_through(bed: Bed, callers: list[str], talk_ms: int, tmp_path: Path) -> None:
    """One call from each caller through the front, 0.3 s apart; each must complete."""
    calls = []
    for caller in callers:
        calls.append(_call(bed, caller, talk_ms, tmp_path))
        await asyncio.sleep(0.3)
    for call in calls:
        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out


async def test_calls_are_spread_over_both_nodes(bed: Bed, tmp_path: Path) -> None:
    callers = [f"1390000{i:04d}" for i in range(4)]
    await _calls_through(bed, callers, 3000, tmp_path)
    nodes = [_node_of(bed, c) for c in callers]
    per_node = {n: nodes.count(n) for n in ("nodea", "nodeb")}
    print(f"calls per node (round-robin, 4 calls): {per_node}")
    assert per_node == {"nodea": 2, "nodeb": 2}


async def test_the_front_is_no_open_relay(bed: Bed, tmp_path: Path) -> None:
    """Only the carrier's sources, and only the hotline's numbers, get through."""
    stranger = _call(bed, "13900050000", 1000, tmp_path, source="127.0.0.7")
    other_number = _call(bed, "13900050001", 1000, tmp_path, service="13800138000")
    for call in (stranger, other_number):
        rc, _ = await asyncio.to_thread(call.wait, 30)
        assert rc != 0, "the front let a call through that it must refuse"
    log = bed.front.log_file.read_text()
    assert "INVITE from 127.0.0.7 refused: not a carrier source" in log
    for node in (bed.a, bed.b):
        assert not _records(node, "13900050000") and not _records(node, "13900050001")


def _member_state(node: Node, queue: str, member: str) -> str:
    """How ``node``'s app_queue sees ``member`` (the status in ``queue show``)."""
    for line in node.cli(f"queue show {queue}").splitlines():
        if member in line:
            return ANSI_COLOUR.sub("", line).strip()
    raise AssertionError(f"{member} is not in queue {queue} on {node.runtime['node_id']}")


async def _member_state_becomes(node: Node, member: str, want: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while want not in (line := _member_state(node, "main", member)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{member} on {node.runtime['node_id']}: {line}, not {want}")
        await asyncio.sleep(0.1)
    return time.monotonic()


async def _answered(
    bed: Bed, node: Node, agent: str, caller: str, talk_ms: int, tmp_path: Path
) -> tuple[ObservedEvent, SippCall]:
    """A citizen's call straight into ``node``'s queue, once ``agent`` has answered it: the
    AgentConnect and the call (still running: wait for it)."""
    async with AmiObserver(*node.ami_login()) as ami:
        call = citizen_call(node, bed.speech, tmp_path, talk_ms=talk_ms, caller=caller)
        connect = await ami.wait_for("AgentConnect", 40, MemberName=agent)
    return connect, call


async def test_agent_busy_on_one_node_is_busy_on_the_other(bed: Bed, tmp_path: Path) -> None:
    """Agent 1001 (registered to node A) answers a call on node A: node B's app_queue, which
    has PJSIP/1001 as a member too, sees it in use from A's PUBLISH
    (res_pjsip_publish_asterisk), so B would not ring it."""
    bed.b.cli("queue add member PJSIP/1001 to main")
    agent = start_agent(bed.a, "1001", bed.speech, tmp_path)
    try:
        await _member_state_becomes(bed.b, "PJSIP/1001", "(Not in use)", 20)
        connect, call = await _answered(bed, bed.a, "1001", "13900040000", 4000, tmp_path)
        seen = await _member_state_becomes(bed.b, "PJSIP/1001", "(In use)", 10)
        print(
            f"node B's queue saw PJSIP/1001 in use {1000 * (seen - connect.at):.0f} ms after "
            "it answered on node A"
        )
        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out
        await _member_state_becomes(bed.b, "PJSIP/1001", "(Not in use)", 20)
    finally:
        agent.stop()
        bed.b.cli("queue remove member PJSIP/1001 from main")


def _sip_request(to: str, request: str, source: str = "127.0.0.1") -> int:
    """Send one raw SIP request (``{me}``, ``{tag}`` filled in) to ``to`` from a port of our
    own on ``source``; the final reply's status code."""
    host, port = to.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(5)
        me = f"{source}:{sock.getsockname()[1]}"
        text = request.format(me=me, tag=os.urandom(4).hex())
        sock.sendto(text.encode(), (host, int(port)))
        while True:
            reply = sock.recv(65535).decode(errors="replace")
            code = int(reply.split(" ", 2)[1])
            if code >= 200:
                return code


def _publish_as(node_name: str, claimed_from: str, to: str, body: str) -> int:
    """A PUBLISH of a device state to ``to`` claiming to be ``node_name`` (From:
    ``claimed_from``) but sent from another port."""
    return _sip_request(
        to,
        f"PUBLISH sip:{node_name}@{to} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP {me};branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{node_name}@{claimed_from}>;tag={{tag}}\r\n"
        f"To: <sip:{node_name}@{to}>\r\n"
        "Call-ID: {tag}@stranger\r\n"
        "CSeq: 1 PUBLISH\r\n"
        "Event: asterisk-devicestate\r\n"
        "Expires: 60\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n"
        + body.replace("{", "{{").replace("}", "}}"),
    )


async def test_only_a_node_can_publish_device_state(bed: Bed) -> None:
    """A PUBLISH that claims to be node A but comes from another address or port is not
    identified as node A (identify_by=ip, hotline/node_links.py): refused, and node B's
    queue keeps the agent as it was."""
    bed.b.cli("queue add member PJSIP/1001 to main")
    try:
        before = _member_state(bed.b, "main", "PJSIP/1001")
        assert "(In use)" not in before
        body = (
            '{"type":"devicestate","device":"PJSIP/1001","state":"INUSE","cachable":1,'
            '"eid":"02:00:00:00:00:01"}'
        )
        code = await asyncio.to_thread(
            _publish_as, "node1", bed.a.sip_target, bed.b.sip_target, body
        )
        assert code in (401, 403), f"node B answered a stranger's PUBLISH with {code}"
        await asyncio.sleep(1)
        assert "(In use)" not in _member_state(bed.b, "main", "PJSIP/1001")
    finally:
        bed.b.cli("queue remove member PJSIP/1001 from main")


def _contact_nodes(bed: Bed, agent: str) -> list[str]:
    """The nodes holding a registered contact of ``agent``."""
    return [
        node.runtime["node_id"]
        for node in (bed.a, bed.b)
        if re.search(rf"Contact:\s+{agent}/sip:", node.cli(f"pjsip show aor {agent}"))
    ]


async def test_an_agent_registers_through_the_front_to_its_home_node(
    bed: Bed, tmp_path: Path
) -> None:
    """Agent 1003 registers at the front's agents' address: the front relays it to one home
    node, that node authenticates it, and a call queued there reaches the agent back through
    the front. Strangers' REGISTERs are refused at the front."""
    agent = start_agent(bed.a, "1003", bed.speech, tmp_path, registrar=bed.agents_target)
    try:
        deadline = time.monotonic() + 20
        while not (homes := _contact_nodes(bed, "1003")):
            assert time.monotonic() < deadline, "agent 1003 never registered: " + "\n".join(
                n.cli("pjsip show aor 1003") for n in (bed.a, bed.b)
            )
            await asyncio.sleep(0.2)
        assert len(homes) == 1, homes  # one home node, not both
        home = bed.a if homes[0] == "nodea" else bed.b
        aor = home.cli("pjsip show aor 1003")
        print(f"agent 1003 registered through the front; home node {homes[0]}:\n{aor}")
        log = bed.front.log_file.read_text()
        assert f"agent 1003 REGISTER to sip:{home.sip_target}" in log
        await _member_state_becomes(home, "PJSIP/1003", "(Not in use)", 20)
        _, call = await _answered(bed, home, "1003", "13900060000", 3000, tmp_path)
        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out
        # The call went node -> front -> agent (the front is the agents' outbound proxy).
        assert f"node {home.sip_target} INVITE to agent" in bed.front.log_file.read_text()
    finally:
        agent.stop()
    stranger = await asyncio.to_thread(
        _sip_request,
        bed.agents_target,
        f"REGISTER sip:{bed.agents_target} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP {me};branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:1003@{bed.agents_target}>;tag={{tag}}\r\n"
        f"To: <sip:1003@{bed.agents_target}>\r\n"
        "Call-ID: {tag}@stranger\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:1003@{me}>\r\n"
        "Expires: 60\r\n"
        "Content-Length: 0\r\n\r\n",
        "127.0.0.7",
    )
    assert stranger == 403
    assert "REGISTER from 127.0.0.7 refused: not an agents' network" in (
        bed.front.log_file.read_text()
    )


async def test_killed_node_is_taken_out_and_calls_go_to_the_other(bed: Bed, tmp_path: Path) -> None:
    # One call in flight on each node (round-robin), long enough to outlive the kill.
    in_flight = {}
    for caller in ("13900010000", "13900010001"):
        in_flight[caller] = _call(bed, caller, 20000, tmp_path)
        await asyncio.sleep(0.3)
    on_node = {caller: _node_of(bed, caller) for caller in in_flight}
    assert sorted(on_node.values()) == ["nodea", "nodeb"], on_node
    dead_caller = next(c for c, n in on_node.items() if n == "nodea")
    live_caller = next(c for c, n in on_node.items() if n == "nodeb")

    asterisk_pid = int(bed.a.runtime["asterisk"]["pid"])
    os.kill(asterisk_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # Calls racing the probes: one of them is sent to the dead node, times out after the
    # INVITE timeout and fails over to node B (failure_route).
    racing = [_call(bed, f"1390003{i:04d}", 2000, tmp_path) for i in range(2)]
    while _dispatcher_flags(bed.front)[bed.a.sip_target].startswith("A"):
        assert time.monotonic() - killed_at < 15, "the front never took node A out"
        await asyncio.sleep(0.05)
    taken_out = time.monotonic() - killed_at
    print(
        f"node A taken out {taken_out:.2f} s after kill -9 (probe interval {PROBE_INTERVAL} s, "
        f"threshold {PROBE_THRESHOLD}, OPTIONS timeout {INVITE_TIMEOUT_MS} ms)"
    )
    # A probe goes out every interval and counts as failed after its timeout.
    assert taken_out < PROBE_INTERVAL * (PROBE_THRESHOLD + 1) + INVITE_TIMEOUT_MS / 1000 + 0.5
    for i, call in enumerate(racing):
        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out
        assert _node_of(bed, f"1390003{i:04d}") == "nodeb"
    log = bed.front.log_file.read_text()
    assert f"node sip:{bed.a.sip_target} failed" in log, "no call was failed over"
    print(
        "calls racing the kill: both on node B; the front's log: "
        + next(line for line in log.splitlines() if "failed (" in line).split("<script>: ")[-1]
    )

    # New calls all go to node B now.
    new_callers = [f"1390002{i:04d}" for i in range(3)]
    started = time.monotonic()
    await _calls_through(bed, new_callers, 2000, tmp_path)
    assert [_node_of(bed, c) for c in new_callers] == ["nodeb"] * 3
    print(f"{len(new_callers)} new calls all on node B ({time.monotonic() - started:.1f} s)")

    # The live node's call carries on; the dead node's call is lost (its BYE finds no node)
    # but node A's app still holds its record, written at call start.
    rc, out = await asyncio.to_thread(in_flight[live_caller].wait, 60)
    assert rc == 0, out
    rc, _ = await asyncio.to_thread(in_flight[dead_caller].wait, 60)
    assert rc != 0, "the call on the killed node cannot have ended cleanly"
    (record,) = _records(bed.a, dead_caller)
    print(f"in-flight call on the killed node, as node A recorded it: {record}")
    assert record["node_id"] == "nodea"


async def test_agents_register_to_a_live_node_when_their_home_is_dead(
    bed: Bed, tmp_path: Path
) -> None:
    """After node A's kill (the test above), agent 1003's REGISTER through the front goes to
    node B whatever its hash says, and B's queue can give it a call."""
    assert not _dispatcher_flags(bed.front)[bed.a.sip_target].startswith("A")  # A is out
    agent = start_agent(bed.b, "1003", bed.speech, tmp_path, registrar=bed.agents_target)
    try:
        await _member_state_becomes(bed.b, "PJSIP/1003", "(Not in use)", 20)
        _, call = await _answered(bed, bed.b, "1003", "13900070000", 2000, tmp_path)
        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out
    finally:
        agent.stop()
