"""Intake (issue 12) through a real node, with headless Chromium at a phone's viewport
(375×667):

a citizen fills in the web form on /form with a photo → gets a ticket number and a query
code → the provincial platform imports a batch (one good row, one bad) through the signed
API → a dispatcher dispatches both tickets and the department signs for them and replies,
through the API → the channels' webhook receiver (a real HTTP server on 127.0.0.1 in this
test) gets each state change, signed, and the test checks every signature → /track shows the
citizen the progress with the department's name.

Then, with the web channel's receiver down: a citizen switches /form to English and asks for
保密件 → the English /track shows the progress → the dispatcher's queue and the department's
portal show the 保密 badge → a supervisor's /outbox lists the failed delivery and 重试 sends
it once the receiver is back.

Then 并单 on the same node: a citizen calls 12345 and agent 1001 (baresip) registers the
ticket on the desk → the same citizen sends the web form and the provincial platform imports
another citizen's report of the same matter → on /dispatch the web request's row lists the
phone ticket as a likely duplicate and the dispatcher clicks 并单 (the import is merged through
the API) → the department replies to the phone ticket → the webhook receiver gets, signed,
each merged ticket's push-back saying it was merged and that its master was replied.
Screenshots in the test's tmp dir."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import Select

from tests.e2e.bed import Node, free_port, start_node, stop_node
from tests.e2e.browser import Browser
from tests.e2e.helpers import (
    api,
    citizen_call,
    end_all_calls,
    ensure_user,
    start_agent,
    user_token,
)
from tests.e2e.test_case_loop_browser import png, sign_out

pytestmark = pytest.mark.e2e

PW = "intake-e2e-password"
WEB_SECRET = "web-channel-secret-e2e-0123456789ab"
PROVINCE_SECRET = "province-secret-e2e-0123456789abcd"
HOOK_SECRET = "hook-secret-e2e-0123456789abcdefgh"
CATEGORY = "供水"
PHONE = (375, 667)


class Receiver:
    """The channels' webhook endpoint: a real HTTP server that keeps what it was sent."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.failing: set[str] = set()  # paths answered 503 (a receiver that is down)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path in outer.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.got.append((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def states(self, path: str) -> list[str]:
        return [json.loads(body)["state"] for p, _, body in self.got if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def intake_node(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Node]:
    extra = f"""
[intake]
outbox_tick_seconds = 0.5
outbox_backoff_seconds = 600  # a failed delivery waits: the test's 重试 button sends it

[[intake.channels]]
name = "web"
kind = "web"
secret = "{WEB_SECRET}"
webhook_url = "{receiver.url}/web"
webhook_secret = "{HOOK_SECRET}"

[[intake.channels]]
name = "province"
kind = "province"
secret = "{PROVINCE_SECRET}"
webhook_url = "{receiver.url}/province"
webhook_secret = "{HOOK_SECRET}"
"""
    n = start_node(tmp_path_factory.mktemp("intakenode"), "intake", ["1001"], extra=extra)
    try:
        yield n
    finally:
        stop_node(n)


def signed_post(node: Node, path: str, body: Any) -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(PROVINCE_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256)
    req = urllib.request.Request(
        node.api + path,
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": "sha256=" + mac.hexdigest(),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def phone_view(browser: Browser) -> None:
    width, height = PHONE
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
    )


def fits(browser: Browser) -> bool:
    """Nothing wider than the phone (no sideways scrolling)."""
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    return int(width) <= PHONE[0]


def fill_form(browser: Browser, description: str, phone: str) -> None:
    """The form's category (once the catalogue's are loaded), description and phone."""
    browser.wait(
        "the categories",
        lambda: len(browser.driver.find_elements("css selector", "#category option")) > 1,
        10,
    )
    Select(browser.el("category")).select_by_value(CATEGORY)
    browser.type("description", description)
    browser.type("phone", phone)


def wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.2)


def signature_ok(headers: dict[str, str], body: bytes) -> bool:
    stamp = headers["X-Hotline-Timestamp"]
    mac = hmac.new(HOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return headers["X-Hotline-Signature"] == "sha256=" + mac.hexdigest()


def handled(
    node: Node, ticket: Any, lead: str, dispatcher: str, department: str, reply: str
) -> None:
    """Dispatched to ``lead``, signed for and replied, through the API as the pages do it."""
    body = {"mode": "direct", "lead": lead}
    api(node, f"/api/tickets/{ticket}/dispatch", "POST", body, token=dispatcher)
    api(node, f"/api/tickets/{ticket}/accept", "POST", {}, token=department)
    api(node, f"/api/tickets/{ticket}/reply", "POST", {"text": reply}, token=department)


def test_form_import_dispatch_reply_push_back_and_tracking_on_a_phone(
    intake_node: Node, receiver: Receiver, browser: Browser, tmp_path: Path
) -> None:
    node = intake_node
    lead = api(node, f"/api/catalogue/suggest?category={urllib.parse.quote(CATEGORY)}")["lead"]
    names = {d["code"]: d["name"] for d in api(node, "/api/departments")}
    ensure_user(node, "in-pai", PW, "dispatcher")
    ensure_user(node, "in-dept", PW, "department", department=lead)
    dispatcher = user_token(node, "in-pai", PW)
    department = user_token(node, "in-dept", PW)

    # 1. The citizen's web form, on a phone.
    phone_view(browser)
    browser.open(node.api + "/form")
    fill_form(browser, "小区停水两天，没有任何通知", "13800000061")
    browser.type("address", "河东区东关街道新华小区3号楼")
    browser.el("files").send_keys(str(png(tmp_path / "停水通知.png")))
    browser.click("consent")
    assert fits(browser)
    browser.shot("form-filled")
    browser.click("submit")
    browser.wait("the ticket number", lambda: browser.el("result").is_displayed(), 15)
    browser.shot("form-done")
    number = browser.text("ticket-number")
    code = browser.text("query-code")
    assert number.isdigit() and len(code) == 10
    web_ticket = api(node, f"/api/tickets/{number}")
    assert (web_ticket["state"], web_ticket["source"]) == ("registered", "web:web")
    assert web_ticket["caller"] == "13800000061" and web_ticket["attachments"][0]["size"] > 0
    assert web_ticket["first_reply_due_at"] is not None

    # 2. The provincial platform's batch: one good row, one bad; signed.
    report = signed_post(
        node,
        "/api/intake/province/import",
        {
            "records": [
                {"external_id": "SJ-2026-001", "category": CATEGORY, "description": "水压不足"},
                {"external_id": "SJ-2026-002", "category": CATEGORY},
            ]
        },
    )
    assert (report["created"], report["rejected"]) == (1, 1)
    province_number = report["rows"][0]["ticket_number"]

    # 3. Dispatched, signed for and replied (the API, as the pages do it).
    for ticket in (number, province_number):
        handled(node, ticket, lead, dispatcher, department, "已恢复供水")
    done = api(node, f"/api/tickets/{number}")
    assert done["state"] == "replied" and done["first_reply_status"] == "met"

    # 4. The push-back, signed, in order, for both channels.
    expected = ["registered", "dispatched", "accepted", "replied"]
    wait_for(
        "the push-back",
        lambda: receiver.states("/province") == expected and receiver.states("/web") == expected,
        30,
    )
    for _, headers, body in receiver.got:
        assert signature_ok(headers, body)
    last = json.loads(receiver.got[-1][2])
    assert last["department_name"] == names[lead]
    province = [json.loads(b) for p, _, b in receiver.got if p == "/province"]
    assert {p["external_id"] for p in province} == {"SJ-2026-001"}
    outbox = api(node, "/api/intake/outbox?status=sent")
    assert len(outbox) == 8

    # 5. 办件查询 on the phone: the progress with the department's name, nothing internal.
    browser.open(node.api + "/track")
    browser.type("ticket-number", number)
    browser.type("query-code", "WRONGCODE9")
    browser.click("track")
    browser.wait("the refusal", lambda: "未找到该工单" in browser.text("track-error"), 10)
    browser.shot("track-wrong")
    browser.type("query-code", code)
    browser.click("track")
    browser.wait("the progress", lambda: browser.el("progress").is_displayed(), 10)
    steps = browser.driver.execute_script(
        "return [...document.querySelectorAll('#p-steps li')].map(li => li.dataset.step)"
    )
    assert steps == expected
    page = browser.text("progress")
    assert names[lead] in page and "承办单位已答复" in page
    assert "13800000061" not in page and "已恢复供水" not in page
    assert fits(browser)
    browser.shot("track-progress")


def test_confidential_form_in_english_badges_and_outbox_retry(
    intake_node: Node, receiver: Receiver, browser: Browser
) -> None:
    node = intake_node
    lead = api(node, f"/api/catalogue/suggest?category={urllib.parse.quote(CATEGORY)}")["lead"]
    ensure_user(node, "in-pai", PW, "dispatcher")
    ensure_user(node, "in-dept", PW, "department", department=lead)
    ensure_user(node, "in-boss", PW, "supervisor")
    receiver.failing.add("/web")

    # 1. The form in English, 保密件 asked for.
    phone_view(browser)
    browser.open(node.api + "/form")
    assert browser.text("submit") == "提交诉求"
    browser.click("lang")
    assert browser.text("submit") == "Submit" and browser.text("lang") == "中文"
    assert browser.driver.execute_script("return document.documentElement.lang") == "en"
    assert browser.untranslated() == []
    fill_form(browser, "举报小区物业私自停水", "13800000062")
    browser.click("confidential")
    assert fits(browser)
    browser.shot("form-english-confidential")
    browser.click("submit")
    browser.wait("the ticket number", lambda: browser.el("result").is_displayed(), 15)
    assert browser.text("confidential-note") == "Accepted as confidential."
    number, code = browser.text("ticket-number"), browser.text("query-code")
    assert api(node, f"/api/tickets/{number}")["confidential"] is True

    # 2. /track keeps the language; back to 中文 on the button.
    browser.open(node.api + "/track")
    assert browser.text("track") == "Look up"
    browser.type("ticket-number", number)
    browser.type("query-code", code)
    browser.click("track")
    browser.wait("the progress", lambda: browser.el("progress").is_displayed(), 10)
    assert browser.text("p-status") == "Accepted"
    browser.shot("track-english")
    browser.click("lang")
    assert browser.text("p-status") == "已受理" and browser.text("track") == "查询"

    # 3. The 保密 badge in the dispatcher's queue …
    browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.sign_in(node.api + "/dispatch", "in-pai", PW)
    row = f'#queue tr[data-ticket="{number}"]'
    browser.wait(
        "the queue row", lambda: bool(browser.driver.find_elements("css selector", row)), 15
    )
    assert "保密" in browser.css(f"{row} .badge.confidential").text
    browser.shot("dispatch-confidential")
    sign_out(browser)

    # 4. … the failed push-back retried from the outbox once the receiver is back …
    outbox = "/api/intake/outbox?status=retrying&limit=50"
    wait_for(
        "the failed delivery",
        lambda: any(str(r["ticket_id"]) == number for r in api(node, outbox)),
        15,
    )
    delivery = next(r for r in api(node, outbox) if str(r["ticket_id"]) == number)
    receiver.failing.clear()
    browser.sign_in(node.api + "/outbox", "in-boss", PW)
    line = f'#outbox tr[data-delivery="{delivery["id"]}"]'
    browser.wait(
        "the outbox row", lambda: bool(browser.driver.find_elements("css selector", line)), 15
    )
    assert browser.css(line).get_attribute("data-status") == "retrying"
    assert "HTTP 503" in browser.css(line).text
    assert browser.untranslated() == []
    browser.shot("outbox-retrying")
    browser.css(f"{line} button[data-action=retry]").click()
    wait_for("the retried delivery", lambda: receiver.states("/web")[-1:] == ["registered"], 15)

    def sent() -> bool:
        browser.click("refresh")
        time.sleep(0.3)
        found = browser.driver.find_elements("css selector", line)
        return bool(found) and found[0].get_attribute("data-status") == "sent"

    browser.wait("the row marked sent", sent, 15)
    browser.shot("outbox-sent")
    sign_out(browser)

    # 5. … and in the department's portal once dispatched.
    dispatcher = user_token(node, "in-pai", PW)
    api(node, f"/api/tickets/{number}/dispatch", "POST", {"mode": "direct", "lead": lead},
        token=dispatcher)  # fmt: skip
    browser.sign_in(node.api + "/portal", "in-dept", PW)
    mine = f'#tickets tr[data-ticket="{number}"]'
    browser.wait(
        "the portal row", lambda: bool(browser.driver.find_elements("css selector", mine)), 15
    )
    assert "保密" in browser.css(f"{mine} .badge.confidential").text
    assert "13800000062" not in browser.text("tickets")
    browser.shot("portal-confidential")


def form_post(node: Node, fields: dict[str, str]) -> Any:
    """The web form's request as the page sends it (no account, no signature)."""
    req = urllib.request.Request(
        node.api + "/api/public/requests",
        data=urllib.parse.urlencode(fields).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_form_and_import_merged_into_a_phone_ticket_are_told_its_reply(
    intake_node: Node,
    receiver: Receiver,
    speech: dict[str, Path],
    browser: Browser,
    tmp_path: Path,
) -> None:
    node = intake_node
    caller = "13800000062"
    lead = api(node, f"/api/catalogue/suggest?category={urllib.parse.quote(CATEGORY)}")["lead"]
    ensure_user(node, "in1001", PW, "agent", "1001")
    ensure_user(node, "in-pai", PW, "dispatcher")
    ensure_user(node, "in-dept", PW, "department", department=lead)
    department = user_token(node, "in-dept", PW)

    # 1. The citizen calls; agent 1001 registers the phone ticket on the desk.
    agent = start_agent(node, "1001", speech, tmp_path)
    try:
        browser.sign_in(node.api + "/desk", "in1001", PW)
        browser.wait("the socket up", lambda: browser.text("link") == "已连接", 15)
        call = citizen_call(node, speech, tmp_path, talk_ms=20000, caller=caller)
        browser.wait("the pop", lambda: browser.text("pop-caller") == caller, 40)
        phone_ticket = int(browser.text("pop-ticket"))
        browser.type("t-category", CATEGORY)
        browser.type("t-address", "河东区东关街道新华小区5号楼")
        browser.type("t-description", "新华小区5号楼从昨天开始停水，没有任何通知")
        browser.click("register")
        browser.wait(
            "registered",
            lambda: browser.el("save-status").get_attribute("data-state") == "registered",
            10,
        )
        browser.shot("dup-1-desk-registered")
        call.stop()
    finally:
        agent.stop()
        end_all_calls(node)
    sign_out(browser)

    # 2. The same citizen's web form; another citizen's report through the province.
    web = form_post(
        node,
        {
            "category": CATEGORY,
            "description": "新华小区五号楼停水一天多了，物业也不通知",
            "address": "新华小区5号楼",
            "phone": caller,
            "contact_consent": "true",
        },
    )
    web_ticket = int(web["ticket_number"])
    report = signed_post(
        node,
        "/api/intake/province/import",
        {
            "records": [
                {
                    "external_id": "SJ-2026-101",
                    "category": CATEGORY,
                    "description": "东关街道新华小区5号楼停水，居民生活受影响",
                    "address": "河东区新华小区5号楼",
                    "phone": "13900000062",
                }
            ]
        },
    )
    province_ticket = int(report["rows"][0]["ticket_number"])

    # 3. /dispatch: the web request's row suggests the phone ticket; 并单.
    browser.sign_in(node.api + "/dispatch", "in-pai", PW)
    merge = (
        f'#queue tr[data-ticket="{web_ticket}"] li.duplicate[data-ticket="{phone_ticket}"] '
        'button[data-action="merge"]'
    )
    browser.wait(
        "the suggestion",
        lambda: bool(browser.driver.find_elements("css selector", merge)),
        20,
    )
    assert "同一来电人" in browser.css(f'#queue tr[data-ticket="{web_ticket}"] .dups').text
    browser.shot("dup-2-dispatch-suggestion")
    browser.css(merge).click()
    browser.wait("merged", lambda: browser.text("status") == f"已并入工单 {phone_ticket}", 10)
    browser.shot("dup-3-dispatch-merged")
    dispatcher = user_token(node, "in-pai", PW)
    suggested = api(node, f"/api/tickets/{province_ticket}/duplicates", token=dispatcher)
    assert phone_ticket in [s["ticket_id"] for s in suggested]
    api(
        node,
        f"/api/tickets/{province_ticket}/merge",
        "POST",
        {"master_id": phone_ticket},
        token=dispatcher,
    )
    master = api(node, f"/api/tickets/{phone_ticket}")
    assert sorted(master["merged_tickets"]) == sorted([web_ticket, province_ticket])
    merged = api(node, f"/api/tickets/{web_ticket}")
    assert (merged["state"], merged["merged_into"]) == ("merged", phone_ticket)
    sign_out(browser)

    # 4. The department replies to the phone ticket (the master).
    handled(node, phone_ticket, lead, dispatcher, department, "已抢修，今晚恢复供水")

    # 5. Each merged ticket's channel is told, signed: merged, then its master's moves.
    def told(path: str, number: int) -> list[tuple[dict[str, Any], bool]]:
        return [
            (json.loads(body), signature_ok(headers, body))
            for p, headers, body in receiver.got
            if p == path and json.loads(body)["ticket_number"] == str(number)
        ]

    def replied(path: str, number: int) -> bool:
        return any(m.get("master_state") == "replied" for m, _ in told(path, number))

    wait_for(
        "the merged tickets' push-back",
        lambda: replied("/web", web_ticket) and replied("/province", province_ticket),
        30,
    )
    for path, number in (("/web", web_ticket), ("/province", province_ticket)):
        rows = told(path, number)
        assert all(ok for _, ok in rows)
        states = [(m["state"], m.get("master_state")) for m, _ in rows]
        assert states == [
            ("registered", None),
            ("merged", None),
            ("merged", "dispatched"),
            ("merged", "accepted"),
            ("merged", "replied"),
        ], states
        assert all(m.get("merged_into") == str(phone_ticket) for m, _ in rows[1:])
