"""Users and roles: argon2 hashes, sessions that expire and end, the API token as the service
credential, a role check on every route, and ``hotline user add``."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.websockets import WebSocketDisconnect

from app.auth.service import SERVICE, AuthError, Role, UserService, hash_password, verify_password
from app.main import create_app
from app.migrate import upgrade
from app.models import User, UserSession
from core.db import create_engine, session_factory
from core.events import utcnow
from core.settings import Settings
from hotline.errors import SetupError
from hotline.users import run_user_command
from tests.conftest import TEST_TOKEN

SERVICE_AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
PW = "correct horse battery"


def test_password_hash_is_argon2id_and_verifies() -> None:
    stored = hash_password(PW)
    assert stored.startswith("$argon2id$") and PW not in stored
    assert verify_password(stored, PW)
    assert not verify_password(stored, PW + "x")
    assert not verify_password("not-a-hash", PW)
    with pytest.raises(AuthError, match="at least 10"):
        hash_password("short")


async def test_login_resolve_expire_and_logout(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        users = UserService(sessions, TEST_TOKEN)
        await users.create_user("li", PW, Role.AGENT, agent_id="1001")
        with pytest.raises(AuthError, match="already taken"):
            await users.create_user("li", PW, Role.SUPERVISOR)
        with pytest.raises(AuthError, match="extension"):
            await users.create_user("zhao", PW, Role.AGENT)
        with pytest.raises(AuthError, match="wrong username or password"):
            await users.login("li", "wrong password!")
        with pytest.raises(AuthError, match="wrong username or password"):
            await users.login("nobody", PW)

        token, who, _ = await users.login("li", PW)
        assert (who.role, who.agent_id, who.actor) == (Role.AGENT, "1001", "agent:1001")
        assert await users.resolve(token) == who
        assert await users.resolve(TEST_TOKEN) is SERVICE
        assert await users.resolve("made-up") is None
        async with sessions() as s:  # only the digest is stored
            assert token not in {row.token_hash for row in (await s.scalars(select(UserSession)))}

        async with sessions.begin() as s:
            await s.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert await users.resolve(token) is None

        token, _, _ = await users.login("li", PW)
        await users.logout(token)
        assert await users.resolve(token) is None

        token, _, _ = await users.login("li", PW)
        await users.set_password("li", PW + "!")  # signs every session out
        assert await users.resolve(token) is None
    finally:
        await engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    upgrade(settings.db_url)
    with TestClient(create_app(settings)) as c:
        for name, role, agent in (
            ("li", "agent", "1001"),
            ("wang", "agent", "1002"),
            ("boss", "supervisor", None),
            ("dept", "department", None),
        ):
            resp = c.post(
                "/api/users",
                headers=SERVICE_AUTH,
                json={
                    "username": name,
                    "password": PW,
                    "role": role,
                    "agent_id": agent,
                    "department": "jtj" if role == "department" else None,
                },
            )
            assert resp.status_code == 201, resp.text
        yield c


def _auth(client: TestClient, username: str) -> dict[str, str]:
    resp = client.post("/api/login", json={"username": username, "password": PW})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def test_sign_in_and_out_over_http(client: TestClient) -> None:
    bad = client.post("/api/login", json={"username": "li", "password": "nope"})
    assert bad.status_code == 401 and bad.json()["detail"] == "wrong username or password"
    assert client.post("/api/login", json={"username": "li"}).status_code == 422
    li = _auth(client, "li")
    assert client.get("/api/me", headers=li).json() == {
        "username": "li",
        "role": "agent",
        "agent_id": "1001",
        "display_name": "",
        "department": None,
    }
    assert client.post("/api/logout", headers=li).status_code == 204
    assert client.get("/api/me", headers=li).status_code == 401


def test_roles_are_checked(client: TestClient) -> None:
    li, boss, dept = _auth(client, "li"), _auth(client, "boss"), _auth(client, "dept")
    cases = [
        ("GET", "/api/stats/numbers", li, 403),
        ("GET", "/api/stats/numbers", boss, 200),
        ("GET", "/api/transcription/jobs", li, 403),
        ("GET", "/api/calls", dept, 403),
        ("GET", "/api/calls", li, 200),
        ("GET", "/api/agents", li, 403),
        ("GET", "/api/agents", boss, 200),
        ("GET", "/api/agents/1002", li, 403),  # another agent's state
        ("GET", "/api/agents/1001", li, 200),
        ("GET", "/api/users", boss, 403),
        ("GET", "/api/wallboard", li, 403),
        ("GET", "/api/wallboard", boss, 200),
        ("POST", "/api/agents/1001/spy", li, 403),
        ("GET", "/api/users", SERVICE_AUTH, 200),
        ("POST", "/api/agents/1002/login", li, 403),
        ("GET", "/api/tickets/1", dept, 404),  # may read tickets; this one does not exist
        ("PATCH", "/api/tickets/1", dept, 403),
    ]
    for method, path, headers, expected in cases:
        resp = client.request(method, path, headers=headers, json={})
        assert resp.status_code == expected, (method, path, resp.text)
    # An agent works missed calls only as itself.
    resp = client.post("/api/missed-calls/1/claim", headers=li, json={"agent_id": "1002"})
    assert resp.status_code == 403


def test_every_api_route_requires_a_principal(client: TestClient) -> None:
    """No route under /api answers without a token, except sign-in and health."""
    open_routes = {"/api/health", "/api/login"}
    app = client.app
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIWebSocketRoute) or not isinstance(route, APIRoute):
            continue
        if not route.path.startswith("/api") or route.path in open_routes:
            continue
        path = route.path.replace("{ticket_id}", "1").replace("{agent_id}", "1001")
        path = path.replace("{call_id}", "x").replace("{transfer_id}", "1")
        path = path.replace("{entry_id}", "1").replace("{action}", "claim")
        for method in route.methods:
            resp = client.request(method, path, json={})
            assert resp.status_code == 401, (method, path, resp.status_code)


def test_agent_socket_only_for_its_agent(client: TestClient) -> None:
    li = _auth(client, "li")["Authorization"].removeprefix("Bearer ")
    boss = _auth(client, "boss")["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/ws/agents/1001?token={li}") as ws:
        assert ws.receive_json() == {"event": "hello", "agent_id": "1001"}
    with client.websocket_connect(f"/ws/agents/1002?token={boss}") as ws:
        assert ws.receive_json()["agent_id"] == "1002"
    with (
        pytest.raises(WebSocketDisconnect) as exc,
        client.websocket_connect(f"/ws/agents/1002?token={li}") as ws,
    ):
        ws.receive_text()
    assert exc.value.code == 1008


def test_user_command_prints_a_generated_password_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    def args(**kw: object) -> argparse.Namespace:
        base = {"password_stdin": False, "agent": None, "name": ""}
        return argparse.Namespace(**{**base, **kw})

    run_user_command(settings, args(action="add", username="root", role="admin"))
    out = capsys.readouterr().out
    created, password_line = out.splitlines()
    assert created == "user root (admin) created"
    password = password_line.removeprefix("password: ")
    assert password != password_line and len(password) >= 16

    async def check() -> None:
        engine = create_engine(settings.db_url)
        try:
            users = UserService(session_factory(engine), TEST_TOKEN)
            _, who, _ = await users.login("root", password)
            assert who.role is Role.ADMIN
            async with session_factory(engine)() as s:
                stored = (await s.scalars(select(User))).one()
            assert password not in stored.password_hash
        finally:
            await engine.dispose()

    asyncio.run(check())
    with pytest.raises(SetupError, match="not in this node's agents"):
        run_user_command(settings, args(action="add", username="x", role="agent", agent="9999"))


def test_user_command_reads_stdin_and_lists_in_columns(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real newlines and tabs, and a password from stdin keeps its last letters (a password
    ending in "n" once lost them to a stripped literal backslash-n)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct-horse-batteryn\n"))
    ns = argparse.Namespace(
        action="add", username="li", role="agent", agent="1001", name="李敏", password_stdin=True
    )
    run_user_command(settings, ns)
    assert capsys.readouterr().out == "user li (agent) created\n"
    run_user_command(settings, argparse.Namespace(action="list"))
    assert capsys.readouterr().out == "li\tagent\t1001\t李敏\n"

    async def login() -> Role:
        engine = create_engine(settings.db_url)
        try:
            users = UserService(session_factory(engine), TEST_TOKEN)
            return (await users.login("li", "correct-horse-batteryn"))[1].role
        finally:
            await engine.dispose()

    assert asyncio.run(login()) is Role.AGENT


def test_desk_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/desk")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'lang="zh-CN"' in page.text and "座席工作台" in page.text
    assert "班长监控" in client.get("/wallboard").text
    assert "承办单位工作台" in client.get("/portal").text
    assert "派单工作台" in client.get("/dispatch").text
    assert "知识库" in client.get("/kb").text
    assets = ["desk.js", "desk.css", "wallboard.js", "common.js", "portal.js", "dispatch.js"]
    assets.append("kb.js")
    for asset in assets:
        assert client.get(f"/static/{asset}").status_code == 200, asset
    # No data in the HTML: the API has it.
    for page_html in ("/desk", "/portal", "/dispatch", "/kb"):
        assert "common.js" in client.get(page_html).text
    assert client.get("/", follow_redirects=False).headers["location"] == "/desk"


def test_dial_checks_the_number_and_needs_asterisk(client: TestClient) -> None:
    li = _auth(client, "li")
    other = client.post("/api/agents/1002/dial", headers=li, json={"number": "13800000001"})
    assert other.status_code == 403
    bad = client.post("/api/agents/1001/dial", headers=li, json={"number": "12; Hangup"})
    assert bad.status_code == 422
    down = client.post("/api/agents/1001/dial", headers=li, json={"number": "13800000001"})
    assert down.status_code == 503 and down.json()["detail"].startswith("Asterisk:")


def test_hangup_of_an_unknown_call_is_404_and_needs_staff(client: TestClient) -> None:
    li, dept = _auth(client, "li"), _auth(client, "dept")
    assert client.post("/api/calls/n1:1.1/hangup", headers=dept).status_code == 403
    resp = client.post("/api/calls/n1:1.1/hangup", headers=li)
    assert resp.status_code == 404 and "does not exist" in resp.json()["detail"]
