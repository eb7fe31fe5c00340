"""Surge alerts at the HTTP edge: supervisors (and admins) only; a pass on demand, the list,
one alert with its tickets (never the citizen's number), acknowledgement, clear 4xx, and the
day's report listing the alert."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app.models import Ticket
from app.runtime import Runtime
from casework.lifecycle import TicketState
from core.db import session_factory
from core.events import utcnow
from tests.unit.test_http_workflow import AUTH, sign_in
from tests.unit.test_reports_http import wait_done

SHANGHAI = ZoneInfo("Asia/Shanghai")

CROSSING = ["人民路与解放路交叉口", "解放路和人民路路口", "人民路/解放路", "人民路与解放路"]


def seed_crossing(client: TestClient) -> list[int]:
    """Four collisions at one crossing in the last seconds (one window, whatever the hour)."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    now = utcnow()

    async def add() -> list[int]:
        rows = [
            Ticket(
                state=TicketState.DISPATCHED,
                source="web",
                caller="13812345678",
                category="交通事故",
                district="hedong",
                address=address,
                summary="追尾",
                created_at=now - timedelta(seconds=4 - i),
            )
            for i, address in enumerate(CROSSING)
        ]
        async with session_factory(rt.engine).begin() as session:
            session.add_all(rows)
            await session.flush()
            return [t.id for t in rows]

    assert client.portal is not None
    return client.portal.call(add)


def test_supervisors_scan_list_open_and_acknowledge(client: TestClient) -> None:
    boss = sign_in(client, "wang", "supervisor")
    agent = sign_in(client, "li", "agent", agent_id="1001")
    dept = sign_in(client, "env", "department", department="hedong")
    ids = seed_crossing(client)

    for who in (agent, dept):
        assert client.get("/api/surges", headers=who).status_code == 403
        assert client.post("/api/surges/scan", headers=who).status_code == 403
    assert client.get("/api/surges").status_code == 401

    scanned = client.post("/api/surges/scan", headers=boss)
    assert scanned.status_code == 200, scanned.text
    [alert] = scanned.json()
    assert (alert["category"], alert["area"], alert["count"]) == ("交通事故", "人民路×解放路", 4)
    assert alert["ticket_ids"] == ids and alert["acknowledged_at"] is None
    assert client.post("/api/surges/scan", headers=boss).json() == []  # the same alert

    listed = client.get("/api/surges", params={"open": "true"}, headers=boss).json()
    assert [a["id"] for a in listed] == [alert["id"]]
    one = client.get(f"/api/surges/{alert['id']}", headers=boss).json()
    assert [t["id"] for t in one["tickets"]] == ids
    assert one["tickets"][0]["address"] == CROSSING[0]
    assert "13812345678" not in str(one)  # what and where, not who

    acked = client.post(f"/api/surges/{alert['id']}/ack", headers=boss)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "supervisor:wang"
    assert client.get("/api/surges", params={"open": "true"}, headers=boss).json() == []
    assert len(client.get("/api/surges", headers=AUTH).json()) == 1  # the admin too

    assert client.get("/api/surges/999999", headers=boss).status_code == 404
    assert client.post("/api/surges/999999/ack", headers=boss).status_code == 404
    bad = [{"from": "2026-12-02", "to": "2026-12-01"}, {"from": "0001-01-01"}, {"to": "9999-12-31"}]
    for params in bad:
        assert client.get("/api/surges", params=params, headers=boss).status_code == 422

    # The node's reports read the same table: today's 日报 lists the alert.
    today = datetime.fromisoformat(alert["window_start"]).astimezone(SHANGHAI).date()
    made = client.post("/api/reports", json={"kind": "daily", "date": str(today)}, headers=boss)
    data = wait_done(client, made.json()["id"], boss)["data"]
    assert [(s["category"], s["count"]) for s in data["surges"]] == [("交通事故", 4)]
    assert data["surges_note"] == ""
