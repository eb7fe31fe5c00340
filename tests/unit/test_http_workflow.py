"""The ticket workflow and callback routes at the HTTP edge: lifecycle refusals are 409 with
the reason, malformed bodies 422, and a reply is owed its callback."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.runtime import Runtime
from tests.conftest import TEST_TOKEN
from tests.unit.call_events import inbound

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def draft(client: TestClient, uid: str) -> int:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.portal is not None
    opened = client.portal.call(rt.tickets.open_call, inbound(uid))
    assert opened.ticket_id is not None
    return opened.ticket_id


def move(client: TestClient, ticket_id: int, **body: Any) -> Any:
    return client.post(f"/api/tickets/{ticket_id}/transitions", json=body, headers=AUTH)


def test_the_handling_workflow_to_a_reply_schedules_the_callback(client: TestClient) -> None:
    ticket_id = draft(client, "w.1")
    assert move(client, ticket_id, to="registered").status_code == 200
    dispatched = move(client, ticket_id, to="dispatched", department="jtj").json()
    assert (dispatched["state"], dispatched["department"]) == ("dispatched", "jtj")
    move(client, ticket_id, to="accepted")
    replied = move(client, ticket_id, to="replied", reason="已处理").json()
    assert replied["state"] == "replied"
    (callback,) = replied["callbacks"]
    assert (callback["round"], callback["status"], callback["number"]) == (
        1,
        "pending",
        "13800000001",
    )
    audit = [(t["from_state"], t["to_state"], t["actor"]) for t in replied["transitions"]]
    assert audit[-1] == ("accepted", "replied", "admin:service")
    (monitor,) = client.get("/api/callbacks/campaigns", headers=AUTH).json()
    assert monitor["name"] == "default" and monitor["statuses"]["pending"] == 1


def test_lifecycle_refusals_are_409_with_the_reason(client: TestClient) -> None:
    ticket_id = draft(client, "w.2")
    skip = move(client, ticket_id, to="closed")
    assert skip.status_code == 409
    assert "draft → closed is not allowed" in skip.json()["detail"]
    system = move(client, ticket_id, to="callback")
    assert system.status_code == 409
    assert "set by the hotline itself" in system.json()["detail"]
    move(client, ticket_id, to="registered")
    nowhere = move(client, ticket_id, to="dispatched")
    assert nowhere.status_code == 409
    assert "department" in nowhere.json()["detail"]


def test_malformed_workflow_requests_are_422_or_404(client: TestClient) -> None:
    ticket_id = draft(client, "w.3")
    assert move(client, ticket_id, to="flying").status_code == 422
    assert move(client, ticket_id, to="registered", actor="mayor").status_code == 422
    assert move(client, ticket_id, to="registered", department="").status_code == 422
    assert move(client, 424242, to="registered").status_code == 404
    assert client.post("/api/callbacks/campaigns/nope/pause", headers=AUTH).status_code == 404
    assert client.post("/api/callbacks/campaigns/default/stop", headers=AUTH).status_code == 422
    assert client.get("/api/callbacks?status=DROP%20TABLE", headers=AUTH).status_code == 422


def test_campaign_pause_and_resume_show_on_the_monitor(client: TestClient) -> None:
    assert client.post("/api/callbacks/campaigns/default/pause", headers=AUTH).json() == {
        "name": "default",
        "paused": True,
    }
    assert client.get("/api/callbacks/campaigns", headers=AUTH).json()[0]["paused"] is True
    client.post("/api/callbacks/campaigns/default/resume", headers=AUTH)
    assert client.get("/api/callbacks/campaigns", headers=AUTH).json()[0]["paused"] is False


def sign_in(
    client: TestClient,
    username: str,
    role: str,
    agent_id: str | None = None,
    department: str | None = None,
) -> dict:
    body = {"username": username, "password": "workflow-e2e-pw", "role": role}
    if agent_id:
        body["agent_id"] = agent_id
    if department:
        body["department"] = department
    assert client.post("/api/users", json=body, headers=AUTH).status_code == 201
    login = {"username": username, "password": "workflow-e2e-pw"}
    token = client.post("/api/login", json=login).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_each_role_makes_only_its_own_workflow_steps(client: TestClient) -> None:
    agent = sign_in(client, "li", "agent", "1001")
    dept = sign_in(client, "jtw", "department", department="jtj")
    ticket_id = draft(client, "w.4")
    path = f"/api/tickets/{ticket_id}/transitions"
    assert client.post(path, json={"to": "registered"}, headers=dept).status_code == 403
    assert client.post(path, json={"to": "registered"}, headers=agent).status_code == 200
    client.post(path, json={"to": "dispatched", "department": "jtj"}, headers=agent)
    refused = client.post(path, json={"to": "accepted"}, headers=agent)
    assert refused.status_code == 403
    assert "agent role may not move a ticket to accepted" in refused.json()["detail"]
    assert client.post(path, json={"to": "accepted"}, headers=dept).status_code == 200
    replied = client.post(path, json={"to": "replied"}, headers=dept).json()
    assert replied["transitions"][-1]["actor"] == "department:jtw"
    assert client.get("/api/callbacks/campaigns", headers=agent).status_code == 403
    assert client.post("/api/callbacks/campaigns/default/pause", headers=dept).status_code == 403
