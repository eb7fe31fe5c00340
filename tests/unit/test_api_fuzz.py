"""Schemathesis over the whole OpenAPI description, as every role: whatever a client sends,
no route answers with a server error. The app runs with its lifespan (database, FastAGI,
AMI retrying against a port where nothing listens), as in the HTTP edge tests.

Cases are generated from the schema the app serves at /api/openapi.json (built here without
starting the app, so pytest can name one test per operation).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from app.auth.service import Role
from app.main import create_app
from app.migrate import upgrade
from tests.conftest import TEST_TOKEN, make_settings

SCHEMA = schemathesis.openapi.from_dict(
    create_app(make_settings(Path(tempfile.gettempdir()) / "hotline-fuzz-schema")).openapi()
)
# What a request carries to the app (schemathesis also offers transport-specific extras).
REQUEST_KEYS = ("method", "url", "headers", "params", "json", "content", "files", "data")
PASSWORD = "fuzz-password-0123"


def _user(role: Role) -> dict[str, Any]:
    body: dict[str, Any] = {"username": f"fuzz-{role.value}", "password": PASSWORD, "role": role}
    if role is Role.AGENT:
        body["agent_id"] = "1001"
    if role is Role.DEPARTMENT:
        body["department"] = "hedong"  # a district of dispatch.example.toml, with streets below
    return body


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings_ = make_settings(tmp_path_factory.mktemp("fuzz"))
    upgrade(settings_.db_url)
    with TestClient(create_app(settings_)) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(app_client: TestClient) -> dict[str, str]:
    """A bearer token per role (the service token is the admin's)."""
    found = {"service": TEST_TOKEN}
    service = {"Authorization": f"Bearer {TEST_TOKEN}"}
    for role in Role:
        if role is Role.ADMIN:
            continue
        body = _user(role)
        assert app_client.post("/api/users", json=body, headers=service).status_code == 201
        login = app_client.post(
            "/api/login", json={"username": body["username"], "password": PASSWORD}
        )
        found[role.value] = login.json()["token"]
    return found


def _server_error(status: int, body: str) -> bool:
    # Asterisk is not running here: an action that needs it is a clear 503, by design.
    return status >= 500 and not (status == 503 and '"Asterisk' in body)


@SCHEMA.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_route_answers_a_server_error(
    case: Any, app_client: TestClient, tokens: dict[str, str]
) -> None:
    for role, token in tokens.items():
        kwargs = case.as_transport_kwargs(
            base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}
        )
        resp = app_client.request(**{k: v for k, v in kwargs.items() if k in REQUEST_KEYS})
        assert not _server_error(resp.status_code, resp.text), (
            f"{case.method} {case.formatted_path} as {role}: {resp.status_code} {resp.text[:300]}"
        )
