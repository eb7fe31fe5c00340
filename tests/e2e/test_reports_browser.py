"""The reports page (统计报表) in headless Chromium against a real node: a supervisor signs in
on /reports, generates yesterday's 日报, watches the progress bar reach 已生成, and the report
opens with its four ECharts charts drawn (SVG paths in each), its tables filled, and the
print layout hiding the page's controls; on /surges a supervisor sees four collisions at one
crossing as one alert with its tickets and acknowledges it. Screenshots (screen and print)
land in the test's tmp dir (screenshots/).

The node's database gets a few of yesterday's tickets first (written straight into its
SQLite file, as the desk would have left them), so the charts have something to draw."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.bed import Node
from tests.e2e.browser import Browser
from tests.e2e.helpers import api, ensure_user, user_token

pytestmark = pytest.mark.e2e

PASSWORD = "reports-e2e-password"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# (category, source, hour, department, address)
TICKETS = [
    ("噪音", "phone:12345", 9, "hedong.dongguan.xinhua", "河东区东关街道新华小区3号楼"),
    ("噪音", "phone:12345", 10, "hedong.dongguan", "河东区东关街道新华小区3号楼"),
    ("噪音", "web", 11, "hedong.dongguan", "河东区东关街道滨河路8号"),
    ("供水", "phone:12345", 14, "water", "河东区南苑街道车站路1号"),
    ("供水", "wechat", 15, "water", None),
    ("咨询", "phone:12345", 16, None, None),
]


def stored(moment: datetime) -> str:
    """SQLAlchemy's SQLite form of a UTC instant."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(node: Node, day: date) -> None:
    with sqlite3.connect(Path(node.runtime["data_dir"]) / "hotline.db") as db:
        for category, source, hour, department, address in TICKETS:
            at = datetime.combine(day, time(hour), SHANGHAI)
            state = "dispatched" if department else "answered"
            cur = db.execute(
                "INSERT INTO tickets (state, source, caller, category, department, address,"
                " created_at, updated_at, assisting, forced, supervised, extended_days,"
                " dispatched_at) VALUES (?, ?, '13800000077', ?, ?, ?, ?, ?, '[]', 0, 0, 0, ?)",
                (
                    state, source, category, department, address, stored(at), stored(at),
                    stored(at + timedelta(minutes=30)) if department else None,
                ),
            )  # fmt: skip
            db.execute(
                "INSERT INTO ticket_transitions (ticket_id, from_state, to_state, actor, at)"
                " VALUES (?, 'draft', 'registered', 'e2e', ?)",
                (cur.lastrowid, stored(at + timedelta(minutes=2))),
            )


def svg_paths(browser: Browser, chart: str) -> int:
    return int(
        browser.driver.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "return e ? e.querySelectorAll('svg path').length : 0;",
            chart,
        )
    )


def test_a_supervisor_generates_and_reads_a_report(
    node: Node, browser: Browser, tmp_path: Path
) -> None:
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    seed(node, yesterday)
    ensure_user(node, "report-boss", PASSWORD, "supervisor")

    browser.sign_in(node.api + "/reports", "report-boss", PASSWORD)
    browser.wait("the form", lambda: browser.el("reports-view").is_displayed(), 10)
    assert browser.el("g-date").get_attribute("value") == yesterday.isoformat()
    assert browser.untranslated() == []
    browser.shot("1-reports-page")

    browser.click("g-submit")
    box = browser.el("g-progress-box")
    browser.wait("the progress bar", lambda: box.is_displayed(), 10)
    browser.wait("the report built", lambda: box.get_attribute("data-status") == "done", 60)
    assert browser.el("g-progress").get_attribute("value") == "100"
    assert "已生成" in browser.text("g-status")
    browser.wait(
        "the report drawn",
        lambda: browser.el("report").get_attribute("data-rendered") == "yes",
        10,
    )
    report_id = int(browser.el("report").get_attribute("data-report"))

    title = browser.text("r-title")
    assert title == f"12345 热线日报（{yesterday.isoformat()}）"
    assert "本期受理工单 6 件" in browser.text("r-overview")
    # Every chart is drawn: the SVG renderer leaves paths (bars, slices, the line, axes).
    for chart in ("chart-trend", "chart-channel", "chart-category", "chart-ranking"):
        assert svg_paths(browser, chart) > 3, chart
    # The channel pie has one slice per channel with tickets (and a label line each).
    slices = browser.driver.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-channel'))"
        ".getOption().series[0].data.map(d => [d.name, d.value]);"
    )
    assert sorted(slices) == sorted([["电话 12345", 4], ["网站", 1], ["微信", 1]])
    category_rows = browser.driver.execute_script(
        "return [...document.querySelectorAll('#r-category tbody tr')]"
        ".map(r => [...r.cells].slice(0, 2).map(c => c.textContent));"
    )
    assert category_rows[:2] == [["噪音", "3"], ["供水", "2"]]
    assert "河东区东关街道新华小区3号楼" in browser.text("r-addresses")
    assert "东关街道办事处" in browser.text("r-streets")
    assert browser.text("r-surges-note") == "本期无突增预警"
    assert "河东区人民政府" in browser.text("r-ranking")
    browser.shot("2-report")
    browser.driver.execute_script("document.getElementById('report').scrollIntoView()")
    browser.shot("3-report-charts")

    # The print layout: the page's controls go, the report stays.
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = browser.driver.execute_script(
            "return ['header', '#generate-form', '#report-list', '.report-bar', '#r-title']"
            ".map(s => document.querySelector(s).getClientRects().length > 0);"
        )
        assert shown == [False, False, False, False, True]
        assert browser.el("report").is_displayed()
        browser.driver.execute_script("window.scrollTo(0, 0)")
        browser.shot("4-print-layout")
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    # The same report is listed and downloads as a workbook for the signed-in supervisor.
    token = user_token(node, "report-boss", PASSWORD)
    listed = api(node, "/api/reports", token=token)
    assert report_id in [r["id"] for r in listed]
    assert browser.css(f'#report-list tr[data-report="{report_id}"]').is_displayed()


CROSSING = ["人民路与解放路交叉口", "解放路和人民路路口", "人民路/解放路", "人民路与解放路"]


def seed_crossing(node: Node) -> list[int]:
    """Four collisions at one crossing in the last seconds, written as the desk leaves them."""
    now = datetime.now(UTC)
    ids = []
    with sqlite3.connect(Path(node.runtime["data_dir"]) / "hotline.db") as db:
        for i, address in enumerate(CROSSING):
            at = stored(now - timedelta(seconds=4 - i))
            cur = db.execute(
                "INSERT INTO tickets (state, source, caller, category, district, address, summary,"
                " created_at, updated_at, assisting, forced, supervised, extended_days)"
                " VALUES ('registered', 'phone:12345', '13800000078', '交通事故', 'hedong', ?,"
                " '追尾', ?, ?, '[]', 0, 0, 0)",
                (address, at, at),
            )
            ids.append(int(cur.lastrowid or 0))
    return ids


def test_a_supervisor_sees_the_crossing_surge_and_acknowledges_it(
    node: Node, browser: Browser
) -> None:
    ids = seed_crossing(node)
    ensure_user(node, "surge-boss", PASSWORD, "supervisor")

    browser.sign_in(node.api + "/surges", "surge-boss", PASSWORD)
    browser.wait("the surge page", lambda: browser.el("surges-view").is_displayed(), 10)
    assert browser.untranslated() == []
    # The node's scheduler finds it within a minute; the supervisor need not wait for it.
    browser.click("scan")

    def crossing_row() -> Any:
        rows = browser.driver.find_elements(By.CSS_SELECTOR, "#surges tbody tr")
        return next((r for r in rows if "人民路×解放路" in r.text and "交通事故" in r.text), None)

    browser.wait("the crossing's alert", lambda: crossing_row() is not None, 10)
    row = crossing_row()
    assert "4" in row.find_elements(By.TAG_NAME, "td")[3].text
    alert_id = row.get_attribute("data-alert")
    browser.shot("5-surge-alerts")
    row.click()
    browser.wait("the alert's tickets", lambda: browser.el("detail").is_displayed(), 10)
    shown = browser.driver.execute_script(
        "return [...document.querySelectorAll('#detail-tickets tbody tr')]"
        ".map(r => Number(r.dataset.ticket));"
    )
    assert shown == ids
    assert "人民路×解放路 交通事故" in browser.text("detail-title")
    browser.shot("6-surge-tickets")

    # Opening an alert draws the list again (the open row is marked): find the row afresh.
    browser.css(f'#surges tr[data-alert="{alert_id}"] button[data-action=ack]').click()
    browser.wait(
        "the acknowledgement",
        lambda: "已确认" in browser.css(f'#surges tr[data-alert="{alert_id}"]').text,
        10,
    )
    assert "surge-boss" in browser.css(f'#surges tr[data-alert="{alert_id}"]').text
