"""A call lost with its Asterisk: a citizen talks to an agent when the node's Asterisk is
killed (-9) and started again (`hotline asterisk start`). The call is gone
with it; when the app's AMI logs in again, the call's record is closed as `lost` and its
ticket draft is kept. A node of its own: restarting Asterisk under the shared node would
disturb the other modules' tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bed import Node, hotline, start_node, stop_node
from tests.e2e.conftest import Peer, plan_for_tests
from tests.e2e.helpers import api, citizen_call, start_agent
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e

CALLER = "13800002001"


@pytest.fixture(scope="module")
def lone_node(tmp_path_factory: pytest.TempPathFactory, peers: dict[str, Peer]) -> Iterator[Node]:
    n = start_node(
        tmp_path_factory.mktemp("lostnode"), "lost", ["1001"], plan=plan_for_tests(peers)
    )
    try:
        yield n
    finally:
        stop_node(n)


def asterisk_pid(node: Node) -> int:
    runtime = json.loads(Path(node.runtime["data_dir"], "runtime.json").read_text())
    return int(runtime["asterisk"]["pid"])


async def test_a_call_cut_by_an_asterisk_restart_is_recorded_lost(
    lone_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    node = lone_node
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=60_000, caller=CALLER)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=CALLER)
        (record,) = api(node, f"/api/calls?caller={CALLER}")
        assert record["uniqueid"] == connect.fields["Uniqueid"]
        assert record["ended_at"] is None
        await asyncio.sleep(10)  # past the grace a young record gets
        # A crash, not a stop: a stopping Asterisk hangs its calls up and says so on AMI.
        os.kill(asterisk_pid(node), signal.SIGKILL)
        hotline(node.config, "asterisk", "start", timeout=120)
        deadline = time.monotonic() + 30
        while (record := api(node, f"/api/calls?caller={CALLER}")[0])["outcome"] != "lost":
            assert time.monotonic() < deadline, record
            await asyncio.sleep(0.3)
        assert record["ended_at"] is not None and record["ticket_id"]
        ticket = api(node, f"/api/tickets/{record['ticket_id']}")
        assert ticket["caller"] == CALLER  # the draft stays for a call back
        call.stop()
    finally:
        agent.stop()
