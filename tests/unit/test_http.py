"""The HTTP edge with the whole app running (lifespan, FastAGI, AMI retrying against a port
where nothing listens): authentication, clear errors, no secret in logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.logs import RedactSecrets
from tests.conftest import TEST_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


def test_health_is_public_and_reports_ami_down(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["ami_connected"] is False
    assert body["fastagi"]["served"] == 0
    # The recordings volume (here the test's tmp disk) has been read once at start.
    assert body["recordings"]["free_mb"] > 0 and body["recordings"]["low"] is False
    # The settings' RTP range, no channel up (AMI down: none known).
    media = body["media_ports"]
    assert (media["in_use"], media["level"]) == (0, "ok") and media["capacity"] > 0
    # The embedded default's in-process bus: nothing held, nothing dropped.
    assert body["bus"] == {"engine": "memory", "reachable": True, "held": 0, "dropped": 0}


@pytest.mark.parametrize("path", ["/api/tickets/1", "/api/calls"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}]
)
def test_routes_need_the_token(client: TestClient, path: str, headers: dict[str, str]) -> None:
    resp = client.get(path, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


def test_unknown_ticket_is_a_clear_404(client: TestClient) -> None:
    resp = client.get("/api/tickets/999", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json() == {"detail": "ticket 999 does not exist"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/tickets/abc",
        "/api/calls?limit=0",
        "/api/calls?limit=9999",
        "/api/calls?since=yesterday",
        "/api/tickets/4754674492409155864756224",  # beyond SQL INTEGER: 422, not 500
        "/api/tickets/0",
    ],
)
def test_malformed_requests_get_422_naming_the_field(client: TestClient, path: str) -> None:
    resp = client.get(path, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"][0] in ("path", "query")


def test_calls_list_is_empty_on_a_new_node(client: TestClient) -> None:
    resp = client.get("/api/calls", headers=AUTH)
    assert resp.status_code == 200 and resp.json() == []


def test_agent_socket_refuses_bad_token_and_unknown_agent(client: TestClient) -> None:
    for url in (
        "/ws/agents/1001?token=nope",
        "/ws/agents/1001",
        f"/ws/agents/9999?token={TEST_TOKEN}",
    ):
        with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect(url) as ws:
            ws.receive_text()
        assert exc.value.code == 1008


def test_agent_socket_says_hello(client: TestClient) -> None:
    with client.websocket_connect(f"/ws/agents/1001?token={TEST_TOKEN}") as ws:
        assert ws.receive_json() == {"event": "hello", "agent_id": "1001"}


def test_log_lines_never_carry_the_token() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/ws/agents/1001?token={TEST_TOKEN}&x=1"),
        None,
    )
    assert RedactSecrets().filter(record)
    assert (
        record.getMessage() == '127.0.0.1:5 - "WebSocket /ws/agents/1001?token=***&x=1" [accepted]'
    )


def test_no_public_schema_or_docs(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/openapi.json").status_code == 401
    schema = client.get("/api/openapi.json", headers=AUTH).json()
    assert "/api/tickets/{ticket_id}" in schema["paths"]
    assert "/api/calls/{call_id}/transfers" in schema["paths"]


def test_oversized_ids_in_posts_are_422(client: TestClient) -> None:
    for path in (
        "/api/transfers/716712272163181904789504/cancel",
        "/api/missed-calls/4754674492409155864756224/claim",
    ):
        resp = client.post(path, headers=AUTH, json={"agent_id": "1001"})
        assert resp.status_code == 422, path


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/login", '{"username": NaN, "password": "x"}'),
        ("/api/login", '{"username": "li", "password": Infinity}'),
        ("/api/agents/1001/pause", '{"reason": 1e400}'),
        ("/api/tickets/1/transitions", '{"to": Infinity}'),
        ("/api/tickets/1/transitions", '{"to": -Infinity, "reason": NaN}'),
        ("/api/missed-calls/1/claim", '{"agent_id": NaN}'),
    ],
)
def test_non_finite_numbers_are_a_clear_422(client: TestClient, path: str, raw: str) -> None:
    """Python's json accepts NaN/Infinity/1e400; the 422 that names the field must not crash
    while echoing them back (it used to be a 500, even on the public login)."""
    resp = client.post(path, headers={**AUTH, "Content-Type": "application/json"}, content=raw)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail and all(e["loc"][0] == "body" for e in detail)
    assert "Infinity" not in resp.text or "not a finite" in resp.text
