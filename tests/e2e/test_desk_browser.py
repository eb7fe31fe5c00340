"""The agent desk in headless Chromium against a real node: the agent signs in, a citizen
dials 12345 over SIP, the pop shows the caller's number, the agent writes and registers the
ticket, and the row is in the database. Screenshots land beside the test's files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.bed import Node
from tests.e2e.browser import Browser
from tests.e2e.helpers import (
    citizen_call,
    end_all_calls,
    ensure_user,
    set_agent_state,
    start_agent,
)

pytestmark = pytest.mark.e2e

PASSWORD = "desk-e2e-password"


async def test_agent_takes_a_call_and_registers_the_ticket_on_the_desk(
    node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    caller = "13800000081"
    ensure_user(node, "li1001", PASSWORD, "agent", "1001")
    set_agent_state(node, "1002", "pause", "会议")  # the call goes to 1001
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        browser.open(node.api + "/desk")
        browser.type("username", "li1001")
        browser.type("password", PASSWORD)
        browser.click("login-button")
        browser.wait("the agent ready", lambda: browser.text("state") == "空闲", 10)
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 10)
        browser.shot("1-signed-in")

        call = citizen_call(node, speech, tmp_path, talk_ms=15000, caller=caller)
        browser.wait("the pop", lambda: browser.text("pop-caller") == caller, 40)
        assert browser.text("pop-dialled") == "12345"
        assert browser.text("state") == "通话中"
        ticket_id = int(browser.text("pop-ticket"))
        assert browser.untranslated() == []
        assert browser.text("call-back") == "回拨"
        browser.shot("2-screen-pop")

        browser.type("t-category", "城市管理")
        browser.type("t-address", "幸福路88号")
        browser.type("t-description", "小区路灯坏了一周，晚上看不见路")
        browser.el("t-urgency").send_keys("紧急")
        browser.click("t-consent")
        browser.click("register")
        browser.wait(
            "the ticket registered",
            lambda: browser.el("save-status").get_attribute("data-state") == "registered",
            10,
        )
        assert browser.text("save-status") == "已登记受理"
        browser.shot("3-ticket-registered")

        browser.click("lang")
        assert browser.text("register") == "Register" and browser.text("state") == "On call"
        browser.shot("4-english")

        rc, out = await asyncio.to_thread(call.wait, 60)
        assert rc == 0, out
    finally:
        agent.stop()
        end_all_calls(node)
        set_agent_state(node, "1002", "ready")

    db = Path(node.runtime["data_dir"]) / "hotline.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT state, caller, dialled, category, address, description, urgency,"
            " contact_consent, agent_id FROM tickets WHERE id = ?",
            (ticket_id,),
        ).fetchone()
        actors = conn.execute(
            "SELECT actor FROM ticket_transitions WHERE ticket_id = ? AND to_state = 'registered'",
            (ticket_id,),
        ).fetchall()
    assert row == (
        "registered",
        caller,
        "12345",
        "城市管理",
        "幸福路88号",
        "小区路灯坏了一周，晚上看不见路",
        "urgent",
        1,
        "1001",
    )
    assert actors == [("agent:1001",)]
    assert sorted(p.name for p in (tmp_path / "screenshots").glob("*.png")) == [
        "1-signed-in.png",
        "2-screen-pop.png",
        "3-ticket-registered.png",
        "4-english.png",
    ]
