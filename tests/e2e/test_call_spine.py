"""A citizen dials 12345 through the carrier; agent 1001's softphone rings and answers; the
agent's screen gets the ticket. Everything real: Asterisk 22, SIPp, baresip, the app process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.e2e.bed import Node, hotline
from tests.e2e.helpers import CALLER, api, citizen_call, start_agent, wait_pop
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.audio import duration, rms

pytestmark = pytest.mark.e2e

# A silent leg of G.711 has an RMS of a few units; speech from espeak-ng is in the thousands.
SPEECH_RMS = 300


async def test_call_reaches_agent_and_pops_ticket(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with (
            AmiObserver(*node.ami_login(), dump_to=tmp_path / "ami-call.txt") as ami,
            websockets.connect(node.ws_url("1001")) as ws,
        ):
            hello = json.loads(await ws.recv())
            assert hello == {"event": "hello", "agent_id": "1001"}
            call = citizen_call(node, speech, tmp_path, talk_ms=8000)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=CALLER)
            pop = await wait_pop(ws, 10)
            pop_at = time.monotonic()
            # (b) the pop reached the agent's browser within 2 s of the agent answering
            assert pop_at - connect.at < 2.0, f"pop came {pop_at - connect.at:.2f} s after answer"
            print(f"screen pop {1000 * (pop_at - connect.at):.0f} ms after AMI AgentConnect")
            assert pop["agent_id"] == "1001"
            assert pop["caller"] == CALLER
            assert pop["dialled"] == "12345"
            uniqueid = connect.fields["Uniqueid"]
            assert pop["call_id"] == f"e2e:{uniqueid}"
            # The ticket id travelled on the caller's channel (set by FastAGI before queueing).
            assert connect.fields["ChanVariable[TICKET_ID]"] == str(pop["ticket_id"])
            assert connect.fields["MemberName"] == "1001"
            rc, out = await asyncio.to_thread(call.wait, 90)
            assert rc == 0, out

        # (a) the call record and the ticket draft, as the API shows them
        ticket = api(node, f"/api/tickets/{pop['ticket_id']}")
        assert ticket["caller"] == CALLER
        assert ticket["dialled"] == "12345"
        assert ticket["state"] == "draft"
        assert ticket["agent_id"] == "1001"
        assert [t["to_state"] for t in ticket["transitions"]] == ["draft"]
        (rec,) = ticket["calls"]
        assert rec["uniqueid"] == uniqueid
        assert rec["caller"] == CALLER
        assert rec["agent_id"] == "1001"
        assert rec["outcome"] == "answered"
        calls = api(node, f"/api/calls?caller={CALLER}")
        assert uniqueid in [c["uniqueid"] for c in calls]

        # (c) two recording legs, both with speech in them
        legs = [node.recordings / rec["recording_in"], node.recordings / rec["recording_out"]]
        deadline = time.monotonic() + 10
        while not all(p.exists() for p in legs) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for leg in legs:
            assert leg.exists(), f"missing recording {leg}"
            assert duration(leg) > 3, f"{leg} is only {duration(leg):.1f} s"
            assert rms(leg) > SPEECH_RMS, f"{leg} is silent (rms {rms(leg):.0f})"
    finally:
        agent.stop()


async def test_second_call_pops_with_earlier_tickets(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with websockets.connect(node.ws_url("1001")) as ws:
            await ws.recv()
            call = citizen_call(node, speech, tmp_path, talk_ms=3000)
            pop = await wait_pop(ws, 40)
            earlier = pop["earlier_tickets"]
            assert earlier, "the caller's earlier ticket is missing from the pop"
            assert all(t["id"] < pop["ticket_id"] for t in earlier)
            assert earlier[0]["state"] == "draft"
            await asyncio.to_thread(call.wait, 60)
    finally:
        agent.stop()


async def test_calls_reach_agents_while_the_app_is_down(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """(d) kill -9 the app (FastAGI, AMI client, API): Asterisk still greets and queues the
    caller and the agent still answers; once the app is back, it serves again."""
    os.kill(node.app_pid(), signal.SIGKILL)
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=3000)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=CALLER)
            assert connect.fields["MemberName"] == "1001"
            # No ticket variable: FastAGI was unreachable and the dialplan fell through.
            assert connect.fields.get("ChanVariable[TICKET_ID]", "") == ""
            assert agent.wait_for("Call established", 5)
            rc, out = await asyncio.to_thread(call.wait, 60)
            assert rc == 0, out
    finally:
        agent.stop()
        hotline(node.config, "up", timeout=120)
    health = json.loads(urllib.request.urlopen(node.api + "/api/health", timeout=5).read())
    assert health["status"] == "ok"
