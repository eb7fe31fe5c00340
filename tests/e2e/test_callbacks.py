"""Satisfaction callbacks through a real Asterisk: a replied ticket is called back on the
carrier trunk; the citizen's phone (baresip behind the carrier) answers and keys RFC 4733
DTMF into the FastAGI survey; busy and unanswered phones (SIPp) get retries inside the
calling window; a killed app dials a pending callback exactly once after its restart."""

from __future__ import annotations

import asyncio
import os
import signal
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bed import Node, hotline, start_node, stop_node
from tests.e2e.browser import Browser
from tests.e2e.conftest import plan_for_tests
from tests.e2e.helpers import (
    api,
    campaign_settings,
    carrier_port,
    citizen_call,
    end_all_calls,
    ensure_user,
    key_at,
    ticket_when,
)
from tests.e2e.helpers import calling_window as _window
from tests.e2e.helpers import citizen_phone as phone
from tests.e2e.peers.ami_observer import AmiObserver
from tests.e2e.peers.sipp import SippRefuser

pytestmark = pytest.mark.e2e

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
BUSY_SPACING = 40
NO_ANSWER_SPACING = 50
RING_SECONDS = 6
PW = "callbacks-e2e-password"


@pytest.fixture(scope="module")
def cb_node(tmp_path_factory: pytest.TempPathFactory, peers: Any) -> Iterator[Node]:
    extra = f"""{campaign_settings(max_attempts=2, ring_seconds=RING_SECONDS, max_channels=2)}
do_not_call = ["+86 138-0000-0069"]

[callbacks.campaigns.retry]
busy = {BUSY_SPACING}
no_answer = {NO_ANSWER_SPACING}
"""
    n = start_node(
        tmp_path_factory.mktemp("cbnode"), "cb", ["1001"], plan=plan_for_tests(peers), extra=extra
    )
    try:
        yield n
    finally:
        stop_node(n)


async def replied_ticket(node: Node, speech: dict[str, Path], tmp: Path, caller: str) -> int:
    """A citizen's call opens a ticket; the department handles it and replies (已答复)."""
    call = citizen_call(node, speech, tmp / "call", talk_ms=0, caller=caller)
    try:
        for _ in range(100):
            calls = api(node, f"/api/calls?caller={caller}")
            if calls and calls[0]["ticket_id"]:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"no ticket for {caller}")
    finally:
        call.stop()
        end_all_calls(node)
    ticket_id: int = calls[0]["ticket_id"]
    for step in (
        {"to": "registered"},
        {"to": "dispatched", "department": "zjj"},
        {"to": "accepted", "reason": "签收"},
        {"to": "replied", "reason": "已修复"},
    ):
        api(node, f"/api/tickets/{ticket_id}/transitions", "POST", step)
    return ticket_id


def last_outcome(ticket: dict[str, Any]) -> str | None:
    attempts = ticket["callbacks"][0]["attempt_list"] if ticket["callbacks"] else []
    return attempts[-1]["outcome"] if attempts else None


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


async def test_satisfied_citizen_closes_the_ticket_with_both_ratings(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    citizen = phone(cb_node, speech, tmp_path, "13800000061")
    try:
        async with AmiObserver(*cb_node.ami_login()) as ami:
            ticket_id = await replied_ticket(cb_node, speech, tmp_path, "13800000061")
            await key_at(ami, citizen, "service", "1")
            await key_at(ami, citizen, "outcome", "2")
            ticket = await ticket_when(cb_node, ticket_id, lambda t: t["state"] == "closed", 30)
    finally:
        citizen.stop()
    assert ticket["state"] == "closed"
    (callback,) = ticket["callbacks"]
    assert (callback["status"], callback["service_rating"], callback["outcome_rating"]) == (
        "done",
        1,
        2,
    )
    (attempt,) = callback["attempt_list"]
    assert (attempt["outcome"], attempt["reason"]) == ("answered", 4)
    moves = [(t["from_state"], t["to_state"], t["actor"]) for t in ticket["transitions"]][-2:]
    assert moves == [
        ("replied", "callback", "system:callback"),
        ("callback", "closed", "system:callback"),
    ]
    assert "服务满意，结果基本满意" in ticket["transitions"][-1]["reason"]


async def test_unsatisfied_citizen_reopens_the_ticket_with_a_voice_comment(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    citizen = phone(cb_node, speech, tmp_path, "13800000062")
    try:
        async with AmiObserver(*cb_node.ami_login()) as ami:
            ticket_id = await replied_ticket(cb_node, speech, tmp_path, "13800000062")
            await key_at(ami, citizen, "service", "2")
            await key_at(ami, citizen, "outcome", "3")
            await ami.wait_for("UserEvent", 20, UserEvent="HotlineSurvey", Step="comment")
            await asyncio.sleep(4)  # the citizen speaks after the beep …
            citizen.key("#")  # … and ends the comment
            ticket = await ticket_when(cb_node, ticket_id, lambda t: t["state"] == "reopened", 30)
    finally:
        citizen.stop()
    assert ticket["state"] == "reopened"
    assert ticket["department"] == "zjj"
    (callback,) = ticket["callbacks"]
    assert (callback["service_rating"], callback["outcome_rating"]) == (2, 3)
    comment = Path(cb_node.runtime["asterisk"]["config_dir"]).parent / "spool" / "monitor"
    recorded = comment / callback["comment_recording"]
    assert recorded.stat().st_size > 8000, "the voice comment holds less than half a second"
    assert "结果不满意" in ticket["transitions"][-1]["reason"]
    # The department works it again; its next reply is owed a new callback (round 2).
    api(cb_node, f"/api/tickets/{ticket_id}/transitions", "POST", {"to": "accepted"})
    api(cb_node, "/api/callbacks/campaigns/default/pause", "POST", {})
    try:
        again = api(cb_node, f"/api/tickets/{ticket_id}/transitions", "POST", {"to": "replied"})
        assert [(c["round"], c["status"]) for c in again["callbacks"]] == [
            (2, "pending"),
            (1, "done"),
        ]
        # Closed by hand before the campaign resumes: the round-2 callback is not dialled.
        api(cb_node, f"/api/tickets/{ticket_id}/transitions", "POST", {"to": "closed"})
    finally:
        api(cb_node, "/api/callbacks/campaigns/default/resume", "POST", {})
    ticket = await ticket_when(
        cb_node, ticket_id, lambda t: t["callbacks"][0]["status"] != "pending", 10
    )
    assert [(c["round"], c["status"], c["attempts"]) for c in ticket["callbacks"]] == [
        (2, "cancelled", 0),
        (1, "done", 1),
    ]


async def refused(
    node: Node, speech: dict[str, Path], tmp: Path, mode: str, caller: str, wait: float
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A replied ticket whose citizen's phone is busy or rings unanswered: the ticket, its
    callback and that callback's one attempt, once the attempt has an outcome."""
    phone = SippRefuser(tmp / mode, mode, "127.0.0.2", carrier_port(node)).start()
    try:
        ticket_id = await replied_ticket(node, speech, tmp, caller)
        ticket = await ticket_when(node, ticket_id, last_outcome, wait)
    finally:
        phone.stop()
    (callback,) = ticket["callbacks"]
    (attempt,) = callback["attempt_list"]
    return ticket, callback, attempt


def spacing(callback: dict[str, Any], attempt: dict[str, Any]) -> timedelta:
    return parse(callback["next_attempt_at"]) - parse(attempt["ended_at"])


async def test_no_answer_plans_the_retry_inside_the_calling_window(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    ticket, callback, attempt = await refused(
        cb_node, speech, tmp_path, "ring", "13800000063", RING_SECONDS + 20
    )
    assert (attempt["outcome"], attempt["reason"]) == ("no_answer", 3)
    assert callback["status"] == "pending"
    gap = spacing(callback, attempt)
    assert timedelta(seconds=NO_ANSWER_SPACING) <= gap < timedelta(seconds=NO_ANSWER_SPACING + 2)
    start, end = _window()
    local = parse(callback["next_attempt_at"]).astimezone(SH).strftime("%H:%M")
    assert start <= local <= end or end < start, f"retry at {local} outside {start}-{end}"
    assert ticket["state"] == "callback"


async def test_busy_plans_the_retry_after_the_busy_spacing(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    _, callback, attempt = await refused(cb_node, speech, tmp_path, "busy", "13800000064", 20)
    # Asterisk 22 reports a 486 as OriginateResponse Reason 0; the hang-up cause says busy.
    assert (attempt["outcome"], attempt["reason"], attempt["cause"]) == ("busy", 0, 17)
    gap = spacing(callback, attempt)
    assert timedelta(seconds=BUSY_SPACING) <= gap < timedelta(seconds=BUSY_SPACING + 2)


async def test_do_not_call_number_is_never_dialled(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    ticket_id = await replied_ticket(cb_node, speech, tmp_path, "13800000069")
    ticket = api(cb_node, f"/api/tickets/{ticket_id}")
    (callback,) = ticket["callbacks"]
    assert (callback["status"], callback["attempts"]) == ("do_not_call", 0)
    assert ticket["state"] == "replied"
    follow_up = api(cb_node, "/api/callbacks?status=do_not_call")
    assert ticket_id in [c["ticket_id"] for c in follow_up]


def test_the_campaign_monitor_page_shows_progress_and_the_follow_up_list(
    cb_node: Node, browser: Browser
) -> None:
    """A supervisor signs in on the desk and lands on /callbacks (zh-CN): the campaign's
    progress and counts match the API, the do-not-call ticket is on the follow-up list, and
    the pause button pauses the campaign."""
    ensure_user(cb_node, "hz", PW, "supervisor")
    browser.open(cb_node.api + "/desk?next=/callbacks")
    browser.type("username", "hz")
    browser.type("password", PW)
    browser.click("login-button")
    browser.wait("the campaign", lambda: browser.present("progress-default"), 15)
    (monitor,) = api(cb_node, "/api/callbacks/campaigns")
    shown = float(browser.el("progress-default").get_attribute("value"))
    assert abs(shown - monitor["progress"]) < 1e-6
    card = browser.css('[data-campaign="default"]').text
    assert f"已回访\n{monitor['statuses']['done']}" in card
    assert "进行中" in card and "评价分布" in card
    follow_up = api(cb_node, "/api/callbacks?status=do_not_call")
    row = browser.css(f'#follow-up tr[data-ticket="{follow_up[0]["ticket_id"]}"]').text
    assert "免打扰" in row
    assert browser.untranslated() == []
    browser.shot("callbacks-monitor")
    browser.css('[data-campaign="default"] button[data-action="pause"]').click()
    browser.wait("paused", lambda: "已暂停" in browser.css('[data-campaign="default"] h2').text, 10)
    assert api(cb_node, "/api/callbacks/campaigns")[0]["paused"] is True
    browser.css('[data-campaign="default"] button[data-action="resume"]').click()
    browser.wait(
        "resumed", lambda: "进行中" in browser.css('[data-campaign="default"] h2').text, 10
    )
    assert api(cb_node, "/api/callbacks/campaigns")[0]["paused"] is False


async def test_a_killed_app_dials_a_pending_callback_exactly_once_after_restart(
    cb_node: Node, speech: dict[str, Path], tmp_path: Path
) -> None:
    api(cb_node, "/api/callbacks/campaigns/default/pause", "POST", {})
    citizen = phone(cb_node, speech, tmp_path, "13800000065")
    try:
        async with AmiObserver(*cb_node.ami_login()) as ami:
            ticket_id = await replied_ticket(cb_node, speech, tmp_path, "13800000065")
            await asyncio.sleep(2)  # due now, but the campaign is paused
            assert api(cb_node, f"/api/tickets/{ticket_id}")["callbacks"][0]["attempts"] == 0
            os.kill(cb_node.app_pid(), signal.SIGKILL)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(hotline, cb_node.config, "up", timeout=120)
            api(cb_node, "/api/callbacks/campaigns/default/resume", "POST", {})
            await key_at(ami, citizen, "service", "1")
            await key_at(ami, citizen, "outcome", "1")
            ticket = await ticket_when(cb_node, ticket_id, lambda t: t["state"] == "closed", 30)
            await asyncio.sleep(5)  # time for a second ring, were there one
    finally:
        citizen.stop()
        api(cb_node, "/api/callbacks/campaigns/default/resume", "POST", {})
    assert ticket["state"] == "closed"
    assert ticket["callbacks"][0]["attempts"] == 1
    # The citizen's phone answered exactly one call from the hotline.
    assert citizen.count("answering call") == 1, citizen.output()
