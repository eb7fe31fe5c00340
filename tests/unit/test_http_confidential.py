"""保密件 at the HTTP edge, on SQLite and PostgreSQL: who sees a confidential ticket's number
masked or not, the lists masked, every unmasked view logged (and only those), the flag set at
the desk and by a channel, the public lookup without the number, a plain ticket unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cases.confidential import mask_number
from app.main import create_app
from app.runtime import Runtime
from tests.conftest import make_settings
from tests.unit.call_events import inbound
from tests.unit.test_http_intake import WEB_SECRET, signed
from tests.unit.test_http_workflow import AUTH, sign_in

NUMBER = "13812345678"
MASKED = "138****5678"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        database_url=db_url,
        intake={"channels": [{"name": "web", "kind": "web", "secret": WEB_SECRET}]},
    )
    with TestClient(create_app(settings)) as c:
        yield c


def call_in(client: TestClient, uid: str) -> int:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.portal is not None
    ticket_id = client.portal.call(rt.tickets.open_call, inbound(uid, caller=NUMBER)).ticket_id
    assert ticket_id is not None
    return ticket_id


def take(client: TestClient, ticket_id: int, agent: dict[str, str], **extra: Any) -> Any:
    body = {"category": "噪音", "description": "举报夜间偷排", "register_ticket": True, **extra}
    saved = client.patch(f"/api/tickets/{ticket_id}", json=body, headers=agent)
    assert saved.status_code == 200, saved.text
    return saved.json()


def caller(client: TestClient, ticket_id: int, who: dict[str, str]) -> Any:
    got = client.get(f"/api/tickets/{ticket_id}", headers=who)
    assert got.status_code == 200, got.text
    return got.json()["caller"]


def views(client: TestClient, ticket_id: int, who: dict[str, str]) -> list[tuple[str, str]]:
    got = client.get(f"/api/tickets/{ticket_id}/confidential-views", headers=who)
    assert got.status_code == 200, got.text
    return [(v["who"], v["route"]) for v in got.json()]


def test_mask_number() -> None:
    assert mask_number(NUMBER) == MASKED
    assert mask_number("12345") == "*****"
    assert mask_number(None) is None and mask_number("") == ""


def test_each_role_sees_a_confidential_ticket_masked_or_logged(client: TestClient) -> None:
    li = sign_in(client, "li", "agent", agent_id="1001")
    other = sign_in(client, "ma", "agent", agent_id="1002")
    wang = sign_in(client, "wang", "supervisor")
    disp = sign_in(client, "zhao", "dispatcher")
    env = sign_in(client, "env", "department", department="sthjj")
    ticket_id = call_in(client, "conf.1")
    path = f"/api/tickets/{ticket_id}"

    # The agent who took the call marks it at the desk and, while it is on the desk, sees it.
    saved = take(client, ticket_id, li, confidential=True)
    assert saved["confidential"] is True and saved["caller"] == NUMBER
    assert saved["calls"][0]["caller"] == NUMBER
    assert caller(client, ticket_id, li) == NUMBER
    # Another agent and the dispatcher: masked, everywhere on the ticket.
    seen = client.get(path, headers=other).json()
    assert seen["caller"] == MASKED and seen["calls"][0]["caller"] == MASKED
    assert NUMBER not in client.get(path, headers=disp).text
    (row,) = client.get("/api/dispatch/queue", headers=disp).json()
    assert row["confidential"] is True and NUMBER not in str(row)
    assert caller(client, ticket_id, wang) == NUMBER  # supervisors: unmasked, logged

    dispatched = client.post(
        f"{path}/dispatch", json={"mode": "direct", "lead": "sthjj"}, headers=disp
    )
    assert dispatched.status_code == 200 and dispatched.json()["caller"] == MASKED
    # The department never sees it; nor, once it left the desk, the agent who took it.
    assert caller(client, ticket_id, env) == MASKED
    assert NUMBER not in client.get(path, headers=env).text
    (mine,) = client.get("/api/portal/tickets?view=to_sign", headers=env).json()
    assert mine["id"] == ticket_id and mine["confidential"] is True and NUMBER not in str(mine)
    assert caller(client, ticket_id, li) == MASKED

    # The calls list: masked for the agent, who cannot find it by the number either.
    (call,) = client.get("/api/calls", headers=li).json()
    assert call["ticket_id"] == ticket_id and call["caller"] == MASKED
    assert client.get(f"/api/calls?caller={NUMBER}", headers=li).json() == []
    (call,) = client.get(f"/api/calls?caller={NUMBER}", headers=wang).json()
    assert call["caller"] == NUMBER

    # Every unmasked view, and only those, is in the log (supervisors and admins read it).
    assert views(client, ticket_id, wang) == [
        ("agent:1001", f"PATCH {path}"),
        ("agent:1001", f"GET {path}"),
        ("supervisor:wang", f"GET {path}"),
        ("supervisor:wang", "GET /api/calls"),
    ]
    for who in (li, disp, env):
        assert client.get(f"{path}/confidential-views", headers=who).status_code == 403
    assert client.get("/api/tickets/99999/confidential-views", headers=wang).status_code == 404


def test_a_plain_ticket_is_unchanged_and_logs_nothing(client: TestClient) -> None:
    li = sign_in(client, "li", "agent", agent_id="1001")
    disp = sign_in(client, "zhao", "dispatcher")
    env = sign_in(client, "env", "department", department="sthjj")
    ticket_id = call_in(client, "plain.1")
    assert take(client, ticket_id, li)["confidential"] is False
    body = {"mode": "direct", "lead": "sthjj"}
    assert client.post(f"/api/tickets/{ticket_id}/dispatch", json=body, headers=disp).status_code
    for who in (li, disp, env, AUTH):
        assert caller(client, ticket_id, who) == NUMBER
    (call,) = client.get(f"/api/calls?caller={NUMBER}", headers=li).json()
    assert call["caller"] == NUMBER
    assert views(client, ticket_id, AUTH) == []


def test_the_desk_unmarks_and_a_channel_marks(client: TestClient) -> None:
    li = sign_in(client, "li", "agent", agent_id="1001")
    disp = sign_in(client, "zhao", "dispatcher")
    ticket_id = call_in(client, "conf.2")
    take(client, ticket_id, li, confidential=True)
    assert caller(client, ticket_id, disp) == MASKED
    unmarked = client.patch(f"/api/tickets/{ticket_id}", json={"confidential": False}, headers=li)
    assert unmarked.json()["confidential"] is False
    assert caller(client, ticket_id, disp) == NUMBER

    request = {
        "external_id": "wb-1",
        "category": "城管",
        "description": "举报违建",
        "phone": NUMBER,
        "confidential": True,
    }
    made = signed(client, "/api/intake/web/requests", request)
    assert made.status_code == 201, made.text
    number, code = made.json()["ticket_number"], made.json()["query_code"]
    assert caller(client, int(number), disp) == MASKED
    got = client.get(f"/api/tickets/{number}", headers=AUTH).json()
    assert got["confidential"] is True and got["caller"] == NUMBER
    assert views(client, int(number), AUTH) == [("admin:service", f"GET /api/tickets/{number}")]
    # The same key without the flag is another request.
    unflagged = {**request, "confidential": False}
    assert signed(client, "/api/intake/web/requests", unflagged).status_code == 409
    # The public lookup never shows the number (nor any name).
    track = client.post("/api/public/track", json={"ticket_number": number, "query_code": code})
    assert track.status_code == 200 and NUMBER not in track.text and MASKED not in track.text
    assert set(track.json()) == {
        "ticket_number",
        "category",
        "received_at",
        "status",
        "status_step",
        "steps",
    }
