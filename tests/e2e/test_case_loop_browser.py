"""The case loop (issue 11) through a real node and headless Chromium, one step per page:

a citizen calls 12345 over the carrier (SIPp) → agent 1001 (baresip) registers the ticket on
the desk with a category chosen from the catalogue → a dispatcher publishes it to the grab
pool on /dispatch → the lead department's handler claims (抢单 is also 签收: the reply clock
starts) and replies with a file on /portal → the satisfaction callback rings the citizen's
phone (baresip behind the carrier), who keys 1/2: the ticket closes. Each step is checked on
the API and the database row, and each page is photographed (the test's tmp dir,
screenshots/).

Then, on a second call's ticket: an assisting department that was offered it too clicks 抢单
after the lead department won and reads 已被其他单位抢单; the lead files a dispute, and on
/dispatch the dispatcher who approved it cannot confirm it (双人复核) — a second dispatcher
does, and the ticket is back in the dispatch queue."""

from __future__ import annotations

import sqlite3
import struct
import time
import urllib.error
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    user_token,
)
from tests.e2e.peers.ami_observer import AmiObserver

pytestmark = pytest.mark.e2e

PW = "case-loop-e2e-password"
CALLER = "13800000091"
CALLER2 = "13800000092"
CATEGORY = "供水"  # dispatch.example.toml: lead 'water' (自来水公司), assisting 'cgj'


@pytest.fixture(scope="module")
def loop_node(tmp_path_factory: pytest.TempPathFactory, peers: dict[str, Peer]) -> Iterator[Node]:
    """A node of its own (``hotline install`` copies the example dispatch catalogue), callbacks
    at once after a reply."""
    extra = campaign_settings(max_attempts=1, ring_seconds=20, max_channels=1)
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
            browser.wait("claimed", lambda: browser.text("action-status") == "抢单成功，已签收", 10)
            ticket = api(node, f"/api/tickets/{ticket_id}")
            assert ticket["claimed_at"] and ticket["department"] == lead
            assert ticket["state"] == "accepted" and ticket["reply_due_at"]  # 抢单即签收
            assert not browser.el("accept").is_displayed()
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


def registered_ticket(node: Node, speech: dict[str, Path], tmp: Path, caller: str) -> int:
    """A second citizen's call, answered by agent 1001, registered through the API (the desk
    was shown in the first test): the ticket's id."""
    agent = start_agent(node, "1001", speech, tmp)
    call = citizen_call(node, speech, tmp, talk_ms=4000, caller=caller)
    try:
        deadline = time.monotonic() + 40
        while not (
            ticket_id := next(
                (
                    c["ticket_id"]
                    for c in api(node, f"/api/calls?caller={caller}")
                    if c["ticket_id"]
                ),
                None,
            )
        ):
            assert time.monotonic() < deadline, f"no ticket for {caller}'s call"
            time.sleep(0.3)
    finally:
        call.stop()
        agent.stop()
        end_all_calls(node)
    body = {
        "category": CATEGORY,
        "address": "河东区东关街道新华小区5号楼",
        "description": "水压很低，高层用不上水",
        "contact_consent": True,
        "register_ticket": True,
    }
    assert api(node, f"/api/tickets/{ticket_id}", "PATCH", body)["state"] == "registered"
    return int(ticket_id)


def test_a_late_claim_reads_chinese_and_a_dispute_needs_two_reviewers(
    loop_node: Node, speech: dict[str, Path], tmp_path: Path, browser: Browser
) -> None:
    node = loop_node
    suggestion = api(node, f"/api/catalogue/suggest?category={urllib.parse.quote(CATEGORY)}")
    lead, other = suggestion["lead"], suggestion["assisting"][0]  # both offered in the pool
    ensure_user(node, "loop-dept", PW, "department", department=lead)
    ensure_user(node, "loop-dept2", PW, "department", department=other)
    ensure_user(node, "loop-pai", PW, "dispatcher")
    ensure_user(node, "loop-pai2", PW, "dispatcher")
    ensure_user(node, "loop-boss", PW, "supervisor")
    ticket_id = registered_ticket(node, speech, tmp_path, CALLER2)
    api(node, f"/api/tickets/{ticket_id}/dispatch", "POST", {"mode": "grab"})

    # 1. The assisting department opens the pool ticket; the lead claims it first.
    browser.sign_in(node.api + "/portal#pool", "loop-dept2", PW)
    row = f'#tickets tr[data-ticket="{ticket_id}"]'
    browser.wait(
        "the pool row", lambda: bool(browser.driver.find_elements("css selector", row)), 20
    )
    browser.css(row).click()
    browser.wait("抢单 offered", lambda: browser.el("claim").is_displayed(), 10)
    lead_token = user_token(node, "loop-dept", PW)
    won = api(node, f"/api/tickets/{ticket_id}/claim", "POST", token=lead_token)
    assert (won["department"], won["state"]) == (lead, "accepted")
    browser.click("claim")
    refused = "已被其他单位抢单"
    browser.wait(
        "the 409 in Chinese",
        lambda: refused in (browser.text("error"), browser.text("action-status")),
        10,
    )
    browser.shot("8-portal-already-claimed")
    assert api(node, f"/api/tickets/{ticket_id}")["department"] == lead
    sign_out(browser)

    # 2. The lead disputes it (not its remit); dispatcher 1 approves it on /dispatch …
    dispute = api(
        node,
        f"/api/tickets/{ticket_id}/disputes",
        "POST",
        {"reason": "属供水管网改造工程，非本单位职责"},
        token=lead_token,
    )
    assert api(node, f"/api/tickets/{ticket_id}")["state"] == "disputed"
    # … which the supervisor's wallboard counts under 督办 (待审异议) …
    browser.sign_in(node.api + "/desk?next=/wallboard", "loop-boss", PW)
    pending = '#casework td[data-k="disputes_pending"]'
    browser.wait(
        "待审异议 1 on the wallboard",
        lambda: [c.text for c in browser.driver.find_elements("css selector", pending)] == ["1"],
        20,
    )
    browser.shot("9-wallboard-casework")
    browser.driver.execute_script("sessionStorage.clear()")  # the wallboard has no sign-out
    browser.sign_in(node.api + "/dispatch", "loop-pai", PW)
    drow = f'#disputes tr[data-dispute="{dispute["id"]}"]'
    browser.wait(
        "the dispute row", lambda: bool(browser.driver.find_elements("css selector", drow)), 20
    )
    browser.css(drow + ' button[data-action="approve"]').click()
    browser.wait("approved", lambda: browser.text("status") == "已审核", 10)
    assert api(node, f"/api/tickets/{ticket_id}")["disputes"][0]["status"] == "approved"
    # … and may not confirm it: the button is off, the row says why, the API refuses too.
    browser.wait(
        "待另一位审核人复核",
        lambda: "待另一位审核人复核" in browser.css(drow).text,
        10,
    )
    assert not browser.css(drow + ' button[data-action="confirm"]').is_enabled()
    assert browser.untranslated() == []
    browser.shot("9-dispatch-approved-by-me")
    try:
        api(
            node,
            f"/api/disputes/{dispute['id']}/confirm",
            "POST",
            {},
            token=user_token(node, "loop-pai", PW),
        )
        raise AssertionError("the approving dispatcher confirmed the dispute")
    except urllib.error.HTTPError as exc:
        assert exc.code == 409 and "different reviewer" in exc.msg
    assert api(node, f"/api/tickets/{ticket_id}")["state"] == "disputed"
    sign_out(browser)

    # 3. A second dispatcher confirms (复核): the ticket is back in the dispatch queue.
    browser.sign_in(node.api + "/dispatch", "loop-pai2", PW)
    browser.wait(
        "the dispute row", lambda: bool(browser.driver.find_elements("css selector", drow)), 20
    )
    browser.css(drow + ' button[data-action="confirm"]').click()
    browser.wait("confirmed", lambda: browser.text("status") == "已复核", 10)
    browser.wait("back in the queue", lambda: browser.present(f"lead-{ticket_id}"), 15)
    browser.shot("10-dispatch-confirmed")
    ticket = api(node, f"/api/tickets/{ticket_id}")
    assert (ticket["state"], ticket["department"]) == ("registered", None)
    (d,) = ticket["disputes"]
    assert (d["status"], d["reviewed_by"], d["confirmed_by"]) == (
        "confirmed",
        "dispatcher:loop-pai",
        "dispatcher:loop-pai2",
    )
    assert db_row(node, ticket_id)[0] == "registered"
