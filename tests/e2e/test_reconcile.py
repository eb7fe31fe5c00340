"""Issue 10 (data loss): calls Asterisk took while the app was down get their records when it
comes back, from Asterisk's queue log, and never twice.

The app is killed (SIGKILL; Asterisk keeps running); citizens call: two reach an agent (one on
12345, one on the retired 12369 line, whose ticket gets the line's category), one gives up in
the queue; the app starts again while one of the answered calls is still going on. Every call
then has exactly one record, the tickets and the missed-call entry are there, and a second
restart adds nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bed import Node, hotline
from tests.e2e.helpers import api, citizen_call, end_all_calls, start_agent
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e

SEEN = "13800001001"  # while the app is up
DOWN_A = "13800001002"  # 12345, answered while the app is down
DOWN_B = "13800001003"  # 12369 (retired, in its notice window), answered, still on at restart
GAVE_UP = "13800001004"  # gave up in the queue while the app was down


def health(node: Node) -> dict[str, Any]:
    with urllib.request.urlopen(node.api + "/api/health", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def restart_app(node: Node, kill: bool = True) -> float:
    """Kill the app if asked, start it again, and wait for its first reconcile run after AMI
    login; returns how long that took from `hotline up`."""
    if kill:
        os.kill(node.app_pid(), signal.SIGKILL)
    began = time.monotonic()
    hotline(node.config, "up", timeout=120)
    deadline = time.monotonic() + 30
    while True:
        h = health(node)
        if h["ami_connected"] and h.get("reconcile"):
            return time.monotonic() - began
        if time.monotonic() > deadline:
            raise AssertionError(f"no reconcile run after the restart: {h}")
        time.sleep(0.2)


def calls_of(node: Node, caller: str) -> list[dict[str, Any]]:
    return api(node, f"/api/calls?caller={caller}&limit=50")  # type: ignore[no-any-return]


def snapshot(node: Node) -> dict[str, Any]:
    callers = (SEEN, DOWN_A, DOWN_B, GAVE_UP)
    calls = {c: sorted(x["uniqueid"] for x in calls_of(node, c)) for c in callers}
    missed = sorted(m["id"] for m in api(node, "/api/missed-calls?limit=500"))
    return {"calls": calls, "missed": missed}


async def test_calls_taken_while_the_app_was_down_are_reconciled_once(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    agents = [start_agent(node, a, speech, tmp_path) for a in ("1001", "1002")]
    try:
        async with AmiObserver(*node.ami_login(), dump_to=tmp_path / "ami.txt") as ami:
            # A call the app sees live: reconciling must not write it again.
            seen = citizen_call(node, speech, tmp_path / "seen", talk_ms=1000, caller=SEEN)
            seen_connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=SEEN)
            assert (await asyncio.to_thread(seen.wait, 60))[0] == 0

            os.kill(node.app_pid(), signal.SIGKILL)
            a = citizen_call(node, speech, tmp_path / "a", talk_ms=16_000, caller=DOWN_A)
            b = citizen_call(
                node, speech, tmp_path / "b", talk_ms=60_000, caller=DOWN_B, service="12369"
            )
            a_connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=DOWN_A)
            b_connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=DOWN_B)
            # Both agents are busy: this caller waits in the queue and gives up.
            c = citizen_call(node, speech, tmp_path / "c", talk_ms=2000, caller=GAVE_UP)
            gave_up = await ami.wait_for("QueueCallerAbandon", 40, CallerIDNum=GAVE_UP)
            assert (await asyncio.to_thread(c.wait, 30))[0] == 0
            assert (await asyncio.to_thread(a.wait, 60))[0] == 0

            # Back while B still talks to agent 1002.
            took = await asyncio.to_thread(restart_app, node, False)
            print(f"app up and first reconcile done {took:.1f} s after `hotline up`")
            print("reconcile:", health(node)["reconcile"])
            (rec_a,) = calls_of(node, DOWN_A)
            (rec_b,) = calls_of(node, DOWN_B)
            (rec_c,) = calls_of(node, GAVE_UP)
            (rec_seen,) = calls_of(node, SEEN)
            assert rec_seen["uniqueid"] == seen_connect.fields["Uniqueid"]
            assert rec_a["uniqueid"] == a_connect.fields["Uniqueid"]
            assert rec_b["uniqueid"] == b_connect.fields["Uniqueid"]
            assert rec_c["uniqueid"] == gave_up.fields["Uniqueid"]
            assert rec_b["ended_at"] is None  # still on: the live CTI closes it

            # However it ends (the agent's phone may hang up first): the record must close.
            await asyncio.to_thread(b.wait, 90)
            deadline = time.monotonic() + 15
            while (rec_b := calls_of(node, DOWN_B)[0])["ended_at"] is None:
                assert time.monotonic() < deadline, rec_b
                await asyncio.sleep(0.3)
    finally:
        for agent in agents:
            agent.stop()
        end_all_calls(node)

    # The records, as the API shows them.
    rec_a = calls_of(node, DOWN_A)[0]
    assert rec_a["dialled"] == "12345" and rec_a["agent_id"] in ("1001", "1002")
    assert rec_a["outcome"] == "answered" and rec_a["ended_at"] is not None
    assert rec_a["node_id"] == "e2e" and rec_a["queue"] == "main"
    assert rec_b["dialled"] == "12369" and rec_b["outcome"] == "answered"
    rec_c = calls_of(node, GAVE_UP)[0]
    assert rec_c["outcome"] == "abandoned"
    for rec in (rec_a, rec_b, rec_c):
        assert rec["ticket_id"], rec
    ticket_a = api(node, f"/api/tickets/{rec_a['ticket_id']}")
    ticket_b = api(node, f"/api/tickets/{rec_b['ticket_id']}")
    assert ticket_a["state"] == "draft" and ticket_a["caller"] == DOWN_A
    assert ticket_a["agent_id"] == rec_a["agent_id"]
    assert ticket_b["category"] == "生态环境"  # the retired line's, from the number plan
    assert [t["actor"] for t in ticket_b["transitions"]] == ["reconcile"]
    (entry,) = [m for m in api(node, "/api/missed-calls?state=open") if m["caller"] == GAVE_UP]
    assert entry["wait_seconds"] == int(gave_up.fields["HoldTime"])
    recordings = [node.recordings / rec_a["recording_in"], node.recordings / rec_a["recording_out"]]
    assert all(p.exists() for p in recordings), recordings

    # None twice: a second restart (and its reconcile run) adds nothing.
    before = snapshot(node)
    assert all(len(v) == 1 for v in before["calls"].values()), before
    await asyncio.to_thread(restart_app, node)
    assert health(node)["reconcile"]["created"] == 0
    assert snapshot(node) == before
