"""What end-to-end tests do again and again: start an agent's softphone, place a citizen's
call, read the API, wait for a screen pop."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import urllib.error
import urllib.request
import zoneinfo
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.bed import Node, free_port
from tests.e2e.peers.ami_observer import AmiObserver, ObservedEvent
from tests.e2e.peers.baresip import BaresipAgent, BaresipCitizen
from tests.e2e.peers.sipp import SippCall

CALLER = "13800000001"
# Asterisk answers before the greeting: the citizen stays on the line through the greeting
# (~8 s) and the ring, then talks with the agent for the given time.
GREETING_AND_RING_MS = 12000


def api(
    node: Node, path: str, method: str = "GET", body: Any = None, token: str | None = None
) -> Any:
    """The node's API as the service token, or as a signed-in user (``token``)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        node.api + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token or node.token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        exc.msg = f"{exc.msg}: {exc.read().decode(errors='replace')}"  # show the API's reason
        raise


def last_call(node: Node, caller: str = CALLER) -> dict[str, Any]:
    """The newest call record of ``caller`` (the API lists the newest first)."""
    return api(node, f"/api/calls?caller={caller}&limit=1")[0]  # type: ignore[no-any-return]


def ensure_user(
    node: Node,
    username: str,
    password: str,
    role: str,
    agent_id: str | None = None,
    department: str | None = None,
) -> None:
    """A desk user on ``node``; one made by an earlier test of the session (409) is fine.
    ``department``: the department a department user works for (its code)."""
    body = {"username": username, "password": password, "role": role}
    if agent_id:
        body["agent_id"] = agent_id
    if department:
        body["department"] = department
    try:
        api(node, "/api/users", "POST", body)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


def user_token(node: Node, username: str, password: str) -> str:
    """A user's bearer token (to act as that user, e.g. a department claiming a ticket)."""
    out = api(node, "/api/login", "POST", {"username": username, "password": password})
    return str(out["token"])


def start_agent(
    node: Node, agent: str, speech: dict[str, Path], tmp: Path, registrar: str | None = None
) -> BaresipAgent:
    """Agent ``agent``'s softphone: registers, auto-answers, speaks. Ports differ per agent."""
    base = 40000 + (os.getpid() % 200) * 100 + int(agent) % 10 * 30
    return agent_phone(node, agent, speech["agent_wav"], base, tmp, registrar)


def agent_phone(
    node: Node, agent: str, wav: Path, base_port: int, work: Path, registrar: str | None = None
) -> BaresipAgent:
    """A started baresip phone for ``agent``: SIP on ``base_port``, RTP in the next 29. The
    ports sit in the kernel's ephemeral range, so a client socket may hold one: then another
    base is tried. ``registrar``: where it registers (default: ``node`` itself; the front's
    agents' address when agents register through Kamailio)."""
    for attempt in range(3):
        try:
            return BaresipAgent(
                workdir=work / f"agent-{agent}",
                agent_id=agent,
                password=node.agent_secrets[agent],
                registrar=registrar or node.sip_target,
                wav=wav,
                sip_port=base_port,
                rtp_ports=(base_port + 2, base_port + 29),
            ).start()
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == 2:
                raise
            base_port = random.randrange(40000, 59000, 30)
    raise AssertionError("unreachable")


def citizen_call(
    node: Node,
    speech: dict[str, Path],
    tmp: Path,
    talk_ms: int,
    *,
    service: str = "12345",
    caller: str = CALLER,
    local_ip: str = "127.0.0.2",
) -> SippCall:
    """A citizen (or a centre, by ``local_ip``) calls ``service`` and stays on the line through
    the greeting and ring, then ``talk_ms`` more."""
    return SippCall(
        workdir=tmp / f"sipp-{caller}-{service}",
        service=service,
        caller=caller,
        target=node.sip_target,
        pcap=speech["citizen_pcap"],
        hold_ms=GREETING_AND_RING_MS + talk_ms,
        local_ip=local_ip,
    ).start()


async def wait_pop(ws: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["event"] == "screen_pop":
            return frame  # type: ignore[no-any-return]


def agent_state(node: Node, agent: str) -> dict[str, Any]:
    return api(node, f"/api/agents/{agent}")  # type: ignore[no-any-return]


def set_agent_state(node: Node, agent: str, action: str, reason: str | None = None) -> None:
    """Ask for a state (login, ready, pause, logout …) and wait until Asterisk confirmed it."""
    api(node, f"/api/agents/{agent}/{action}", "POST", {"reason": reason})
    want = {"login": "ready", "ready": "ready", "pause": "paused", "logout": "logged_out"}
    deadline = time.monotonic() + 10
    while (got := agent_state(node, agent))["state"] != want.get(action, got["state"]):
        if time.monotonic() > deadline:
            raise AssertionError(f"agent {agent} stayed {got} after {action}")
        time.sleep(0.05)


def end_all_calls(node: Node) -> None:
    """Test clean-up: a killed SIPp sends no BYE, so ask Asterisk to end every channel left,
    so no leftover caller waits in a queue for the next test's agent."""
    node.cli("channel request hangup all")


async def prompt_played(ami: AmiObserver, caller: str, timeout: float = 30) -> ObservedEvent:
    """Asterisk's own report (our dialplan's UserEvent) of the prompt a caller heard."""
    return await ami.wait_for("UserEvent", timeout, UserEvent="HotlinePrompt", CallerIDNum=caller)


# --- satisfaction callbacks: the citizen's phone behind the carrier, keying the survey -------

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def calling_window() -> tuple[str, str]:
    """A calling window open now (local time), so the tests run at any hour."""
    now = datetime.now(SHANGHAI)
    return (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=4)).strftime(
        "%H:%M"
    )


def carrier_port(node: Node) -> int:
    return int(node.settings["sip"]["carrier_port"])


def citizen_phone(node: Node, speech: dict[str, Path], tmp: Path, number: str) -> BaresipCitizen:
    """The citizen's own phone behind the carrier (baresip): answers the hotline's callback."""
    base = 47000 + (os.getpid() % 100) * 20
    return BaresipCitizen(
        workdir=tmp / "citizen-phone",
        number=number,
        host="127.0.0.2",
        sip_port=carrier_port(node),
        ctrl_port=free_port(),
        wav=speech["agent_wav"],
        rtp_ports=(base, base + 19),
    ).start()


async def key_at(ami: AmiObserver, citizen: BaresipCitizen, step: str, digit: str) -> None:
    """Key ``digit`` once the survey asks the question (Asterisk reports the step)."""
    await ami.wait_for("UserEvent", 40, UserEvent="HotlineSurvey", Step=step)
    await asyncio.sleep(1.0)  # into the question's prompt: keys interrupt it
    citizen.key(digit)


def campaign_settings(max_attempts: int, ring_seconds: int, max_channels: int) -> str:
    """The node's ``[callbacks]`` section: one campaign whose window is open now, dialling as
    soon as a ticket is replied (more campaign keys may follow it)."""
    start, end = calling_window()
    return f"""
[callbacks]
tick_seconds = 0.5

[[callbacks.campaigns]]
name = "default"
windows = [{{ start = "{start}", end = "{end}" }}]
delay_after_reply = 0
max_attempts = {max_attempts}
ring_seconds = {ring_seconds}
max_channels = {max_channels}
max_rate = 2.0
"""


async def ticket_when(node: Node, ticket_id: int, check: Any, timeout: float) -> dict[str, Any]:
    """The ticket once ``check`` holds (or as it is at the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ticket: dict[str, Any] = api(node, f"/api/tickets/{ticket_id}")
        if check(ticket) or asyncio.get_running_loop().time() > deadline:
            return ticket
        await asyncio.sleep(0.3)
