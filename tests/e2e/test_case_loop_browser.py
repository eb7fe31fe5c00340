"""The case loop (issue 11) through a real node and headless Chromium, one step per page:

a citizen calls 12345 over the carrier (SIPp) → agent 1001 (baresip) registers the ticket on
the desk with a category chosen from the catalogue → a dispatcher publishes it to the grab
pool on /dispatch → the lead department's handler claims, accepts and replies with a file on
/portal → the satisfaction callback rings the citizen's phone (baresip behind the carrier),
who keys 1/2: the ticket closes. Each step is checked on the API and the database row, and
each page is photographed (the test's tmp dir, screenshots/)."""

from __future__ import annotations

import sqlite3
import struct
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.bed import Node, start_node, stop_node
from tests.e2e.browser import Browser
from tests.e2e.conftest import Peer, plan_for_tests
from tests.e2e.helpers import (
    api,
    campaign_settings,
    citizen_call,
    citizen_phone,
    end_all_calls,
    ensure_user,
    key_at,
    start_agent,
    ticket_when,
)
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e

PW = "case-loop-e2e-password"
CALLER = "13800000091"
CATEGORY = "供水"  # dispatch.example.toml: lead 'water' (自来水公司), assisting 'cgj'


@pytest.fixture(scope="module")
def loop_node(tmp_path_factory: pytest.TempPathFactory, peers: dict[str, Peer]) -> Iterator[Node]:
    """A node of its own: the example dispatch catalogue, callbacks at once after a reply."""
    extra = f"""
[casework]
catalogue = "{REPO / "dispatch.example.toml"}"
{campaign_settings(max_attempts=1, ring_seconds=20, max_channels=1)}"""
    n = start_node(
        tmp_path_factory.mktemp("loopnode"),
        "loop",
        ["1001"],
        plan=plan_for_tests(peers),
        extra=extra,
    )
    try:
        yield n
    finally:
        stop_node(n)


def png(path: Path) -> Path:
    """A real 1×1 PNG (the API checks a file's content, not its name): the handler's photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def db_row(node: Node, ticket_id: int) -> tuple[Any, ...]:
    with sqlite3.connect(Path(node.runtime["data_dir"]) / "hotline.db") as conn:
        row = conn.execute(
            "SELECT state, category, dispatch_mode, department FROM tickets WHERE id = ?",
            (ticket_id,),
        ).fetchone()
    return tuple(row)


def sign_out(browser: Browser) -> None:
    browser.click("signout")
    browser.wait("signed out", lambda: browser.el("login-view").is_displayed(), 10)


def row_button(browser: Browser, table: str, ticket_id: int, action: str) -> Any:
    return browser.css(f'#{table} tr[data-ticket="{ticket_id}"] button[data-action="{action}"]')


async def test_a_call_goes_round_the_loop_desk_dispatch_portal_callback(
    loop_node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    node = loop_node
    suggestion = api(node, f"/api/catalogue/suggest?category={urllib.parse.quote(CATEGORY)}")
    lead = suggestion["lead"]
    assert lead, f"the example catalogue has no lead for {CATEGORY}"
    ensure_user(node, "loop1001", PW, "agent", "1001")
    ensure_user(node, "loop-pai", PW, "dispatcher")
    ensure_user(node, "loop-dept", PW, "department", department=lead)

    # 1. The citizen calls; the agent registers the ticket on the desk.
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        browser.sign_in(node.api + "/desk", "loop1001", PW)
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 15)
        call = citizen_call(node, speech, tmp_path, talk_ms=20000, caller=CALLER)
        browser.wait("the pop", lambda: browser.text("pop-caller") == CALLER, 40)
        ticket_id = int(browser.text("pop-ticket"))
        categories = [c["category"] for c in api(node, "/api/catalogue/categories")]
        offered = browser.driver.execute_script(
            "return [...document.querySelectorAll('#categories option')].map(o => o.value)"
        )
        assert offered == categories and CATEGORY in offered
        browser.type("t-category", "自来水不知道归谁管")  # not in the catalogue: refused
        browser.click("register")
        browser.wait("the refusal", lambda: browser.text("save-status") == "请从目录中选择类别", 5)
        assert api(node, f"/api/tickets/{ticket_id}")["state"] == "draft"
        browser.type("t-category", CATEGORY)
        browser.type("t-address", "河东区东关街道新华小区3号楼")
        browser.type("t-description", "小区停水两天，没有任何通知")
        browser.click("t-consent")
        browser.click("register")
        browser.wait(
            "registered",
            lambda: browser.el("save-status").get_attribute("data-state") == "registered",
            10,
        )
        browser.shot("1-desk-registered")
        assert db_row(node, ticket_id)[:2] == ("registered", CATEGORY)
        call.stop()
    finally:
        agent.stop()
        end_all_calls(node)
    sign_out(browser)

    # 2. The dispatcher publishes it to the grab pool, the suggestion pre-selected.
    browser.sign_in(node.api + "/dispatch", "loop-pai", PW)
    browser.wait("the queue row", lambda: browser.present(f"lead-{ticket_id}"), 20)
    assert browser.el(f"lead-{ticket_id}").get_attribute("value") == lead
    chosen = browser.driver.execute_script(
        f"return [...document.getElementById('assisting-{ticket_id}').selectedOptions]"
        ".map(o => o.value)"
    )
    assert chosen == suggestion["assisting"]
    assert browser.untranslated() == []
    browser.shot("2-dispatch-queue")
    row_button(browser, "queue", ticket_id, "grab").click()
    browser.wait("published", lambda: browser.text("status") == "已发布到抢单池", 10)
    browser.shot("3-dispatch-published")
    ticket = api(node, f"/api/tickets/{ticket_id}")
    assert (ticket["state"], ticket["dispatch_mode"]) == ("dispatched", "grab")
    assert ticket["grab_until"] and ticket["claimed_at"] is None
    assert db_row(node, ticket_id)[:3] == ("dispatched", CATEGORY, "grab")
    sign_out(browser)

    # 3. The lead department claims, accepts and replies with a photo on the portal; the
    #    citizen's phone is ready for the satisfaction callback that the reply schedules.
    citizen = citizen_phone(node, speech, tmp_path, CALLER)
    try:
        async with AmiObserver(*node.ami_login()) as ami:
            browser.sign_in(node.api + "/portal", "loop-dept", PW)
            browser.wait("the tabs", lambda: browser.el("tab-pool").is_displayed(), 10)
            browser.click("tab-pool")
            row = f'#tickets tr[data-ticket="{ticket_id}"]'
            browser.wait(
                "the pool row", lambda: bool(browser.driver.find_elements("css selector", row)), 20
            )
            assert browser.css(row + " .time-left").text not in ("", "—")
            browser.shot("4-portal-pool")
            browser.css(row).click()
            browser.wait("the detail", lambda: browser.el("claim").is_displayed(), 10)
            assert "小区停水两天" in browser.text("d-request")
            browser.click("claim")
            browser.wait("claimed", lambda: browser.text("action-status") == "抢单成功", 10)
            ticket = api(node, f"/api/tickets/{ticket_id}")
            assert ticket["claimed_at"] and ticket["department"] == lead
            browser.wait("签收 offered", lambda: browser.el("accept").is_displayed(), 10)
            browser.click("accept")
            browser.wait("accepted", lambda: browser.text("action-status") == "已签收", 10)
            assert api(node, f"/api/tickets/{ticket_id}")["state"] == "accepted"
            browser.wait("the reply form", lambda: browser.el("reply-text").is_displayed(), 10)
            browser.type("reply-text", "已抢修管网，今日18时恢复供水")
            browser.el("reply-files").send_keys(str(png(tmp_path / "repair.png")))
            browser.shot("5-portal-reply")
            browser.click("reply")
            browser.wait("replied", lambda: browser.text("action-status") == "已答复", 20)
            ticket = api(node, f"/api/tickets/{ticket_id}")
            assert ticket["state"] in ("replied", "callback")
            assert [r["text"] for r in ticket["replies"]] == ["已抢修管网，今日18时恢复供水"]
            assert [(a["filename"], a["content_type"]) for a in ticket["attachments"]] == [
                ("repair.png", "image/png")
            ]
            browser.wait("the history", lambda: "repair.png" in browser.text("d-history"), 15)
            assert browser.untranslated() == []
            browser.shot("6-portal-replied")

            # 4. The callback: satisfied with the service (1), basically with the outcome (2).
            await key_at(ami, citizen, "service", "1")
            await key_at(ami, citizen, "outcome", "2")
            ticket = await ticket_when(node, ticket_id, lambda t: t["state"] == "closed", 30)
    finally:
        citizen.stop()
        end_all_calls(node)
    assert ticket["state"] == "closed"
    (callback,) = ticket["callbacks"]
    assert (callback["status"], callback["service_rating"], callback["outcome_rating"]) == (
        "done",
        1,
        2,
    )
    assert db_row(node, ticket_id) == ("closed", CATEGORY, "grab", lead)
    browser.click("tab-done")
    browser.wait(
        "the closed ticket under 已办结",
        lambda: bool(
            browser.driver.find_elements("css selector", f'#tickets tr[data-ticket="{ticket_id}"]')
        ),
        15,
    )
    browser.shot("7-portal-done")
    shots = sorted(p.name for p in (tmp_path / "screenshots").glob("*.png"))
    assert shots[:7] == [
        "1-desk-registered.png",
        "2-dispatch-queue.png",
        "3-dispatch-published.png",
        "4-portal-pool.png",
        "5-portal-reply.png",
        "6-portal-replied.png",
        "7-portal-done.png",
    ]
