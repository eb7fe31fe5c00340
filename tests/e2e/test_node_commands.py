"""The operator's commands against the running test node: status, the runtime file, and the
Asterisk it started (real CLI answers, our modules and ports)."""

from __future__ import annotations

import grp
import json
import pwd
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from app.speech.transcripts import wav_complete
from core.settings import AsteriskSettings
from tests.e2e.bed import Node, hotline
from tests.e2e.helpers import api, last_call, start_agent
from tests.e2e.peers.audio import duration, rms

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README_CALLER = "13800000001"  # examples/sipp-citizen.xml


def test_status_prints_the_runtime_description(node: Node) -> None:
    desc = json.loads(hotline(node.config, "status").stdout)
    assert desc["running"] == {"asterisk": True, "app": True}
    assert desc["health"]["status"] == "ok" and desc["health"]["ami_connected"] is True
    for key in ("sip", "ami", "fastagi", "api", "agents", "data_dir", "recordings_dir"):
        assert desc[key] == node.runtime[key], key
    assert desc["sip"]["carrier_source"] == "127.0.0.2"
    assert desc["sip"]["carrier_port"] == node.settings["sip"]["carrier_port"]
    assert desc["number_plan"] == node.runtime["number_plan"]
    assert Path(desc["number_plan"]).is_file()
    assert desc["api"]["desk"] == desc["api"]["url"] + "/desk"
    assert [a["id"] for a in desc["agents"]] == ["1001", "1002"]
    brief = hotline(node.config, "status", "--brief").stdout
    assert brief.strip() == "asterisk: up; app: up"


def test_asterisk_is_22_with_our_configuration(node: Node) -> None:
    assert "Asterisk 22." in node.cli("core show version")
    endpoints = node.cli("pjsip show endpoints")
    assert "carrier" in endpoints and "1001" in endpoints
    assert "main has" in node.cli("queue show main")
    settings = node.cli("manager show settings")
    assert f"127.0.0.1:{node.runtime['ami']['port']}" in settings
    assert "TICKET_ID" in settings  # channel variables on every AMI event


def test_ami_refuses_a_wrong_secret(node: Node) -> None:
    host, port, user, _ = node.ami_login()
    with socket.create_connection((host, port), timeout=5) as s:
        s.recv(100)
        s.sendall(f"Action: Login\r\nUsername: {user}\r\nSecret: wrong\r\n\r\n".encode())
        answer = s.recv(1000).decode()
    assert "Response: Error" in answer and "Authentication failed" in answer


def test_app_reconnects_after_asterisk_restarts(node: Node) -> None:
    """A dropped Asterisk: the app keeps serving, reports AMI down, and logs in again."""

    def ami_connected() -> bool:
        with urllib.request.urlopen(node.api + "/api/health", timeout=5) as resp:
            return bool(json.loads(resp.read())["ami_connected"])

    assert ami_connected()
    hotline(node.config, "asterisk", "stop")
    deadline = time.monotonic() + 10
    while ami_connected() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ami_connected(), "the app did not notice Asterisk going away"
    hotline(node.config, "asterisk", "start")
    deadline = time.monotonic() + 20
    while not ami_connected() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ami_connected(), "the app did not log in to AMI again"


def test_asterisk_runs_as_no_host_account_and_owns_nothing_outside_its_root(node: Node) -> None:
    pid = json.loads(hotline(node.config, "status").stdout)["asterisk"]["pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    ids = {line.split(":")[0]: line.split()[1:] for line in status.splitlines()}
    uid, gid = int(ids["Uid"][0]), int(ids["Gid"][0])
    assert set(ids["Uid"]) == {str(uid)} and set(ids["Gid"]) == {str(gid)}
    assert (uid, gid) == (AsteriskSettings().uid,) * 2  # the default asterisk.uid
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    with pytest.raises(KeyError):
        grp.getgrgid(gid)
    root = node.runtime["asterisk"]["root"]
    owners = ["(", "-uid", str(uid), "-o", "-gid", str(gid), ")"]
    owned = subprocess.run(
        ["find", "/", "/dev/shm", "-xdev", "-path", root, "-prune", "-o", *owners, "-print"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    ).stdout.split()
    assert owned == [], f"Asterisk's uid/gid {uid} owns host files: {owned[:10]}"


def test_reload_applies_edited_app_settings_without_restarting_asterisk(node: Node) -> None:
    def state() -> dict[str, Any]:
        return dict(json.loads(hotline(node.config, "status").stdout))

    def campaigns() -> dict[str, int]:
        return {c["name"]: c["max_channels"] for c in api(node, "/api/callbacks/campaigns")}

    original = node.config.read_text()
    before = state()
    try:
        node.config.write_text(
            original + '\n[[callbacks.campaigns]]\nname = "reloaded"\nmax_channels = 2\n'
        )
        out = hotline(node.config, "reload").stdout
        assert "app restarted" in out
        after = state()
        assert after["asterisk"]["pid"] == before["asterisk"]["pid"]  # calls stay up
        assert after["app"]["pid"] != before["app"]["pid"]
        assert after["health"]["status"] == "ok"
        assert campaigns() == {"reloaded": 2}
        runtime = json.loads(Path(node.runtime["data_dir"], "runtime.json").read_text())
        assert runtime["app"]["pid"] == after["app"]["pid"]

        # A bad edit: a clear error, and the node goes on as it was.
        node.config.write_text(original + "\n[[callbacks.campaigns]]\nmax_channels = 0\n")
        with pytest.raises(AssertionError, match="max_channels"):
            hotline(node.config, "reload")
        assert Path(f"/proc/{after['app']['pid']}").exists()  # the same app still serves
        assert campaigns() == {"reloaded": 2}
    finally:
        node.config.write_text(original)
        hotline(node.config, "reload")
    assert campaigns() == {"default": 4}


def test_the_readme_call_is_heard_end_to_end(
    node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    """README "Try a call": its SIPp command, as written (on this node's port), reaches the
    agent after the greeting and both recorded legs carry speech."""
    readme = (REPO / "README.md").read_text()
    (command,) = [line for line in readme.splitlines() if "examples/sipp-citizen.xml" in line]
    argv = command.replace("127.0.0.1:15060", node.sip_target).split()
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        sipp = subprocess.run(
            [*argv, "-nostdin"], cwd=REPO, capture_output=True, text=True, timeout=120
        )
    finally:
        agent.stop()
    assert sipp.returncode == 0, sipp.stdout[-2000:]
    call = last_call(node, README_CALLER)
    assert call["outcome"] == "answered" and call["agent_id"] == "1001"
    for leg in (call["recording_in"], call["recording_out"]):
        path = node.recordings / leg
        # MixMonitor finalises the WAV header a moment after the hang-up (later under load).
        deadline = time.monotonic() + 15
        while not wav_complete(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert duration(path) > 20, f"{leg} is only {duration(path):.1f} s"
        assert rms(path) > 300, f"{leg} is silent (rms {rms(path):.0f})"
