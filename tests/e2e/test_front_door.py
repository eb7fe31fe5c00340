"""The front door of DESIGN §1 through real Asterisk: retired numbers inside and after their
notice window, a specialised line's skill queue with overflow, and 110's hand-over jumping the
queue. What happened is read from Asterisk's own AMI events, not from the app's log."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.e2e.bed import Node, hotline
from tests.e2e.conftest import SPECIALISED_OVERFLOW_S, Peer
from tests.e2e.helpers import api, citizen_call, end_all_calls, prompt_played, start_agent
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.sipp import SippAnswerer

pytestmark = pytest.mark.e2e


async def test_retired_number_inside_window_plays_notice_then_queues_with_its_category(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000021"
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(
                node, speech, tmp_path, talk_ms=12000, service="12369", caller=caller
            )
            played = await prompt_played(ami, caller)
            assert played.fields["Prompt"] == "notice-12369"
            assert played.fields["Status"] == "SUCCESS"
            uid = played.fields["Uniqueid"]
            joined = await ami.wait_for("QueueCallerJoin", 10, Uniqueid=uid)
            assert joined.fields["Queue"] == "main"
            assert joined.at >= played.at  # the notice comes before the queue
            connect = await ami.wait_for("AgentConnect", 30, Uniqueid=uid)
            assert connect.fields["ChanVariable[HOTLINE_CATEGORY]"] == "生态环境"
            await asyncio.to_thread(call.wait, 60)
        ticket_id = int(connect.fields["ChanVariable[TICKET_ID]"])
        ticket = api(node, f"/api/tickets/{ticket_id}")
        assert (ticket["category"], ticket["dialled"], ticket["source"]) == (
            "生态环境",
            "12369",
            "phone:12369",
        )
        assert ticket["calls"][0]["route"] == "notice"
    finally:
        agent.stop()


async def test_retired_number_after_window_stops_and_hangs_up(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000022"
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(
                node, speech, tmp_path, talk_ms=12000, service="12328", caller=caller
            )
            played = await prompt_played(ami, caller)
            assert (played.fields["Prompt"], played.fields["Status"]) == (
                "stopped-12328",
                "SUCCESS",
            )
            uid = played.fields["Uniqueid"]
            hangup = await ami.wait_for("Hangup", 10, Uniqueid=uid)
            assert hangup.fields["Cause"] == "16"  # Asterisk hung up: normal clearing
            await asyncio.sleep(1)
            assert not [
                e
                for e in ami.events
                if e.name in ("QueueCallerJoin", "AgentCalled") and e.fields.get("Uniqueid") == uid
            ]
            await asyncio.to_thread(call.wait, 30)
        (rec,) = api(node, f"/api/calls?caller={caller}")
        assert (rec["route"], rec["ticket_id"], rec["prompt"]) == ("stopped", None, "stopped-12328")
    finally:
        agent.stop()


async def test_specialised_line_offers_the_skilled_agent_first(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000023"
    agents = [start_agent(node, a, speech, tmp_path) for a in ("1001", "1002")]
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(
                node, speech, tmp_path, talk_ms=2000, service="12329", caller=caller
            )
            played = await prompt_played(ami, caller)
            assert played.fields["Prompt"] == "greeting-12329"
            joined = await ami.wait_for("QueueCallerJoin", 10, CallerIDNum=caller)
            assert joined.fields["Queue"] == "gjj"
            first = await ami.wait_for("AgentCalled", 10, CallerIDNum=caller)
            assert first.fields["MemberName"] == "1002"  # the 公积金 agent
            connect = await ami.wait_for("AgentConnect", 10, CallerIDNum=caller)
            assert connect.fields["MemberName"] == "1002"
            await asyncio.to_thread(call.wait, 60)
    finally:
        for a in agents:
            a.stop()


async def test_specialised_line_overflows_to_other_agents_after_the_wait(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """The skilled agent (1002) is not logged in: only after the overflow wait may 1001
    take the call."""
    caller = "13800000024"
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(
                node,
                speech,
                tmp_path,
                talk_ms=2000 + 1000 * SPECIALISED_OVERFLOW_S,
                service="12329",
                caller=caller,
            )
            joined = await ami.wait_for("QueueCallerJoin", 30, CallerIDNum=caller)
            called = await ami.wait_for("AgentCalled", 30, CallerIDNum=caller)
            assert called.fields["MemberName"] == "1001"
            waited = called.at - joined.at
            assert waited >= SPECIALISED_OVERFLOW_S - 0.5, f"overflowed after {waited:.1f} s"
            await ami.wait_for("AgentConnect", 10, CallerIDNum=caller)
            await asyncio.to_thread(call.wait, 60)
    finally:
        agent.stop()


async def test_handover_from_110_jumps_ahead_of_waiting_callers(
    node: Node, speech: dict[str, Path], peers: dict[str, Peer], tmp_path: Path
) -> None:
    ordinary = "13800000025"
    async with AmiObserver(*node.ami_login()) as ami:
        # No agent logged in: the ordinary caller waits at position 1.
        first = citizen_call(node, speech, tmp_path, talk_ms=40000, caller=ordinary)
        await ami.wait_for("QueueCallerJoin", 30, CallerIDNum=ordinary)
        handover = citizen_call(
            node, speech, tmp_path, talk_ms=20000, caller="110", local_ip=peers["110"].host
        )
        joined = await ami.wait_for("QueueCallerJoin", 30, CallerIDNum="110")
        assert joined.fields["Position"] == "1", "the 110 hand-over did not go first"
        assert joined.fields["Count"] == "2"
        agent = start_agent(node, "1001", speech, tmp_path)
        try:
            connect = await ami.wait_for("AgentConnect", 30)
            assert connect.fields["CallerIDNum"] == "110"
        finally:
            agent.stop()
            first.stop()
            handover.stop()
            end_all_calls(node)
    ticket = api(node, f"/api/tickets/{connect.fields['ChanVariable[TICKET_ID]']}")
    assert ticket["source"] == "handover:110"


async def test_reload_applies_a_new_number_without_dropping_calls(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """While a citizen talks to an agent, the operator adds a retired number and reloads: the
    call stays up and the new number plays its notice at once."""
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            ongoing = citizen_call(node, speech, tmp_path, talk_ms=60_000, caller="13800000026")
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum="13800000026")
            plan = node.workdir / "numberplan.toml"
            today = date.today()
            plan.write_text(
                plan.read_text()
                + f"""
[[retired]]
number = "12399"
name = "测试热线"
category = "测试"
window_start = {today - timedelta(days=1)}
"""
            )
            hotline(node.config, "reload")
            await asyncio.sleep(1)
            assert connect.fields["Channel"] in node.cli("core show channels concise")
            assert not [
                e
                for e in ami.named("Hangup")
                if e.fields.get("Uniqueid") == connect.fields["Uniqueid"]
            ]
            ongoing.stop()
            new = citizen_call(
                node, speech, tmp_path, talk_ms=12000, service="12399", caller="13800000027"
            )
            played = await prompt_played(ami, "13800000027")
            assert (played.fields["Prompt"], played.fields["Status"]) == ("notice-12399", "SUCCESS")
            new.stop()
    finally:
        agent.stop()
        end_all_calls(node)


async def test_per_number_statistics_count_what_happened(node: Node) -> None:
    rows = {r["number"]: r for r in api(node, "/api/stats/numbers")}
    assert rows["12369"]["kind"] == "retired" and rows["12369"]["offered"] >= 1
    assert rows["12369"]["notice_played"] >= 1 and rows["12369"]["answered"] >= 1
    assert rows["12328"]["notice_played"] >= 1  # the stop notice
    assert rows["12329"]["kind"] == "specialised" and rows["12329"]["answered"] >= 2


async def test_a_12366_caller_reaches_the_sub_centre_and_the_ticket_keeps_the_handover(
    node: Node, speech: dict[str, Path], peers: dict[str, Peer], tmp_path: Path
) -> None:
    caller = "13800000028"
    p = peers["12366"]
    seats = SippAnswerer(tmp_path / "subcentre", "12366", p.host, p.port, hold_ms=4000).start()
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=0, service="12366", caller=caller)
            dialled = await ami.wait_for(
                "UserEvent", 40, UserEvent="HotlineHandover", CallerIDNum=caller
            )
            assert (dialled.fields["Target"], dialled.fields["Status"]) == ("12366", "ANSWER")
            assert not [
                e for e in ami.named("QueueCallerJoin") if e.fields.get("CallerIDNum") == caller
            ]
            call.stop()
        await asyncio.sleep(0.5)
        (rec,) = api(node, f"/api/calls?caller={caller}")
        ticket = api(node, f"/api/tickets/{rec['ticket_id']}")
        assert (ticket["category"], ticket["dialled"]) == ("税务", "12366")
        (handover,) = ticket["transfers"]
        assert (handover["target"], handover["mode"], handover["outcome"]) == (
            "12366",
            "direct",
            "completed",
        )
    finally:
        seats.stop()
        end_all_calls(node)


async def test_every_number_still_reaches_the_main_queue_when_the_app_is_down(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """kill -9 the app: a retired and a specialised number get the 12345 greeting and the
    main queue — no notice, no skill queue, but never silence."""
    os.kill(node.app_pid(), signal.SIGKILL)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            for number, caller in (("12369", "13800000029"), ("12329", "13800000030")):
                call = citizen_call(
                    node, speech, tmp_path, talk_ms=3000, service=number, caller=caller
                )
                played = await prompt_played(ami, caller)
                assert played.fields["Prompt"] == "greeting"
                joined = await ami.wait_for("QueueCallerJoin", 10, CallerIDNum=caller)
                assert joined.fields["Queue"] == "main"
                call.stop()
    finally:
        end_all_calls(node)
        hotline(node.config, "up", timeout=120)
