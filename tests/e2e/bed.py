"""A real hotline node on free test ports, started the way an operator starts one.

``start_node`` writes a settings file, runs ``hotline install`` and ``hotline up`` and returns
what the runtime file says; ``stop_node`` runs ``hotline down`` and removes the node's folder
inside the cached Asterisk root. Used by the end-to-end tests and by bench/.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import TEST_CALENDAR

HOTLINE = Path(sys.executable).with_name("hotline")
TOOLS = (
    ("sipp", "sip-tester"),
    ("baresip", "baresip-core"),
    ("espeak-ng", "espeak-ng"),
    ("sox", "sox"),
    ("debootstrap", "debootstrap"),
)


def missing_tools() -> list[str]:
    """Install hints for what an end-to-end run needs and this machine lacks."""
    hints = [] if os.geteuid() == 0 else ["run as root: Asterisk runs in a chroot"]
    hints += [
        f"apt-get install -y {pkg}  (for {tool})"
        for tool, pkg in TOOLS
        if shutil.which(tool) is None
    ]
    return hints


def free_port(kind: int = socket.SOCK_STREAM) -> int:
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
        return str(self.runtime["api"]["agent_ws"].format(agent_id=agent)) + f"?token={self.token}"

    @property
    def recordings(self) -> Path:
        return Path(self.runtime["recordings_dir"])

    def ami_login(self) -> tuple[str, int, str, str]:
        ami = self.runtime["ami"]
        return ami["host"], ami["port"], ami["username"], self.settings["ami"]["secret"]

    def app_pid(self) -> int:
        """The app's pid now (``hotline up`` after a kill starts a new process)."""
        runtime = json.loads(Path(self.runtime["data_dir"], "runtime.json").read_text())
        return int(runtime["app"]["pid"])

    def cli(self, command: str) -> str:
        return hotline(self.config, "asterisk", "cli", command).stdout


def rtp_base(size: int) -> int:
    """A random start for an RTP range of ``size`` ports, aligned on ``size`` so that the
    ranges of nodes started in parallel are either apart or the same (rarely), never partly
    shared. Below the kernel's ephemeral ports (32768+: free_port's sockets) and the test
    peers' phones (40000+)."""
    low, high = 10000, 32768
    if size < 2 or size > high - low:
        raise ValueError(f"rtp range of {size} ports does not fit {low}-{high - 1}")
    return low + random.randrange((high - low) // size) * size


def start_node(
    work: Path,
    name: str,
    agents: list[str],
    extra: str = "",
    plan: str | None = None,
    wrapup_seconds: int = 0,
    sip_port: int | None = None,
    rtp: int = 200,
    database_url: str | None = None,
) -> Node:
    """``plan``: number plan TOML for this node (default: the repo's example); ``sip_port``:
    Asterisk's SIP port when other settings must name it beforehand (default: a free one).
    ``database_url``: e.g. a PostgreSQL database (default: SQLite in the node's folder).
    ``rtp``: size of the node's RTP port range; Asterisk takes two ports (RTP + RTCP) per
    media channel, so the tests' 200 hold about 100 and a load bench needs a
    production-sized range."""
    rtp_start = rtp_base(rtp)
    work.mkdir(parents=True, exist_ok=True)
    top_lines = ""
    if plan is not None:
        (work / "numberplan.toml").write_text(plan)
        top_lines = f'number_plan = "{work / "numberplan.toml"}"\n'
    if database_url is not None:
        top_lines += f'database_url = "{database_url}"\n'
    config = work / "hotline.toml"
    config.write_text(f"""{top_lines}data_dir = "{work / "data"}"
node_id = "{name}"
agents = {json.dumps(agents)}

[asterisk]
instance = "{name}-{os.getpid()}"

[sip]
port = {sip_port or free_port(socket.SOCK_DGRAM)}
carrier_port = {free_port(socket.SOCK_DGRAM)}
rtp_start = {rtp_start}
rtp_end = {rtp_start + rtp - 1}

[ami]
port = {free_port()}

[agi]
port = {free_port()}

[api]
port = {free_port()}

[queue]
wrapup_seconds = {wrapup_seconds}
agent_ring_seconds = 10
{extra}

[casework]
# chinesecalendar stops at 2026: the synthetic test year keeps start-up's horizon check happy.
calendar_overrides = "{TEST_CALENDAR}"
""")
    hotline(config, "install")
    hotline(config, "up", timeout=120)
    settings = tomllib.loads(config.read_text())
    runtime = json.loads((work / "data" / "runtime.json").read_text())
    secrets = tomllib.loads(Path(runtime["agents"][0]["secret_in"]).read_text())["agents"]
    node = Node(config, runtime, settings, secrets, work)
    login_agents(node, agents)
    return node


def _call_api(node: Node, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(
        node.api + path,
        data=b"{}" if method == "POST" else None,
        method=method,
        headers={"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def login_agents(node: Node, agents: list[str], timeout: float = 20) -> None:
    """Agents join the queues when they log in at the desk (dynamic members): log every
    agent in, as the service, once Asterisk's AMI link is up, and wait until they are ready."""
    deadline = time.monotonic() + timeout
    pending = list(agents)
    while pending:
        try:
            for agent in list(pending):
                if _call_api(node, f"/api/agents/{agent}")["state"] == "ready":
                    pending.remove(agent)
                else:
                    _call_api(node, f"/api/agents/{agent}/login", "POST")
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:  # 503: AMI not up yet
                raise
        if pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"agents {pending} did not become ready")
            time.sleep(0.1)


def stop_node(node: Node) -> None:
    subprocess.run(
        [str(HOTLINE), "--config", str(node.config), "down"],
        check=False,
        capture_output=True,
        timeout=60,
    )
    # The instance folder inside the cached root (config, recordings) goes with the node;
    # Asterisk's log stays beside the test's other files for the post-mortem.
    instance = Path(node.runtime["asterisk"]["config_dir"]).parent
    with contextlib.suppress(OSError):
        shutil.copy(instance / "log" / "messages.log", node.workdir / "asterisk-messages.log")
    shutil.rmtree(instance, ignore_errors=True)
