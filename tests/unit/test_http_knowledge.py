"""The knowledge base at the HTTP edge, on SQLite and PostgreSQL: articles edited by admins
and departments (their own only), versions readable, search with odd characters answered
with 200, and 答复并办结: the ticket answered directly, citing the article and its version,
the use counted, the callback scheduled as for any direct answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import make_settings
from tests.unit.test_http_confidential import call_in, take
from tests.unit.test_http_workflow import AUTH, sign_in

FUND = {"question": "公积金提取需要哪些材料", "answer": "身份证、银行卡和购房合同。",
        "category": "住房", "department": "hedong"}  # fmt: skip


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, database_url=db_url))) as c:
        yield c


def create(client: TestClient, who: dict[str, str], **body: Any) -> Any:
    made = client.post("/api/kb/articles", json={**FUND, **body}, headers=who)
    assert made.status_code == 201, made.text
    return made.json()


def search(client: TestClient, q: str, who: dict[str, str] = AUTH) -> list[Any]:
    found = client.get("/api/kb/search", params={"q": q}, headers=who)
    assert found.status_code == 200, found.text
    return found.json()  # type: ignore[no-any-return]


def test_answer_and_close_cites_the_article_and_counts_its_use(client: TestClient) -> None:
    agent = sign_in(client, "li", "agent", agent_id="1001")
    article = create(client, AUTH)
    edited = client.put(
        f"/api/kb/articles/{article['id']}",
        json={**FUND, "answer": "身份证和银行卡。"},
        headers=AUTH,
    ).json()
    assert edited["version"] == 2
    (hit,) = search(client, "市民问提取公积金要带什么", agent)
    assert (hit["id"], hit["version"], hit["use_count"]) == (article["id"], 2, 0)

    ticket_id = call_in(client, "kb.1")
    path = f"/api/tickets/{ticket_id}/direct-answer"
    cite = {"article_id": article["id"], "version": 2}
    # A draft is registered first (the desk saves with register_ticket, then answers).
    assert client.post(path, json=cite, headers=agent).status_code == 409
    take(client, ticket_id, agent)
    assert client.post(path, json={**cite, "version": 3}, headers=agent).status_code == 404
    answered = client.post(path, json=cite, headers=agent)
    assert answered.status_code == 200, answered.text
    ticket = answered.json()
    assert ticket["state"] == "answered"
    assert ticket["direct_answer"]["article_id"] == article["id"]
    assert ticket["direct_answer"]["version"] == 2
    assert ticket["direct_answer"]["actor"] == "agent:1001"
    assert "知识库文章" in ticket["transitions"][-1]["reason"]
    assert [c["status"] for c in ticket["callbacks"]] == ["pending"]  # as for any direct answer
    assert client.post(path, json=cite, headers=agent).status_code == 409  # once only
    listed = client.get("/api/kb/articles", headers=agent).json()
    assert [(a["id"], a["use_count"]) for a in listed] == [(article["id"], 1)]


def test_an_article_out_of_its_window_is_neither_offered_nor_cited(client: TestClient) -> None:
    agent = sign_in(client, "li", "agent", agent_id="1001")
    old = create(client, AUTH, valid_from="2020-01-01T00:00:00+08:00",
                 valid_to="2021-01-01T00:00:00+08:00")  # fmt: skip
    assert search(client, "公积金提取") == []
    expired = client.get("/api/kb/search", params={"q": "公积金", "include_expired": True})
    assert expired.status_code == 401  # every route needs a token
    ticket_id = call_in(client, "kb.2")
    take(client, ticket_id, agent)
    cite = {"article_id": old["id"], "version": 1}
    refused = client.post(f"/api/tickets/{ticket_id}/direct-answer", json=cite, headers=agent)
    assert refused.status_code == 409 and "not valid now" in refused.text
    ticket = client.get(f"/api/tickets/{ticket_id}", headers=agent).json()
    assert ticket["state"] == "registered" and ticket["direct_answer"] is None


def test_departments_manage_only_their_own_articles(client: TestClient) -> None:
    hedong = sign_in(client, "hd", "department", department="hedong")
    agent = sign_in(client, "li", "agent", agent_id="1001")
    ours = create(client, hedong)
    theirs = create(client, AUTH, department="hexi", question="河西区公积金提取")
    assert create(client, hedong, department="hedong.dongguan")["department"] == "hedong.dongguan"
    refused = client.post("/api/kb/articles", json={**FUND, "department": "hexi"}, headers=hedong)
    assert refused.status_code == 403
    assert client.post("/api/kb/articles", json=FUND, headers=agent).status_code == 403
    put = client.put(f"/api/kb/articles/{theirs['id']}", json=FUND, headers=hedong)
    assert put.status_code == 404  # another department's article does not exist for it
    assert client.get(f"/api/kb/articles/{theirs['id']}", headers=hedong).status_code == 404
    assert theirs["id"] not in {a["id"] for a in search(client, "公积金提取", hedong)}
    assert {a["id"] for a in search(client, "公积金提取", agent)} >= {ours["id"], theirs["id"]}
    # The agent answers with any department's article but edits none.
    put = client.put(f"/api/kb/articles/{ours['id']}", json=FUND, headers=agent)
    assert put.status_code == 403
    v1 = client.get(f"/api/kb/articles/{ours['id']}/versions/1", headers=agent)
    assert v1.status_code == 200 and v1.json()["answer"] == FUND["answer"]
    assert client.get(f"/api/kb/articles/{ours['id']}/versions/9", headers=agent).status_code == 404


@pytest.mark.parametrize(
    "q", ['"', '公积金" OR "x', "\x00", "NEAR(a b)", "' | '", "*", "🙂" * 100, "公" * 4000]
)
def test_odd_queries_are_answered_not_failed(client: TestClient, q: str) -> None:
    create(client, AUTH)
    assert isinstance(search(client, q), list)


def test_bad_articles_are_clear_4xx(client: TestClient) -> None:
    bad = [
        {**FUND, "question": ""},
        {**FUND, "answer": "有\x00空字符"},
        {**FUND, "valid_from": "2026-01-01T00:00:00"},  # no time zone
        {**FUND, "valid_from": "0001-01-01T00:00:00+14:00"},
        {**FUND, "department": "nowhere"},
        {**FUND, "valid_from": "2026-02-01T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"},
    ]
    for body in bad:
        status = client.post("/api/kb/articles", json=body, headers=AUTH).status_code
        assert status == 422, body
    too_long = client.get("/api/kb/search", params={"q": "长" * 4001}, headers=AUTH)
    assert too_long.status_code == 422
