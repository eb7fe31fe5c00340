"""Intake at the HTTP edge: the channels' signed API (404 unknown channel, 401 bad signature,
409 replayed key with another body, 413/415 attachments), the provincial import's report,
the outbox for supervisors, and the citizen's public routes with their rate limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.intake.service import sign
from app.main import create_app
from app.migrate import upgrade
from tests.conftest import make_settings
from tests.unit.test_http_workflow import AUTH, sign_in

WEB_SECRET = "web-channel-secret-0123456789abcdef"
PROVINCE_SECRET = "province-secret-0123456789abcdefgh"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        intake={
            "channels": [
                {"name": "web", "kind": "web", "secret": WEB_SECRET},
                {
                    "name": "province",
                    "kind": "province",
                    "auth": "api_key",
                    "secret": PROVINCE_SECRET,
                },
            ],
            "form_per_phone": {"count": 2, "seconds": 3600},
            "track_failures_per_address": {"count": 3, "seconds": 600},
        },
    )
    upgrade(settings.db_url)
    with TestClient(create_app(settings)) as c:
        yield c


def signed(client: TestClient, path: str, body: Any, secret: str = WEB_SECRET, **kw: Any) -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(kw.pop("stamp", int(time.time())))
    headers = {
        "Content-Type": "application/json",
        "X-Hotline-Timestamp": stamp,
        "X-Hotline-Signature": sign(secret, stamp, raw),
    }
    return client.post(path, content=raw, headers=headers)


REQUEST = {
    "external_id": "wx-1001",
    "category": "城管",
    "description": "小区门口占道经营",
    "phone": "13800000041",
    "attachments": [{"filename": "现场.png", "content_base64": base64.b64encode(PNG).decode()}],
}


def test_a_channel_request_is_signed_idempotent_and_checked(client: TestClient) -> None:
    path = "/api/intake/web/requests"
    assert signed(client, "/api/intake/nope/requests", REQUEST).status_code == 404
    assert signed(client, path, REQUEST, secret="x" * 30).status_code == 401
    old = signed(client, path, REQUEST, stamp=int(time.time()) - 3600)
    assert old.status_code == 401 and "timestamp" in old.json()["detail"]
    raw = client.post(path, json=REQUEST)
    assert raw.status_code == 401  # unsigned
    made = signed(client, path, REQUEST)
    assert made.status_code == 201, made.text
    number = made.json()["ticket_number"]
    again = signed(client, path, REQUEST)
    assert again.status_code == 200 and again.json()["ticket_number"] == number
    changed = signed(client, path, {**REQUEST, "description": "别的事"})
    assert changed.status_code == 409
    fake = {
        **REQUEST,
        "external_id": "wx-2",
        "attachments": [{"filename": "a.png", "content_base64": "TVo="}],
    }
    assert signed(client, path, fake).status_code == 415
    assert signed(client, path, {**REQUEST, "external_id": "bad id!"}).status_code == 422
    stamp = str(int(time.time()))
    broken = client.post(
        path,
        content=b"{not json",
        headers={
            "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": sign(WEB_SECRET, stamp, b"{not json"),
        },
    )
    assert broken.status_code == 400
    ticket = client.get(f"/api/tickets/{number}", headers=AUTH).json()
    assert ticket["state"] == "registered" and ticket["source"] == "web:web"
    assert ticket["channel"] == "web" and ticket["first_reply_status"] == "pending"
    assert [a["filename"] for a in ticket["attachments"]] == ["现场.png"]
    # The API key channel.
    keyed = client.post(
        "/api/intake/province/requests", json=REQUEST, headers={"X-Api-Key": PROVINCE_SECRET}
    )
    assert keyed.status_code == 201
    bad_key = client.post(
        "/api/intake/province/requests", json=REQUEST, headers={"X-Api-Key": "no"}
    )
    assert bad_key.status_code == 401


def test_the_provincial_import_reports_each_row(client: TestClient) -> None:
    csv = (
        "external_id,category,description,phone,contact_consent\n"
        "sj-1,供水,停水两天,13800000042,是\n"
        "sj-2,供水,,13800000043,否\n"
        "sj-3,不存在的类别,描述,13800000044,\n"
    ).encode()
    headers = {"X-Api-Key": PROVINCE_SECRET, "Content-Type": "text/csv"}
    out = client.post("/api/intake/province/import", content=csv, headers=headers)
    assert out.status_code == 200, out.text
    report = out.json()
    assert (report["created"], report["rejected"]) == (1, 2)
    assert [r["outcome"] for r in report["rows"]] == ["created", "rejected", "rejected"]
    assert "description" in report["rows"][1]["reason"]
    again = client.post("/api/intake/province/import", content=csv, headers=headers).json()
    assert again["unchanged"] == 1 and again["created"] == 0
    as_json = client.post(
        "/api/intake/province/import",
        json={"records": [{"external_id": "sj-9", "category": "噪音", "description": "施工"}]},
        headers={"X-Api-Key": PROVINCE_SECRET},
    )
    assert as_json.json()["created"] == 1
    web = signed(client, "/api/intake/web/import", [])
    assert web.status_code == 403
    boss = sign_in(client, "boss", "supervisor")
    agent = sign_in(client, "li", "agent", agent_id="1001")
    rows = client.get("/api/intake/outbox", headers=boss).json()
    assert {r["state"] for r in rows} == {"registered"} and len(rows) == 2
    assert client.get("/api/intake/outbox", headers=agent).status_code == 403
    assert client.get("/api/intake/outbox").status_code == 401
    # 重试 only a failed or retrying delivery (these are skipped: no webhook), supervisors only.
    row_id = rows[0]["id"]
    assert client.post(f"/api/intake/outbox/{row_id}/retry", headers=agent).status_code == 403
    refused = client.post(f"/api/intake/outbox/{row_id}/retry", headers=boss)
    # The worker may not have marked the row skipped yet (pending): neither is retried.
    assert refused.status_code == 409 and "not retried" in refused.json()["detail"]
    assert client.post("/api/intake/outbox/99999/retry", headers=boss).status_code == 404


def test_the_web_form_asks_for_confidential_handling(client: TestClient) -> None:
    """保密件 from the public form: with the box ticked the ticket is confidential (masked as
    app.cases.confidential says); without it, a plain ticket."""
    plain, secret = form(client), form(client, phone="13800000054", confidential="true")
    assert plain.status_code == secret.status_code == 201, secret.text
    boss = sign_in(client, "boss", "supervisor")
    got = {
        r.json()["ticket_number"]: client.get(
            f"/api/tickets/{r.json()['ticket_number']}", headers=boss
        ).json()
        for r in (plain, secret)
    }
    flags = [t["confidential"] for t in got.values()]
    assert flags == [False, True]


def form(client: TestClient, phone: str = "13800000051", **extra: Any) -> Any:
    data = {"category": "城管", "description": "路灯不亮", "phone": phone, "address": "东关街"}
    data.update(extra)
    files = [("files", ("灯.png", PNG, "image/png"))]
    return client.post("/api/public/requests", data=data, files=files)


def test_the_web_form_and_tracking_are_public_and_limited(client: TestClient) -> None:
    assert client.get("/form").status_code == 200 and client.get("/track").status_code == 200
    assert "城管" in client.get("/api/public/categories").json()
    made = form(client, contact_consent="true")
    assert made.status_code == 201, made.text
    number, code = made.json()["ticket_number"], made.json()["query_code"]
    wrong = client.post(
        "/api/public/requests",
        data={"category": "城管", "description": "x", "phone": "13800000052"},
        files=[("files", ("a.pdf", b"MZ not a pdf", "application/pdf"))],
    )
    assert wrong.status_code == 415
    assert form(client).status_code == 201
    limited = form(client)
    assert limited.status_code == 429 and "该手机号提交过于频繁" in limited.json()["detail"]
    assert int(limited.headers["retry-after"]) > 0
    assert form(client, phone="13800000053").status_code == 201  # another phone
    good = client.post("/api/public/track", json={"ticket_number": number, "query_code": code})
    assert good.status_code == 200
    body = good.json()
    assert [s["step"] for s in body["steps"]] == ["registered"]
    assert (body["status"], body["status_step"]) == ("已受理", "registered")  # a page translates
    assert "13800000051" not in good.text and "东关街" not in good.text
    unknown = client.post("/api/public/track", json={"ticket_number": "99999", "query_code": code})
    bad = client.post(
        "/api/public/track", json={"ticket_number": number, "query_code": "AAAAAAAAAA"}
    )
    assert unknown.status_code == bad.status_code == 404 and unknown.json() == bad.json()
    client.post("/api/public/track", json={"ticket_number": number, "query_code": "B"})
    stopped = client.post("/api/public/track", json={"ticket_number": number, "query_code": code})
    assert stopped.status_code == 429 and "查询失败次数过多" in stopped.json()["detail"]
