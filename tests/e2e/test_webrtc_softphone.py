"""The desk's WebRTC softphone in headless Chromium with fake media devices: the page
registers over WSS, auto-answers a queued call, Asterisk bridges it and receives the
browser's DTLS-SRTP audio; hold and resume on the desk reach Asterisk. Runs in a network
namespace of its own (tests/e2e/webrtc_scenario)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bed import missing_tools
from tests.e2e.browser import missing_browser

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with loopback and a veth pair on a private address (ICE needs one)."""
    if hints := missing_tools():
        pytest.fail("end-to-end tests need: " + "; ".join(hints))
    if hint := missing_browser():
        pytest.fail("the desk tests need: " + hint)
    name = f"hotline-webrtc-{os.getpid()}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", name, "addr", "add", "10.99.0.1/24", "dev", "v0")
        ip("-n", name, "link", "set", "v0", "up")
        ip("-n", name, "link", "set", "v1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def test_browser_phone_registers_answers_and_is_bridged(netns: str, tmp_path: Path) -> None:
    scenario = ["-m", "tests.e2e.webrtc_scenario", "--out", str(tmp_path)]
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, *scenario],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"web phone registered {seen['registered_after_s']} s after the page opened")
    assert "1001/sip:" in seen["contacts"] and "transport=ws" in seen["contacts"].lower()
    assert seen["pop_caller"] == "13800000101"
    # The citizen's channel and the browser's are in one bridge, and the browser's
    # DTLS-SRTP audio reaches Asterisk (20 ms packets: ~50 a second).
    rtp = seen["rtp"]
    (browser,) = [v for k, v in rtp.items() if k.startswith("1001-")]
    (citizen,) = [v for k, v in rtp.items() if k.startswith("carrier-")]
    assert browser["bridge"] == citizen["bridge"], seen["channelstats"]
    assert browser["rx"] > 100, seen["channelstats"]
    # Hold on the desk holds the browser's leg (Asterisk plays music to the citizen).
    assert [h.split(" PJSIP/")[0] for h in seen["hold"]] == ["Hold", "Unhold"], seen["hold"]
    assert all(" PJSIP/1001-" in h for h in seen["hold"]), seen["hold"]
    assert seen["sipp_rc"] == 0, seen["sipp_out"]
    shots = sorted(p.name for p in (tmp_path / "screenshots").glob("*.png"))
    assert shots == ["1-registered.png", "2-talking.png", "3-on-hold.png"]
