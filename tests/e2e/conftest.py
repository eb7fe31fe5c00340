"""The end-to-end test bed: a real hotline node, started the way an operator starts one.

``hotline install`` and ``hotline up`` run against a settings file with test ports, an
instance of its own inside the cached Asterisk root and a temporary data folder; ``hotline
down`` stops it. Missing pieces fail with the install hint — they never skip.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap

HOTLINE = Path(sys.executable).with_name("hotline")

pytestmark = pytest.mark.e2e


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hotline(config: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(HOTLINE), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"hotline {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass
class Node:
    config: Path
    runtime: dict[str, Any]
    settings: dict[str, Any]
    agent_secrets: dict[str, str]
    workdir: Path

    @property
    def sip_target(self) -> str:
        return f"{self.runtime['sip']['host']}:{self.runtime['sip']['port']}"

    @property
    def token(self) -> str:
        return str(self.settings["api"]["token"])

    @property
    def api(self) -> str:
        return str(self.runtime["api"]["url"])

    def ws_url(self, agent: str) -> str:
        return self.runtime["api"]["agent_ws"].format(agent_id=agent) + f"?token={self.token}"

    @property
    def recordings(self) -> Path:
        return Path(self.runtime["recordings_dir"])

    def ami_login(self) -> tuple[str, int, str, str]:
        ami = self.runtime["ami"]
        return ami["host"], ami["port"], ami["username"], self.settings["ami"]["secret"]

    def cli(self, command: str) -> str:
        return hotline(self.config, "asterisk", "cli", command).stdout


def _check_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run Asterisk in a chroot and need root (sudo)")
    for tool, pkg in (
        ("sipp", "sip-tester"),
        ("baresip", "baresip-core"),
        ("espeak-ng", "espeak-ng"),
        ("sox", "sox"),
        ("debootstrap", "debootstrap"),
    ):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install -y {pkg}")


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    _check_tools()
    work = tmp_path_factory.mktemp("node")
    rtp = random.randrange(30000, 38000, 200)
    config = work / "hotline.toml"
    config.write_text(f"""data_dir = "{work / "data"}"
node_id = "e2e"
agents = ["1001", "1002"]

[asterisk]
instance = "e2e-{os.getpid()}"

[sip]
port = {_free_port(socket.SOCK_DGRAM)}
rtp_start = {rtp}
rtp_end = {rtp + 99}

[ami]
port = {_free_port(socket.SOCK_STREAM)}

[agi]
port = {_free_port(socket.SOCK_STREAM)}

[api]
port = {_free_port(socket.SOCK_STREAM)}

[queue]
wrapup_seconds = 0
agent_ring_seconds = 10
""")
    hotline(config, "install")
    hotline(config, "up", timeout=120)
    settings = tomllib.loads(config.read_text())
    runtime = json.loads((work / "data" / "runtime.json").read_text())
    secrets = tomllib.loads(Path(runtime["agents"][0]["secret_in"]).read_text())["agents"]
    n = Node(config, runtime, settings, secrets, work)
    try:
        yield n
    finally:
        subprocess.run(
            [str(HOTLINE), "--config", str(config), "down"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        # The instance folder inside the cached root (config, recordings) goes with the node.
        shutil.rmtree(Path(runtime["asterisk"]["config_dir"]).parent, ignore_errors=True)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("speech")
    citizen = speech_wav(CITIZEN_SAY, d / "citizen.wav", repeat=4)
    agent = speech_wav(AGENT_SAY, d / "agent.wav", repeat=8)
    wav_to_pcap(citizen, d / "citizen.pcap")
    return {"citizen_wav": citizen, "citizen_pcap": d / "citizen.pcap", "agent_wav": agent}
