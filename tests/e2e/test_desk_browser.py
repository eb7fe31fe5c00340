"""The agent desk in headless Chromium against a real node: the agent signs in, a citizen
dials 12345 over SIP, the pop shows the caller's number, the agent writes and registers the
ticket, and the row is in the database. Screenshots land beside the test's files."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.bed import Node
from tests.e2e.browser import Browser
from tests.e2e.conftest import Peer
from tests.e2e.helpers import (
    api,
    citizen_call,
    end_all_calls,
    ensure_user,
    set_agent_state,
    start_agent,
)
from tests.e2e.peers.sipp import SippAnswerer

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
        browser.sign_in(node.api + "/desk", "li1001", PASSWORD)
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


async def test_the_desk_suggests_an_article_and_answers_and_closes_with_it(
    node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    """While the agent types the citizen's request the knowledge base's best article appears
    beside it (debounced search); 答复并办结 registers the ticket with the article's category
    and answers it directly (直接答复), citing the article and its version; the article's use
    count goes up."""
    caller = "13800000083"
    ensure_user(node, "li1001", PASSWORD, "agent", "1001")
    department = api(node, "/api/departments")[0]["code"]
    article = api(
        node,
        "/api/kb/articles",
        "POST",
        {
            "question": "路灯坏了怎么报修",
            "answer": "路灯故障由市政部门负责维修，一般三个工作日内修复。",
            "category": "城市管理",
            "department": department,
        },
    )
    article = api(node, f"/api/kb/articles/{article['id']}", "PUT",
                  {**{k: article[k] for k in ("question", "category", "department")},
                   "answer": "路灯故障由市政部门负责维修，两个工作日内修复。"})  # fmt: skip
    assert article["version"] == 2
    set_agent_state(node, "1002", "pause", "会议")
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        browser.sign_in(node.api + "/desk", "li1001", PASSWORD)
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 10)
        call = citizen_call(node, speech, tmp_path, talk_ms=20000, caller=caller)
        browser.wait("the pop", lambda: browser.text("pop-caller") == caller, 40)
        ticket_id = int(browser.text("pop-ticket"))
        browser.type("t-description", "小区路灯坏了一周，晚上看不见路，怎么报修")
        hit = f'.kb-hit[data-article="{article["id"]}"]'
        browser.wait(
            "the suggestion", lambda: bool(browser.driver.find_elements("css selector", hit)), 10
        )
        assert "路灯坏了怎么报修" in browser.css(hit).text and "版2" in browser.css(hit).text
        assert browser.untranslated() == []
        browser.shot("kb-1-suggested")
        browser.css(f"{hit} .kb-answer").click()
        browser.wait(
            "the direct answer",
            lambda: browser.el("save-status").get_attribute("data-state") == "answered",
            10,
        )
        assert browser.text("save-status") == f"已直接答复，引用知识库文章 #{article['id']} 版2"
        browser.shot("kb-2-answered")
        call.stop()
    finally:
        agent.stop()
        end_all_calls(node)
        set_agent_state(node, "1002", "ready")

    ticket = api(node, f"/api/tickets/{ticket_id}")
    assert ticket["state"] == "answered" and ticket["category"] == "城市管理"
    cited = ticket["direct_answer"]
    assert (cited["article_id"], cited["version"], cited["actor"]) == (
        article["id"],
        2,
        "agent:1001",
    )
    assert api(node, f"/api/kb/articles/{article['id']}")["use_count"] == 1


def test_a_department_keeps_its_articles_on_the_kb_page(node: Node, browser: Browser) -> None:
    """The 知识库 page for a department handler: it offers only the handler's own
    departments, a new article lands in the list, an edit is version 2 with both versions in
    the history, and the page's search finds the article by words of its answer."""
    departments = api(node, "/api/departments")
    own = departments[0]["code"]
    ensure_user(node, "kb-dept", PASSWORD, "department", department=own)
    browser.sign_in(node.api + "/kb", "kb-dept", PASSWORD)
    browser.wait("the article list", lambda: browser.el("kb-view").is_displayed(), 10)
    browser.click("new")
    offered = [
        o.get_attribute("value")
        for o in browser.el("f-department").find_elements("css selector", "option")
    ]
    assert offered and all(c == own or c.startswith(own + ".") for c in offered)
    assert len(offered) < len(departments)
    browser.type("f-question", "井盖丢失找哪个部门")
    browser.type("f-answer", "道路井盖缺失请拨打12345，由权属单位二十四小时内补装。")
    browser.type("f-category", "市政设施")
    browser.click("save")
    browser.wait("saved", lambda: browser.text("status") == "已保存，版本 1", 10)
    article_id = int(browser.text("editor-title").rsplit("#", 1)[1])
    row = f'#articles tr[data-article="{article_id}"]'
    browser.wait("the new row", lambda: bool(browser.driver.find_elements("css selector", row)), 10)
    browser.type("f-answer", "道路井盖缺失请拨打12345，由权属单位十二小时内补装。")
    browser.click("save")
    browser.wait("version 2", lambda: browser.text("status") == "已保存，版本 2", 10)
    history = browser.text("versions")
    assert "版本 2" in history and "版本 1" in history and "十二小时" in history
    assert "二十四小时" in history  # the first version stays readable
    browser.type("q", "井盖 补装")
    browser.wait(
        "the search hit",
        lambda: (
            [
                r.get_attribute("data-article")
                for r in browser.driver.find_elements("css selector", "#articles tbody tr")
            ]
            == [str(article_id)]
        ),
        10,
    )
    assert "2" in browser.css(row).text.split()
    assert browser.untranslated() == []
    browser.shot("kb-page")
    stored = api(node, f"/api/kb/articles/{article_id}")
    assert (stored["version"], stored["department"]) == (2, own)
    browser.click("signout")


CENTRE_RINGS_S = 6


async def test_complete_transfer_waits_until_the_centre_answers(
    node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser, peers: dict[str, Peer]
) -> None:
    """The agent consults 119, which rings for a while: 完成转接 stays disabled while it rings
    (completing then would leave the citizen with a ringing line) and becomes enabled once
    119 answers (the ``transfer`` frame on the agent's socket); completing hands over."""
    caller = "13800000082"
    ensure_user(node, "li1001", PASSWORD, "agent", "1001")
    set_agent_state(node, "1002", "pause", "会议")
    p = peers["119"]
    centre = SippAnswerer(
        tmp_path / "centre-119", "119", p.host, p.port, ring_ms=CENTRE_RINGS_S * 1000
    ).start()
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        browser.sign_in(node.api + "/desk", "li1001", PASSWORD)
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 10)
        call = citizen_call(node, speech, tmp_path, talk_ms=40000, caller=caller)
        browser.wait("the pop", lambda: browser.text("pop-caller") == caller, 40)
        browser.type("transfer-target", "119")
        browser.click("consult")
        browser.wait("the consult", lambda: browser.text("call-status") == "正在咨询…", 10)
        rang = time.monotonic()
        assert browser.el("cancel-transfer").is_enabled()
        while time.monotonic() - rang < CENTRE_RINGS_S - 2:  # 119 still rings
            assert not browser.el("complete-transfer").is_enabled()
            await asyncio.sleep(0.2)
        browser.shot("transfer-1-ringing")
        browser.wait("完成转接 enabled", lambda: browser.el("complete-transfer").is_enabled(), 15)
        assert time.monotonic() - rang >= CENTRE_RINGS_S - 1
        assert browser.text("call-status") == "119 已接听，可完成转接"
        browser.shot("transfer-2-answered")
        browser.click("complete-transfer")
        browser.wait(
            "the transfer",
            lambda: browser.text("call-status") in ("已转接", "通话已结束"),
            15,
        )
        (record,) = _calls(node, caller)
        ticket = api(node, f"/api/tickets/{record['ticket_id']}")
        assert [(t["target"], t["mode"], t["outcome"]) for t in ticket["transfers"]] == [
            ("119", "attended", "completed")
        ]
        assert call.proc is not None and call.proc.poll() is None, "the citizen talks to 119"
        call.stop()
    finally:
        centre.stop()
        agent.stop()
        end_all_calls(node)
        set_agent_state(node, "1002", "ready")


def _calls(node: Node, caller: str) -> list[dict[str, object]]:
    return list(api(node, f"/api/calls?caller={caller}"))
