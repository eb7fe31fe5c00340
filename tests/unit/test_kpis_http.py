"""The KPI routes by role: supervisors see everything and keep the excluded periods; a
department sees its subtree's ticket KPIs; an agent its own row; a dispatcher nothing; bad
periods are 422s that say why."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.test_http_workflow import AUTH, sign_in


def test_kpis_by_role(client: TestClient) -> None:
    boss = sign_in(client, "boss", "supervisor")
    whole = client.get("/api/kpis?period=week&date=2025-10-01", headers=boss).json()
    assert whole["period"]["first"] == "2025-09-29" and whole["period"]["label"] == "2025-W40"
    assert whole["previous"]["first"] == "2025-09-22"
    assert whole["period"]["starts_at"].startswith("2025-09-28T16:00:00")
    (row,) = whole["rows"]
    rate = row["kpis"]["answer_rate"]
    assert rate == {
        "numerator": 0,
        "denominator": 0,
        "value": None,
        "previous": {"numerator": 0, "denominator": 0, "value": None},
        "target": 0.95,
        "meets_target": None,
    }
    assert whole["settings"]["service_level_denominator"] == "answered"
    assert {d["code"] for d in whole["definitions"]} >= {"answer_rate", "occupancy"}

    hexi = sign_in(client, "hexi-user", "department", department="hexi")
    mine = client.get("/api/kpis?period=month&date=2025-10-01&by=department", headers=hexi)
    assert mine.status_code == 200
    assert "answer_rate" not in {d["code"] for d in mine.json()["definitions"]}

    agent = sign_in(client, "li", "agent", agent_id="1001")
    own = client.get("/api/kpis?period=day&date=2025-10-01", headers=agent).json()
    assert own["by"] == "agent" and [r["key"] for r in own["rows"]] == ["1001"]
    assert client.get("/api/kpis?by=department", headers=agent).status_code == 403

    dispatcher = sign_in(client, "zhao", "dispatcher")
    assert client.get("/api/kpis", headers=dispatcher).status_code == 403
    assert client.get("/api/kpis").status_code == 401


def test_bad_periods_are_refused(client: TestClient) -> None:
    for query, words in [
        ("period=custom&from=2025-10-01", "needs from and to"),
        ("period=custom&from=2025-10-08&to=2025-10-01", "before the first"),
        ("period=custom&from=2024-01-01&to=2025-06-01", "at most"),
        ("period=day&date=1900-01-01", "must lie between"),
    ]:
        got = client.get(f"/api/kpis?{query}", headers=AUTH)
        assert got.status_code == 422, query
        assert words in got.text, query
    assert client.get("/api/kpis?by=planet", headers=AUTH).status_code == 422


def test_excluded_periods_are_kept_by_supervisors(client: TestClient) -> None:
    boss = sign_in(client, "boss", "supervisor")
    agent = sign_in(client, "li", "agent", agent_id="1001")
    body = {
        "starts_at": "2025-10-01T10:00:15+08:00",
        "ends_at": "2025-10-01T10:05:00+08:00",
        "reason": "outage",
        "note": "运营商中继故障",
    }
    assert client.post("/api/kpis/excluded-periods", json=body, headers=agent).status_code == 403
    made = client.post("/api/kpis/excluded-periods", json=body, headers=boss)
    assert made.status_code == 201, made.text
    row = made.json()
    assert row["created_by"] == "supervisor:boss" and row["reason"] == "outage"
    listed = client.get("/api/kpis/excluded-periods", headers=boss).json()
    assert [r["id"] for r in listed] == [row["id"]]
    day = client.get("/api/kpis?date=2025-10-01", headers=boss).json()
    assert [r["id"] for r in day["excluded_periods"]] == [row["id"]]
    backwards = {**body, "ends_at": "2025-10-01T09:00:00+08:00"}
    assert (
        client.post("/api/kpis/excluded-periods", json=backwards, headers=boss).status_code == 422
    )
    naive = {**body, "starts_at": "2025-10-01T10:00:15"}
    assert client.post("/api/kpis/excluded-periods", json=naive, headers=boss).status_code == 422
    path = f"/api/kpis/excluded-periods/{row['id']}"
    assert client.delete(path, headers=agent).status_code == 403
    assert client.delete(path, headers=boss).status_code == 204
    assert client.delete(path, headers=boss).status_code == 404
