"""What a running node exposes on the host, seen around one real call: who may read its
files and recordings, where its media sockets listen, what it asks DNS."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.bed import Node, hotline
from tests.e2e.helpers import citizen_call, last_call, start_agent

pytestmark = pytest.mark.e2e


@dataclass
class Call:
    recordings: list[Path]
    udp_sockets: set[str]  # local address:port of Asterisk's UDP sockets seen during the call
    log_lines: list[str]  # what Asterisk logged while it set the call up


def asterisk_udp_sockets(pid: int) -> set[str]:
    out = subprocess.run(["ss", "-H", "-u", "-l", "-n", "-p"], capture_output=True, text=True)
    return {line.split()[3] for line in out.stdout.splitlines() if f"pid={pid}," in line}


@pytest.fixture(scope="module")
def call(node: Node, speech: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Call:
    """One citizen call answered by agent 1001, with Asterisk's sockets sampled throughout."""
    tmp = tmp_path_factory.mktemp("call")
    pid = json.loads(hotline(node.config, "status").stdout)["asterisk"]["pid"]
    log = Path(node.runtime["asterisk"]["log"])
    log_start = log.stat().st_size
    agent = start_agent(node, "1001", speech, tmp)
    try:
        sipp = citizen_call(node, speech, tmp, talk_ms=4000)
        sockets: set[str] = set()
        while sipp.proc is not None and sipp.proc.poll() is None:
            sockets |= asterisk_udp_sockets(pid)
            time.sleep(0.3)
        rc, out = sipp.wait(5)
        assert rc == 0, out
    finally:
        agent.stop()
    rec = last_call(node)
    legs = [node.recordings / rec["recording_in"], node.recordings / rec["recording_out"]]
    deadline = time.monotonic() + 10
    while not all(p.exists() for p in legs) and time.monotonic() < deadline:
        time.sleep(0.2)
    with log.open("rb") as fh:
        fh.seek(log_start)
        lines = fh.read().decode(errors="replace").splitlines()
    return Call(legs, sockets, lines)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_citizens_data_and_recordings_are_not_for_other_users(node: Node, call: Call) -> None:
    data = Path(node.runtime["data_dir"])
    assert mode(data) == 0o700
    private = ["hotline.db", "hotline.db-wal", "hotline.db-shm", "runtime.json", "log/app.log"]
    private += ["agent-secrets.toml"]
    assert {n: mode(data / n) for n in private} == dict.fromkeys(private, 0o600)
    leftovers = [str(p) for p in data.rglob("*") if not p.is_symlink() and mode(p) & 0o077]
    assert leftovers == []
    for leg in call.recordings:
        assert leg.exists(), f"missing recording {leg}"
        assert mode(leg) == 0o640, leg  # Asterisk (and its group) only
        assert mode(leg.parent) == 0o750


def test_media_sockets_listen_on_the_bind_address_only(node: Node, call: Call) -> None:
    """RTP and RTCP of both legs on sip.bind, like SIP (not 0.0.0.0 / [::])."""
    bind, sip_port = node.runtime["sip"]["host"], node.runtime["sip"]["port"]
    rtp_start, rtp_end = node.settings["sip"]["rtp_start"], node.settings["sip"]["rtp_end"]
    rtp = {s for s in call.udp_sockets if rtp_start <= int(s.rsplit(":", 1)[1]) <= rtp_end}
    assert len(rtp) >= 4, call.udp_sockets  # the caller's and the agent's legs
    assert {s.rsplit(":", 1)[0] for s in rtp} == {bind}, rtp
    assert f"{bind}:{sip_port}" in call.udp_sockets


def test_call_set_up_asks_no_dns(node: Node, call: Call) -> None:
    """Asterisk used to resolve the host's name and A.ROOT-SERVERS.NET on every call."""
    lookups = [line for line in call.log_lines if "getaddrinfo" in line or "lookup" in line]
    assert lookups == []
    hosts = Path(node.runtime["asterisk"]["root"], "etc/hosts").read_text()
    assert socket.gethostname() in hosts.split()
