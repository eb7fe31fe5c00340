"""The big screen (大屏) on a real node in headless Chromium, at the hall's 1920×1080 and a
laptop's 1366×768: a supervisor signs in on /bigscreen; a citizen calls 12345 (SIPp over
the carrier) and agent 1001's softphone (baresip) answers — "answered today" and the agents
by state move on the page without a reload, pushed over /ws/bigscreen; registering the call's
ticket moves "received" and the top categories. No scrollbars at either size; screenshots
in the test's tmp dir (screenshots/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bed import Node
from tests.e2e.browser import Browser
from tests.e2e.helpers import (
    api,
    citizen_call,
    end_all_calls,
    ensure_user,
    last_call,
    set_agent_state,
    start_agent,
)
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e

PW = "bigscreen-e2e-password"
CALLER = "13800000071"


def viewport(b: Browser, width: int, height: int) -> None:
    """The page's viewport exactly (a window size would include the window's own edges)."""
    b.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def number(b: Browser, element_id: str) -> int:
    text = b.text(element_id)
    return int(text) if text.isdigit() else -1


def overflow(b: Browser) -> dict[str, Any]:
    """Scrollbars of the page, and any panel whose content is cut off at the bottom."""
    out: dict[str, Any] = b.driver.execute_script(
        """
        const d = document.documentElement;
        const cut = [...document.querySelectorAll('.panel, .tile, .count')]
          .filter(p => !p.matches('#agents') && (p.scrollHeight > p.clientHeight + 2
                                                  || p.scrollWidth > p.clientWidth + 2))
          .map(p => p.id || p.className);
        return {x: d.scrollWidth > innerWidth, y: d.scrollHeight > innerHeight, cut,
                w: innerWidth, h: innerHeight};
        """
    )
    return out


async def until(b: Browser, what: str, check: Any, timeout: float) -> None:
    await asyncio.to_thread(b.wait, what, check, timeout)


async def test_big_screen_follows_a_real_call(
    node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    b = browser
    ensure_user(node, "hall", PW, "supervisor")
    viewport(b, 1920, 1080)
    b.sign_in(node.api + "/bigscreen", "hall", PW)
    await until(b, "the live link", lambda: b.css("#link").get_attribute("data-state") == "on", 15)
    await until(b, "today's figures", lambda: number(b, "answered") >= 0, 10)
    assert b.untranslated() == []
    assert b.text("surges-empty") == "暂无突增预警"
    before = number(b, "answered")
    received = number(b, "received")
    assert overflow(b) == {"x": False, "y": False, "cut": [], "w": 1920, "h": 1080}
    b.shot("bigscreen-1920-before")

    set_agent_state(node, "1002", "pause", "小休")  # 1001 takes the call
    set_agent_state(node, "1001", "ready")
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            call = citizen_call(node, speech, tmp_path, talk_ms=12000, caller=CALLER)
            # Waiting shows while the citizen hears the greeting and the queue rings.
            await ami.wait_for("QueueCallerJoin", 30, CallerIDNum=CALLER)
            await until(b, "a caller waiting", lambda: number(b, "waiting") >= 1, 5)
            await ami.wait_for("AgentConnect", 30, CallerIDNum=CALLER)
            await until(b, "answered +1", lambda: number(b, "answered") == before + 1, 5)
            await until(
                b,
                "agent 1001 on the call",
                lambda: b.css('.chip[data-agent="1001"]').get_attribute("data-state") == "on_call",
                5,
            )
            assert number(b, "waiting") == 0
            assert int(b.css("#agents-on_call b").text) >= 1
            assert int(b.css("#agents-paused b").text) >= 1
            b.shot("bigscreen-1920-on-call")

            # The agent registers the call's ticket: received +1, its category on the list.
            ticket = last_call(node, CALLER)["ticket_id"]
            api(
                node,
                f"/api/tickets/{ticket}",
                "PATCH",
                {"category": "供水", "description": "家里停水了", "register_ticket": True},
            )
            await until(b, "received +1", lambda: number(b, "received") == received + 1, 5)
            assert "供水" in b.text("categories")

            viewport(b, 1366, 768)
            await asyncio.sleep(0.3)
            assert overflow(b) == {"x": False, "y": False, "cut": [], "w": 1366, "h": 768}
            b.shot("bigscreen-1366-on-call")
            rc, out = await asyncio.to_thread(call.wait, 60)
            assert rc == 0, out
        await until(
            b,
            "agent 1001 off the call",
            lambda: b.css('.chip[data-agent="1001"]').get_attribute("data-state") != "on_call",
            15,
        )
        viewport(b, 1920, 1080)
        await asyncio.sleep(0.3)
        b.shot("bigscreen-1920-after")
        # Pushed, never reloaded: the page's own figures moved, and it holds the API's.
        board = api(node, "/api/bigscreen")
        assert board["calls"]["answered"] == number(b, "answered")
        errors = [
            e
            for e in b.console()
            if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")
        ]
        assert errors == [], errors
    finally:
        agent.stop()
        end_all_calls(node)
        set_agent_state(node, "1001", "ready")
        set_agent_state(node, "1002", "ready")
