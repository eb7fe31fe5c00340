"""Agent states through real Asterisk: a paused agent is not offered calls, the ready one is;
after the app restarts (its AMI link is new), states and the call in progress are rebuilt
from Asterisk, not from memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.bed import Node, hotline, start_node, stop_node
from tests.e2e.helpers import (
    agent_state,
    api,
    citizen_call,
    end_all_calls,
    set_agent_state,
    start_agent,
)
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e


async def ami_up(node: Node, timeout: float = 30) -> float:
    """When the app's (new) AMI link came up, as health reports it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if json.loads(urllib.request.urlopen(node.api + "/api/health", timeout=2).read())[
                "ami_connected"
            ]:
                return time.monotonic()
        except OSError:
            pass
        assert time.monotonic() < deadline, "the app's AMI link did not come up"
        await asyncio.sleep(0.02)


async def test_paused_agent_is_not_offered_calls(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000071"
    set_agent_state(node, "1001", "pause", "小休")
    a1, a2 = (
        start_agent(node, "1001", speech, tmp_path),
        start_agent(node, "1002", speech, tmp_path),
    )
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=3000, caller=caller)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            assert connect.fields["MemberName"] == "1002"
            offered = {e.fields["MemberName"] for e in ami.named("AgentCalled")}
            assert offered == {"1002"}, f"the paused agent was offered the call: {offered}"
            # The desk shows the ready agent on the call, the paused one still paused.
            deadline = time.monotonic() + 5
            while agent_state(node, "1002")["state"] != "on_call":
                assert time.monotonic() < deadline, agent_state(node, "1002")
                await asyncio.sleep(0.05)
            assert agent_state(node, "1001")["state"] == "paused"
            rc, out = await asyncio.to_thread(call.wait, 60)
            assert rc == 0, out
        history = api(node, "/api/agents/1001/history?limit=5")
        assert (history[0]["state"], history[0]["reason"], history[0]["source"]) == (
            "paused",
            "小休",
            "admin:service",
        )
        # History rows are written in batches a moment after the change.
        deadline = time.monotonic() + 5
        while "on_call" not in (
            states := [h["state"] for h in reversed(api(node, "/api/agents/1002/history?limit=5"))]
        ):
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.1)
        assert states[states.index("on_call") - 1] == "ready", states
    finally:
        a1.stop()
        a2.stop()
        end_all_calls(node)
        set_agent_state(node, "1001", "ready")


async def test_states_and_active_call_rebuilt_after_app_restart(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """kill -9 the app during a call; meanwhile a supervisor pauses 1002 from Asterisk's CLI.
    Within 2 s of the new process's AMI login the API shows both as Asterisk has them."""
    caller = "13800000072"
    set_agent_state(node, "1002", "pause", "培训")
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=20000, caller=caller)
            await ami.wait_for("AgentConnect", 40, CallerIDNum=caller, MemberName="1001")
            os.kill(node.app_pid(), signal.SIGKILL)
            node.cli("queue pause member PJSIP/1002 queue main reason 会议")
            hotline(node.config, "up", timeout=120)
            login_at = await ami_up(node)
            deadline = login_at + 2.0
            while True:
                s1, s2 = agent_state(node, "1001"), agent_state(node, "1002")
                if (s1["state"], s2["state"], s2["reason"]) == ("on_call", "paused", "会议"):
                    break
                assert time.monotonic() < deadline, (s1, s2)
                await asyncio.sleep(0.05)
            print(f"states rebuilt {1000 * (time.monotonic() - login_at):.0f} ms after AMI login")
            rc, out = await asyncio.to_thread(call.wait, 60)
            assert rc == 0, out
        deadline = time.monotonic() + 10
        while agent_state(node, "1001")["state"] != "ready":
            assert time.monotonic() < deadline, agent_state(node, "1001")
            await asyncio.sleep(0.1)
        sources = {h["source"] for h in api(node, "/api/agents/1002/history?limit=3")}
        assert "rebuild" in sources
    finally:
        agent.stop()
        end_all_calls(node)
        set_agent_state(node, "1002", "ready")


async def test_after_call_work_holds_calls_back_until_the_agent_ends_it(
    tmp_path_factory: pytest.TempPathFactory, speech: dict[str, Path], tmp_path: Path
) -> None:
    """wrap-up 60 s: after a call the only agent is in 话后处理 and not offered the next
    caller; ending it early from the desk brings that caller through at once."""
    node = start_node(tmp_path_factory.mktemp("wrapnode"), "wrap", ["1001"], wrapup_seconds=60)
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            first = citizen_call(node, speech, tmp_path, talk_ms=2000, caller="13800000111")
            await ami.wait_for("AgentComplete", 40, CallerIDNum="13800000111")
            deadline = time.monotonic() + 5
            while (state := agent_state(node, "1001"))["state"] != "wrapup":
                assert time.monotonic() < deadline, state
                await asyncio.sleep(0.05)
            assert "话后处理" in node.cli("queue show main")  # paused in Asterisk, with why
            second = citizen_call(node, speech, tmp_path, talk_ms=2000, caller="13800000112")
            await ami.wait_for("QueueCallerJoin", 30, CallerIDNum="13800000112")
            await asyncio.sleep(3)
            assert not [
                e for e in ami.named("AgentCalled") if e.fields["CallerIDNum"] == "13800000112"
            ]
            api(node, "/api/agents/1001/end-wrapup", "POST", {})
            connect = await ami.wait_for("AgentConnect", 10, CallerIDNum="13800000112")
            assert connect.fields["MemberName"] == "1001"
            for call in (first, second):
                rc, out = await asyncio.to_thread(call.wait, 60)
                assert rc == 0, out
        history = [(h["state"], h["source"]) for h in api(node, "/api/agents/1001/history")]
        assert ("wrapup", "wrapup") in history and ("ready", "agent:1001") not in history
        assert ("ready", "admin:service") in history  # the early end, by who asked
    finally:
        agent.stop()
        stop_node(node)
