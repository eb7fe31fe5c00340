"""The live-transcription routes with the whole app running: authenticated, clear errors for
bad input, and the live status and alert list of a node without live queues."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.mark.parametrize("path", ["/api/alerts", "/api/transcription/live"])
def test_live_routes_need_the_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"), [("limit=0", "limit"), ("limit=501", "limit"), ("since=noon", "since")]
)
def test_bad_alert_queries_are_422(client: TestClient, query: str, field: str) -> None:
    resp = client.get(f"/api/alerts?{query}", headers=AUTH)
    assert resp.status_code == 422
    assert field in resp.text


def test_live_is_off_without_a_model_and_queues(client: TestClient) -> None:
    status = client.get("/api/transcription/live", headers=AUTH).json()
    assert status["enabled"] is False and status["queues"] == []
    assert (status["active"], status["fallbacks"], status["audiosocket"]["connections"]) == (
        0,
        0,
        0,
    )
    assert client.get("/api/alerts", headers=AUTH).json() == []
