"""The WebRTC desk scenario, run inside a private network namespace by test_webrtc_softphone
(media never uses loopback, so Asterisk, the app, Chromium and SIPp share a namespace with a
veth address for ICE). Prints one JSON line with what it saw; screenshots go to --out.

    ip netns exec NS python -m tests.e2e.webrtc_scenario --out DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

from tests.e2e.bed import Node, free_port, start_node, stop_node
from tests.e2e.browser import Browser
from tests.e2e.helpers import api
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.audio import CITIZEN_SAY, speech_wav
from tests.e2e.peers.rtp_pcap import wav_to_pcap
from tests.e2e.peers.sipp import SippCall

AGENT, CALLER, PASSWORD = "1001", "13800000101", "webrtc-e2e-password"
MEDIA_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
)


def channel_stats(stats: str) -> dict[str, dict[str, Any]]:
    """`pjsip show channelstats` rows: channel → bridge id and received RTP packets."""
    rows: dict[str, dict[str, Any]] = {}
    for line in stats.splitlines():
        cols = line.split()
        # BridgeId ChannelId UpTime Codec RxCount …
        if len(cols) >= 5 and re.fullmatch(r"\d\d:\d\d:\d\d", cols[2]) and cols[4].isdigit():
            rows[cols[1]] = {"bridge": cols[0], "rx": int(cols[4])}
    return rows


async def hold_and_resume(node: Node, browser: Browser) -> list[str]:
    """Press hold, then resume, on the desk; Asterisk reports both for the browser's channel."""
    seen = []
    async with AmiObserver(*node.ami_login()) as ami:
        browser.click("hold")
        held = await ami.wait_for("Hold", 10)
        seen.append(f"Hold {held.fields['Channel']}")
        browser.wait(
            "the resume button", lambda: browser.el("hold").get_attribute("data-held") == "1", 5
        )
        browser.shot("3-on-hold")
        browser.click("hold")
        resumed = await ami.wait_for("Unhold", 10)
        seen.append(f"Unhold {resumed.fields['Channel']}")
    return seen


def run(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    citizen = speech_wav(CITIZEN_SAY, out / "citizen.wav", repeat=4)
    wav_to_pcap(citizen, out / "citizen.pcap")
    extra = f'\n[webrtc]\nagents = ["{AGENT}"]\nport = {free_port()}\nhttp_port = {free_port()}\n'
    node = start_node(out / "node", "webrtc", [AGENT], extra=extra)
    browser = None
    try:
        api(
            node,
            "/api/users",
            "POST",
            {"username": "web", "password": PASSWORD, "role": "agent", "agent_id": AGENT},
        )
        browser = Browser(out / "profile", out / "screenshots", MEDIA_FLAGS)
        started = time.monotonic()
        browser.open(node.api + "/desk")
        browser.type("username", "web")
        browser.type("password", PASSWORD)
        browser.click("login-button")
        browser.wait("the phone bar", lambda: browser.el("phone-bar").is_displayed(), 10)
        browser.click("auto-answer")
        browser.wait(
            "the phone registered",
            lambda: browser.el("phone-state").get_attribute("data-state") == "registered",
            15,
        )
        result["registered_after_s"] = round(time.monotonic() - started, 2)
        result["contacts"] = node.cli(f"pjsip show contacts like {AGENT}")
        browser.shot("1-registered")

        call = SippCall(
            workdir=out / "sipp",
            service="12345",
            caller=CALLER,
            target=node.sip_target,
            pcap=out / "citizen.pcap",
            hold_ms=12000 + 12000,
        ).start()
        browser.wait("the pop", lambda: browser.text("pop-caller") == CALLER, 40)
        browser.wait(
            "the call talking",
            lambda: browser.el("phone-state").get_attribute("data-state") == "talking",
            10,
        )
        browser.shot("2-talking")
        time.sleep(4)  # let media flow both ways
        result["hold"] = asyncio.run(hold_and_resume(node, browser))
        result["bridges"] = node.cli("bridge show all")
        result["channels"] = node.cli("core show channels concise")
        stats = node.cli("pjsip show channelstats")
        result["channelstats"] = stats
        result["rtp"] = channel_stats(stats)
        result["pop_caller"] = browser.text("pop-caller")
        rc, sipp_out = call.wait(60)
        result["sipp_rc"] = rc
        result["sipp_out"] = sipp_out[-2000:]
        result["console"] = [str(m) for m in browser.console()][-20:]
    finally:
        if browser is not None:
            browser.close()
        stop_node(node)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    socket.setdefaulttimeout(30)
    print(json.dumps(run(args.out), ensure_ascii=False))


if __name__ == "__main__":
    main()
