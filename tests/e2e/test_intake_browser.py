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
it once the receiver is back. Screenshots in the test's tmp dir."""

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
from tests.e2e.helpers import api, ensure_user, user_token
from tests.e2e.test_case_loop_browser import png

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
        api(
            node,
            f"/api/tickets/{ticket}/dispatch",
            "POST",
            {"mode": "direct", "lead": lead},
            token=dispatcher,
        )
        api(node, f"/api/tickets/{ticket}/accept", "POST", {}, token=department)
        api(node, f"/api/tickets/{ticket}/reply", "POST", {"text": "已恢复供水"}, token=department)
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
        stamp = headers["X-Hotline-Timestamp"]
        mac = hmac.new(HOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        assert headers["X-Hotline-Signature"] == "sha256=" + mac.hexdigest()
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


def sign_out(browser: Browser) -> None:
    browser.click("signout")
    browser.wait("the sign-in form", lambda: browser.el("login-view").is_displayed(), 10)


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
