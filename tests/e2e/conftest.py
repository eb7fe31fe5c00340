"""End-to-end fixtures: one real hotline node per session (tests/e2e/bed.py) and speech for
the peers. Missing pieces fail with the install hint — they never skip."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.e2e.bed import Node, free_port, missing_tools, start_node, stop_node
from tests.e2e.browser import Browser, missing_browser
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav
from tests.e2e.peers.sipp import SippAnswerer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap


@dataclass(frozen=True)
class Peer:
    """Another system's SIP peer in the test plan (a centre), on its own loopback address."""

    number: str
    host: str
    port: int


@pytest.fixture(scope="session")
def peers() -> dict[str, Peer]:
    return {
        "110": Peer("110", "127.0.0.3", free_port(socket.SOCK_DGRAM)),
        "119": Peer("119", "127.0.0.4", free_port(socket.SOCK_DGRAM)),
        "12366": Peer("12366", "127.0.0.5", free_port(socket.SOCK_DGRAM)),
    }


SPECIALISED_OVERFLOW_S = 6


def plan_for_tests(peers: dict[str, Peer]) -> str:
    """Windows relative to today, so these tests never expire: 12369 inside its notice window,
    12328 past it; 12329 specialised with agent 1002 skilled."""
    today = date.today()
    return f"""
[[retired]]
number = "12369"
name = "环保热线"
category = "生态环境"
window_start = {today - timedelta(days=10)}

[[retired]]
number = "12328"
name = "粮食热线"
category = "粮食和物资储备"
window_start = {today - timedelta(days=120)}
window_end = {today - timedelta(days=1)}

[[specialised]]
number = "12329"
name = "住房公积金热线"
category = "住房公积金"
queue = "gjj"
skilled_agents = ["1002"]
overflow_seconds = {SPECIALISED_OVERFLOW_S}

[subcentre]
number = "12366"
name = "纳税缴费服务热线分中心"
category = "税务"
host = "{peers["12366"].host}"
port = {peers["12366"].port}

[[emergency]]
number = "110"
name = "公安110"
host = "{peers["110"].host}"
port = {peers["110"].port}
hands_over = true

[[emergency]]
number = "119"
name = "消防119"
host = "{peers["119"].host}"
port = {peers["119"].port}
"""


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory, peers: dict[str, Peer]) -> Iterator[Node]:
    if hints := missing_tools():
        pytest.fail("end-to-end tests need: " + "; ".join(hints))
    n = start_node(
        tmp_path_factory.mktemp("node"), "e2e", ["1001", "1002"], plan=plan_for_tests(peers)
    )
    try:
        yield n
    finally:
        stop_node(n)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("speech")
    citizen = speech_wav(CITIZEN_SAY, d / "citizen.wav", repeat=4)
    agent = speech_wav(AGENT_SAY, d / "agent.wav", repeat=8)
    wav_to_pcap(citizen, d / "citizen.pcap")
    return {"citizen_wav": citizen, "citizen_pcap": d / "citizen.pcap", "agent_wav": agent}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Headless Debian Chromium; screenshots go to the test's tmp dir (screenshots/)."""
    if hint := missing_browser():
        pytest.fail("the desk tests need: " + hint)
    b = Browser(tmp_path / "profile", tmp_path / "screenshots")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def fire(peers: dict[str, Peer], tmp_path: Path) -> Iterator[SippAnswerer]:
    """The 119 centre's phone, answering one call."""
    p = peers["119"]
    centre = SippAnswerer(tmp_path / "centre-119", "119", p.host, p.port).start()
    try:
        yield centre
    finally:
        centre.stop()
