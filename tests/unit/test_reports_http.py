"""The report routes by role (supervisors and admins only), a report generated through the
API and downloaded as XLSX and CSV, refusals that say why, the page, and the schedule's jobs
on the runtime's one scheduler as ``[reports]`` allows."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.main import create_app
from app.migrate import upgrade
from core.reports import ReportSettings
from tests.conftest import make_settings
from tests.unit.test_http_workflow import AUTH, sign_in


def wait_done(client: TestClient, report_id: int, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        got = client.get(f"/api/reports/{report_id}", headers=headers).json()
        if got["status"] in ("done", "failed"):
            return got  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def test_a_supervisor_generates_lists_and_downloads(client: TestClient) -> None:
    boss = sign_in(client, "boss", "supervisor")
    made = client.post("/api/reports", json={"kind": "weekly", "date": "2025-10-01"}, headers=boss)
    assert made.status_code == 202, made.text
    row = made.json()
    assert row["status"] in ("queued", "running", "done") and row["kind_name"] == "周报"
    assert (row["period_first"], row["period_last"]) == ("2025-09-29", "2025-10-05")
    assert row["created_by"] == "supervisor:boss"
    done = wait_done(client, row["id"], boss)
    assert done["status"] == "done" and done["progress"] == 100
    data = done["data"]
    assert data["title"] == "12345 热线周报（2025-09-29 至 2025-10-05）"
    assert data["totals"] == {"tickets": 0, "previous": 0, "change": None}
    assert data["surges_note"] == "本期无突增预警"
    assert len(data["daily"]) == 7 and data["hourly"] == []
    listed = client.get("/api/reports", headers=boss).json()
    assert [r["id"] for r in listed] == [row["id"]] and "data" not in listed[0]

    got = client.get(f"/api/reports/{row['id']}.xlsx", headers=boss)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''12345" in got.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book["概况"]["B2"].value == data["title"]
    assert book["每日趋势"]["A2"].value == "2025-09-29" and book["每日趋势"]["B2"].value == 0
    csv = client.get(f"/api/reports/{row['id']}.csv", headers=boss)
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert "【概况】" in csv.content.decode("utf-8-sig")

    special = {"kind": "special", "from": "2025-10-01", "to": "2025-10-31", "category": "供水"}
    made = client.post("/api/reports", json=special, headers=AUTH)  # the service token: admin
    assert made.status_code == 202, made.text
    assert wait_done(client, made.json()["id"], AUTH)["data"]["topic"] == "供水"


def test_only_supervisors_and_admins(client: TestClient) -> None:
    body = {"kind": "daily", "date": "2025-10-01"}
    for who in (
        sign_in(client, "li", "agent", agent_id="1001"),
        sign_in(client, "zhao", "dispatcher"),
        sign_in(client, "hexi-user", "department", department="hexi"),
    ):
        assert client.post("/api/reports", json=body, headers=who).status_code == 403
        assert client.get("/api/reports", headers=who).status_code == 403
        assert client.get("/api/reports/1.xlsx", headers=who).status_code == 403
    assert client.get("/api/reports").status_code == 401
    admin = sign_in(client, "root", "admin")
    assert client.post("/api/reports", json=body, headers=admin).status_code == 202


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "special", "from": "2025-10-01", "to": "2025-10-31"}, "needs a category"),
        (
            {"kind": "special", "from": "2025-10-01", "to": "2025-10-31", "category": "外星人"},
            "not a category",
        ),
        ({"kind": "special", "category": "供水"}, "needs from and to"),
        ({"kind": "daily", "date": "2025-10-01", "category": "供水"}, "only a 专报"),
        (
            {"kind": "special", "from": "2025-10-31", "to": "2025-10-01", "category": "供水"},
            "before the first",
        ),
        ({"kind": "daily", "date": "1900-01-01"}, "must lie between"),
        ({"kind": "yearly", "date": "2025-10-01"}, "kind"),
    ],
)
def test_bad_requests_say_why(client: TestClient, body: dict[str, Any], words: str) -> None:
    got = client.post("/api/reports", json=body, headers=AUTH)
    assert got.status_code == 422 and words in got.text, got.text


def test_missing_and_unfinished_reports(client: TestClient) -> None:
    assert client.get("/api/reports/999", headers=AUTH).status_code == 404
    assert client.get("/api/reports/999.xlsx", headers=AUTH).status_code == 404
    assert client.get("/api/reports/0", headers=AUTH).status_code == 422


def test_the_page_is_served(client: TestClient) -> None:
    page = client.get("/reports")
    assert page.status_code == 200 and "echarts-6.1.0.min.js" in page.text
    assert client.get("/static/vendor/echarts-6.1.0.min.js").status_code == 200


def test_the_schedule_is_on_the_one_scheduler(client: TestClient) -> None:
    scheduler = client.app.state.runtime.scheduler  # type: ignore[attr-defined]
    jobs = {job.id: str(job.trigger) for job in scheduler.get_jobs()}
    assert "hour='0', minute='30'" in jobs["reports.daily"]
    assert "day_of_week='mon', hour='1'" in jobs["reports.weekly"]
    assert "day='1', hour='2'" in jobs["reports.monthly"]
    assert "month='1,4,7,10', day='1', hour='3'" in jobs["reports.quarterly"]
    assert "caseloop.sweep" in jobs


def test_reports_settings_turn_jobs_off_and_are_checked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reports={"daily": False, "quarterly": False})
    upgrade(settings.db_url)
    with TestClient(create_app(settings)) as c:
        ids = {job.id for job in c.app.state.runtime.scheduler.get_jobs()}  # type: ignore[attr-defined]
    assert {"reports.weekly", "reports.monthly"} <= ids
    assert not {"reports.daily", "reports.quarterly"} & ids
    with pytest.raises(ValidationError, match="yearly"):
        make_settings(tmp_path, reports={"yearly": True})
    with pytest.raises(ValidationError, match="boolean"):
        ReportSettings.model_validate({"daily": "sometimes"})
