"""The wallboard against a scripted scenario through real Asterisk: with every agent paused,
caller A gives up in the queue, caller B waits past 15 s before an agent is made ready,
caller C is answered at once. Today's figures move by exactly that; the live waiting
count and longest wait come from Asterisk; a supervisor listens in from a phone."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bed import Node
from tests.e2e.browser import Browser
from tests.e2e.helpers import (
    api,
    citizen_call,
    end_all_calls,
    ensure_user,
    set_agent_state,
    start_agent,
)
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e


def main_queue(node: Node) -> dict[str, Any]:
    board = api(node, "/api/wallboard")
    assert board["asterisk"] is True
    return next(q for q in board["queues"] if q["queue"] == "main")  # type: ignore[no-any-return]


async def until_main(node: Node, check: Any, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not check(q := main_queue(node)):
        assert time.monotonic() < deadline, f"wallboard never showed {what}: {q}"
        await asyncio.sleep(0.25)
    return q


def supervisor_token(node: Node) -> str:
    ensure_user(node, "boss", "boss-e2e-password", "supervisor")
    req = urllib.request.Request(
        node.api + "/api/login",
        data=json.dumps({"username": "boss", "password": "boss-e2e-password"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return str(json.loads(urllib.request.urlopen(req, timeout=10).read())["token"])


async def test_wallboard_figures_follow_a_scripted_scenario(
    node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    before = main_queue(node)
    set_agent_state(node, "1001", "pause", "小休")
    set_agent_state(node, "1002", "pause", "小休")
    a1, a2 = (
        start_agent(node, "1001", speech, tmp_path),
        start_agent(node, "1002", speech, tmp_path),
    )
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            gives_up = citizen_call(node, speech, tmp_path, talk_ms=0, caller="13800000091")
            waits = citizen_call(node, speech, tmp_path, talk_ms=40000, caller="13800000092")
            await ami.wait_for("QueueCallerAbandon", 40, CallerIDNum="13800000091")
            live = await until_main(
                node,
                lambda q: (q["waiting"] or 0) >= 1 and q["longest_wait"] >= 17,
                40,
                "B waiting",
            )
            assert live["waiting"] == 1
            set_agent_state(node, "1001", "ready")
            connect = await ami.wait_for("AgentConnect", 20, CallerIDNum="13800000092")
            assert int(connect.fields["HoldTime"]) > 15
            # No one waits now; the board says so straight from Asterisk.
            await until_main(node, lambda q: q["waiting"] == 0, 5, "nobody waiting")

            # The supervisor listens in from extension 1002's phone.
            req = urllib.request.Request(
                node.api + "/api/agents/1001/spy",
                data=json.dumps({"mode": "listen", "phone": "1002"}).encode(),
                method="POST",
                headers={
                    "Authorization": f"Bearer {supervisor_token(node)}",
                    "Content-Type": "application/json",
                },
            )
            assert urllib.request.urlopen(req, timeout=10).status == 202
            deadline = time.monotonic() + 15
            while "ChanSpy(PJSIP/1001-,qE)" not in (channels := node.cli("core show channels")):
                assert time.monotonic() < deadline, channels
                await asyncio.sleep(0.25)
            assert a2.wait_for("Call established", 5)

            for call in (gives_up, waits):
                await asyncio.to_thread(call.wait, 90)
            quick = citizen_call(node, speech, tmp_path, talk_ms=3000, caller="13800000093")
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum="13800000093")
            assert int(connect.fields["HoldTime"]) <= 15
            rc, out = await asyncio.to_thread(quick.wait, 60)
            assert rc == 0, out
    finally:
        a1.stop()
        a2.stop()
        end_all_calls(node)
        set_agent_state(node, "1001", "ready")
        set_agent_state(node, "1002", "ready")

    after = main_queue(node)
    delta = {
        k: after[k] - before[k]
        for k in ("offered", "answered", "abandoned", "answered_within_target")
    }
    assert delta == {"offered": 3, "answered": 2, "abandoned": 1, "answered_within_target": 1}
    assert after["service_level"] == round(after["answered_within_target"] / after["offered"], 4)
