"""Hand-overs to an emergency centre (attended: complete and cancel; three-way) and the
missed-call list with click-to-call, through real Asterisk with SIP peers for the citizen, the
agent and the 119 centre. What the call did is read from Asterisk (AMI, CLI)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bed import Node
from tests.e2e.helpers import api, citizen_call, end_all_calls, start_agent
from tests.e2e.peers.ami_observer import AmiObserver, ObservedEvent
from tests.e2e.peers.sipp import SippAnswerer

pytestmark = pytest.mark.e2e


@dataclass
class LiveCall:
    ami: AmiObserver
    call_id: str
    citizen: str  # channel names, from Asterisk
    agent: str
    bridge: str  # the citizen–agent bridge


@asynccontextmanager
async def answered_call(
    node: Node, speech: dict[str, Path], tmp: Path, caller: str
) -> AsyncIterator[LiveCall]:
    agent = start_agent(node, "1001", speech, tmp)
    sipp = None
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            sipp = citizen_call(node, speech, tmp, talk_ms=90_000, caller=caller)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            citizen = connect.fields["Channel"]
            entered = await ami.wait_for("BridgeEnter", 10, Channel=citizen)
            call_id = f"e2e:{connect.fields['Uniqueid']}"
            for _ in range(50):  # the app records the agent's channel from the same event
                if api(node, f"/api/calls?caller={caller}")[0]["agent_id"]:
                    break
                await asyncio.sleep(0.1)
            yield LiveCall(
                ami,
                call_id,
                citizen,
                connect.fields["DestChannel"],
                entered.fields["BridgeUniqueid"],
            )
    finally:
        agent.stop()
        if sipp is not None:
            sipp.stop()
        end_all_calls(node)


def transfer(node: Node, call: LiveCall, mode: str) -> dict[str, Any]:
    """Ask the API to hand ``call`` to 119 in ``mode``."""
    body = {"target": "119", "mode": mode}
    started: dict[str, Any] = api(node, f"/api/calls/{call.call_id}/transfers", "POST", body)
    return started


async def centre_leg(ami: AmiObserver, timeout: float = 20) -> ObservedEvent:
    """The 119 centre's channel entering a bridge (it answered)."""
    return await ami.wait_for("BridgeEnter", timeout, {"Channel": "PJSIP/peer-119-"})


def alive(node: Node) -> str:
    return node.cli("core show channels concise")


async def test_attended_transfer_to_119_completes(
    node: Node, speech: dict[str, Path], fire: SippAnswerer, tmp_path: Path
) -> None:
    async with answered_call(node, speech, tmp_path, "13800000041") as call:
        started = transfer(node, call, "attended")
        assert (started["target"], started["mode"], started["outcome"]) == (
            "119",
            "attended",
            "consulting",
        )
        consult = await centre_leg(call.ami)
        # While the agent consults, the citizen waits alone in the original bridge.
        assert consult.fields["BridgeUniqueid"] != call.bridge
        done = api(node, f"/api/transfers/{started['id']}/complete", "POST", {})
        assert done["outcome"] == "completed"
        await call.ami.wait_for("Hangup", 10, Channel=call.agent)
        attended = await call.ami.wait_for("AttendedTransfer", 10)
        assert attended.fields["Result"] == "Success"
        await asyncio.sleep(1)
        channels = alive(node)
        assert call.citizen in channels, "the citizen was dropped"
        assert "PJSIP/peer-119-" in channels, "the 119 leg was dropped"
        assert call.agent not in channels
    ticket = api(node, f"/api/tickets/{api(node, '/api/calls?caller=13800000041')[0]['ticket_id']}")
    (handover,) = ticket["transfers"]
    assert (handover["target"], handover["outcome"], handover["agent_id"]) == (
        "119",
        "completed",
        "1001",
    )
    assert handover["ended_at"] is not None


async def test_attended_transfer_cancel_returns_the_citizen_to_the_agent(
    node: Node, speech: dict[str, Path], fire: SippAnswerer, tmp_path: Path
) -> None:
    async with answered_call(node, speech, tmp_path, "13800000042") as call:
        started = transfer(node, call, "attended")
        consult = await centre_leg(call.ami)
        cancelled = api(node, f"/api/transfers/{started['id']}/cancel", "POST", {})
        assert cancelled["outcome"] == "cancelled"
        await call.ami.wait_for("Hangup", 10, Channel=consult.fields["Channel"])
        back = await call.ami.wait_for("BridgeEnter", 10, after=consult, Channel=call.agent)
        assert back.fields["BridgeUniqueid"] == call.bridge
        assert call.citizen in alive(node)


async def test_three_way_puts_citizen_agent_and_centre_in_one_bridge(
    node: Node, speech: dict[str, Path], fire: SippAnswerer, tmp_path: Path
) -> None:
    async with answered_call(node, speech, tmp_path, "13800000043") as call:
        transfer(node, call, "threeway")
        joined = await centre_leg(call.ami)
        assert joined.fields["BridgeUniqueid"] == call.bridge
        assert joined.fields["BridgeNumChannels"] == "3"
        for _ in range(30):
            (rec,) = api(node, "/api/calls?caller=13800000043")
            handovers = api(node, f"/api/tickets/{rec['ticket_id']}")["transfers"]
            if handovers and handovers[0]["outcome"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert [(h["mode"], h["outcome"]) for h in handovers] == [("threeway", "completed")]


async def test_unknown_transfer_target_is_refused(node: Node) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        api(node, "/api/calls/e2e:none/transfers", "POST", {"target": "999", "mode": "blind"})
    assert err.value.code == 409
    assert "999 is not a transfer target" in err.value.msg


async def test_abandoned_caller_is_listed_then_cleared_when_they_get_through(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000051"
    async with AmiObserver(*node.ami_login()) as ami:
        # No agent logged in: the citizen gives up 3 s into the queue.
        gave_up = citizen_call(node, speech, tmp_path / "first", talk_ms=3000, caller=caller)
        abandon = await ami.wait_for("QueueCallerAbandon", 40, CallerIDNum=caller)
        await asyncio.to_thread(gave_up.wait, 30)
        await asyncio.sleep(0.5)
    (entry,) = [m for m in api(node, "/api/missed-calls?state=open") if m["caller"] == caller]
    assert entry["dialled"] == "12345"
    assert entry["wait_seconds"] == int(abandon.fields["HoldTime"])
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            again = citizen_call(node, speech, tmp_path / "second", talk_ms=2000, caller=caller)
            await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            await asyncio.to_thread(again.wait, 60)
    finally:
        agent.stop()
    cleared = [m for m in api(node, "/api/missed-calls?state=cleared") if m["id"] == entry["id"]]
    assert cleared and cleared[0]["cleared_by_call"]


async def test_click_to_call_rings_the_agent_then_the_citizen(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000052"
    async with AmiObserver(*node.ami_login()) as ami:
        gave_up = citizen_call(node, speech, tmp_path / "first", talk_ms=2000, caller=caller)
        await ami.wait_for("QueueCallerAbandon", 40, CallerIDNum=caller)
        await asyncio.to_thread(gave_up.wait, 30)
    await asyncio.sleep(0.5)
    (entry,) = [m for m in api(node, "/api/missed-calls?state=open") if m["caller"] == caller]
    citizen_phone = SippAnswerer(
        tmp_path / "citizen", caller, "127.0.0.2", int(node.settings["sip"]["carrier_port"])
    ).start()
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            claimed = api(
                node, f"/api/missed-calls/{entry['id']}/call", "POST", {"agent_id": "1001"}
            )
            assert (claimed["state"], claimed["claimed_by"]) == ("claimed", "1001")
            # First Asterisk rings the agent's phone (showing the citizen's number) …
            agent_leg = await ami.wait_for(
                "DialEnd", 30, {"DestChannel": "PJSIP/1001-"}, DialStatus="ANSWER"
            )
            assert agent_leg.fields["DestCallerIDNum"] == caller
            # … then, from the agent's channel, the citizen through the carrier trunk.
            citizen_leg = await ami.wait_for(
                "DialEnd", 30, {"DestChannel": "PJSIP/carrier-"}, DialStatus="ANSWER"
            )
            assert citizen_leg.fields["Channel"] == agent_leg.fields["DestChannel"]
            assert citizen_leg.at > agent_leg.at
    finally:
        agent.stop()
        citizen_phone.stop()
    done = api(node, f"/api/missed-calls/{entry['id']}/complete", "POST", {"agent_id": "1001"})
    assert done["state"] == "done"


async def test_blind_transfer_sends_the_citizen_to_the_centre(
    node: Node, speech: dict[str, Path], fire: SippAnswerer, tmp_path: Path
) -> None:
    async with answered_call(node, speech, tmp_path, "13800000044") as call:
        sent = transfer(node, call, "blind")
        assert (sent["mode"], sent["outcome"]) == ("blind", "completed")
        await call.ami.wait_for("Hangup", 10, Channel=call.agent)
        blind = await call.ami.wait_for("BlindTransfer", 10)
        assert (blind.fields["Result"], blind.fields["Extension"]) == ("Success", "119")
        # The citizen's channel now dials the centre and is bridged with its leg.
        leg = await centre_leg(call.ami)
        citizen_in = await call.ami.wait_for("BridgeEnter", 10, after=blind, Channel=call.citizen)
        assert citizen_in.fields["BridgeUniqueid"] == leg.fields["BridgeUniqueid"]
