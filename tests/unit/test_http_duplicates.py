"""并单 at the HTTP edge, on SQLite and PostgreSQL: suggestions for the desk, the merge with its
badge both ways, who may do what (departments see no suggestions, only supervisors unmerge),
and the generic workflow refusing a merge without its master."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import make_settings
from tests.unit.test_http_confidential import call_in, take
from tests.unit.test_http_workflow import sign_in


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, database_url=db_url))) as c:
        yield c


def test_suggest_merge_badge_and_unmerge(client: TestClient) -> None:
    li = sign_in(client, "li", "agent", agent_id="1001")
    wang = sign_in(client, "wang", "supervisor")
    env = sign_in(client, "env", "department", department="sthjj")
    first, second = call_in(client, "dup.1"), call_in(client, "dup.2")
    take(client, first, li, description="楼下饭店排风机夜里太吵", address="人民路1号")
    take(client, second, li, description="饭店的排风机晚上还是很吵", address="人民路一号")

    found = client.get(f"/api/tickets/{second}/duplicates", headers=li)
    assert found.status_code == 200, found.text
    top = found.json()[0]
    assert top["ticket_id"] == first and "同一来电人" in top["reasons_zh"]
    assert "caller" not in top  # no citizen's number in a suggestion
    assert client.get(f"/api/tickets/{second}/duplicates", headers=env).status_code == 403
    assert client.get("/api/tickets/999999/duplicates", headers=li).status_code == 404

    plain = client.post(f"/api/tickets/{second}/transitions", json={"to": "merged"}, headers=li)
    assert plain.status_code == 422 and "/merge" in plain.text

    merged = client.post(f"/api/tickets/{second}/merge", json={"master_id": first}, headers=li)
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert (body["state"], body["merged_into"]) == ("merged", first) and body["unmerge_until"]
    assert client.get(f"/api/tickets/{second}", headers=li).json()["merged_into"] == first
    assert client.get(f"/api/tickets/{first}", headers=li).json()["merged_tickets"] == [second]
    disp = sign_in(client, "zhao", "dispatcher")
    queue = {r["id"]: r for r in client.get("/api/dispatch/queue", headers=disp).json()}
    assert queue[first]["merged_tickets"] == [second] and second not in queue  # the badge
    again = client.post(f"/api/tickets/{second}/merge", json={"master_id": first}, headers=li)
    assert again.status_code == 409
    ma = sign_in(client, "ma", "agent", agent_id="1002")  # not the agent who took it
    theirs = client.post(f"/api/tickets/{first}/merge", json={"master_id": second}, headers=ma)
    assert theirs.status_code == 403 and "belongs to agent 1001" in theirs.text
    gone = client.post(f"/api/tickets/{first}/merge", json={"master_id": 999999}, headers=li)
    assert gone.status_code == 404

    assert client.post(f"/api/tickets/{second}/unmerge", json={}, headers=li).status_code == 403
    back = client.post(f"/api/tickets/{second}/unmerge", json={"reason": "误并"}, headers=wang)
    assert back.status_code == 200, back.text
    assert (back.json()["state"], back.json()["merged_into"]) == ("registered", None)
    assert client.get(f"/api/tickets/{first}", headers=li).json()["merged_tickets"] == []
