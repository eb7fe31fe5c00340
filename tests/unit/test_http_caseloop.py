"""The case loop at the HTTP edge: who may dispatch, claim, reply, review and supervise; a
department sees only its own tickets; attachments are checked by content and served only to
who may see the ticket; refusals are 4xx that name the problem."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.models import LiveAlert, Transcript
from app.runtime import Runtime
from core.db import session_factory
from tests.unit.call_events import inbound
from tests.unit.test_http_workflow import AUTH, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def registered(client: TestClient, uid: str, category: str = "噪音") -> int:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.portal is not None
    ticket_id = client.portal.call(rt.tickets.open_call, inbound(uid)).ticket_id
    body = {"category": category, "description": "夜间施工噪音", "register_ticket": True}
    assert client.patch(f"/api/tickets/{ticket_id}", json=body, headers=AUTH).status_code == 200
    assert ticket_id is not None
    return ticket_id


def post(client: TestClient, path: str, who: dict[str, str], **body: Any) -> Any:
    return client.post(path, json=body, headers=who)


def test_dispatch_grab_claim_reply_and_the_portal(client: TestClient) -> None:
    disp = sign_in(client, "zhao", "dispatcher")
    env = sign_in(client, "env", "department", department="sthjj")
    police = sign_in(client, "police", "department", department="gaj")
    hexi = sign_in(client, "hexi", "department", department="hexi")
    ticket_id = registered(client, "c.1")
    (row,) = client.get("/api/dispatch/queue", headers=disp).json()
    assert row["suggestion"] == {"lead": "sthjj", "assisting": ["gaj", "cgj"]}
    assert row["description"] == "夜间施工噪音"  # what the dispatcher reads (no summary yet)
    assert client.get("/api/dispatch/queue", headers=env).status_code == 403
    assert post(client, f"/api/tickets/{ticket_id}/dispatch", env, mode="grab").status_code == 403
    published = post(client, f"/api/tickets/{ticket_id}/dispatch", disp, mode="grab").json()
    assert (published["dispatch_mode"], published["department"]) == ("grab", None)
    assert published["grab_until"] and published["sign_due_at"]
    pool = client.get("/api/portal/tickets?view=pool", headers=police).json()
    assert [(r["id"], r["description"]) for r in pool] == [(ticket_id, "夜间施工噪音")]
    assert client.get("/api/portal/tickets?view=pool", headers=hexi).json() == []
    assert client.get(f"/api/tickets/{ticket_id}", headers=hexi).status_code == 404
    assert client.post(f"/api/tickets/{ticket_id}/claim", headers=hexi).status_code == 404
    won = client.post(f"/api/tickets/{ticket_id}/claim", headers=police)
    assert won.status_code == 200 and won.json()["state"] == "accepted"
    assert won.json()["seconds_left"] > 0 and won.json()["sla_status"] == "on_track"
    lost = client.post(f"/api/tickets/{ticket_id}/claim", headers=env)
    assert lost.status_code == 409 and "already claimed by gaj" in lost.json()["detail"]
    assert client.get(f"/api/tickets/{ticket_id}", headers=env).status_code == 404
    (mine,) = client.get("/api/portal/tickets?view=in_progress", headers=police).json()
    assert mine["id"] == ticket_id and mine["seconds_left"] > 0
    assert client.get("/api/portal/tickets?view=nope", headers=police).status_code == 422
    replied = post(client, f"/api/tickets/{ticket_id}/reply", police, text="已责令停工")
    assert replied.status_code == 200
    body = replied.json()
    assert body["state"] == "replied" and body["sla_status"] == "met"
    assert body["replies"][0]["text"] == "已责令停工" and body["callbacks"] == []  # not theirs
    assert len(client.get(f"/api/tickets/{ticket_id}", headers=AUTH).json()["callbacks"]) == 1
    again = post(client, f"/api/tickets/{ticket_id}/reply", police, text="再答复")
    assert again.status_code == 409 and "replied" in again.json()["detail"]


def test_attachments_are_checked_by_content_and_served_to_who_may_see(client: TestClient) -> None:
    disp = sign_in(client, "zhao", "dispatcher")
    cgj = sign_in(client, "cgj", "department", department="hedong.cgj")
    district = sign_in(client, "hedong", "department", department="hedong")
    other = sign_in(client, "hexi", "department", department="hexi")
    ticket_id = registered(client, "c.2", "城管")
    body = {"mode": "direct", "lead": "hedong.cgj"}
    assert post(client, f"/api/tickets/{ticket_id}/dispatch", disp, **body).status_code == 200
    path = f"/api/tickets/{ticket_id}/attachments"
    fake = client.post(path, files={"file": ("x.png", b"MZ not a png", "image/png")}, headers=cgj)
    assert fake.status_code == 415 and "not an allowed file" in fake.json()["detail"]
    done = client.post(path, files={"file": ("现场.png", PNG, "image/png")}, headers=cgj)
    assert done.status_code == 201, done.text
    attachment = done.json()
    assert (attachment["content_type"], attachment["size"]) == ("image/png", len(PNG))
    url = f"/api/attachments/{attachment['id']}"
    assert client.get(url, headers=district).content == PNG  # the district above sees it
    assert client.get(url, headers=other).status_code == 404
    refused = client.post(path, files={"file": ("a.png", PNG, "image/png")}, headers=other)
    assert refused.status_code == 404


def held_by_cgj(
    client: TestClient, uid: str, dispatcher: dict[str, str], cgj: dict[str, str]
) -> int:
    """A 城管 ticket dispatched directly to cgj, who signed for it."""
    ticket_id = registered(client, uid, "城管")
    post(client, f"/api/tickets/{ticket_id}/dispatch", dispatcher, mode="direct", lead="cgj")
    assert client.post(f"/api/tickets/{ticket_id}/accept", headers=cgj).status_code == 200
    return ticket_id


def test_disputes_extensions_and_supervision_by_role(client: TestClient) -> None:
    zhao = sign_in(client, "zhao", "dispatcher")
    qian = sign_in(client, "qian", "dispatcher")
    boss = sign_in(client, "boss", "supervisor")
    cgj = sign_in(client, "cgj", "department", department="cgj")
    ticket_id = registered(client, "c.3", "城管")
    post(client, f"/api/tickets/{ticket_id}/dispatch", zhao, mode="direct", lead="cgj")
    (to_sign,) = client.get("/api/portal/tickets?view=to_sign", headers=cgj).json()
    assert to_sign["sign_seconds_left"] > 0 and to_sign["sign_overdue_at"] is None
    assert to_sign["seconds_left"] is None  # the reply clock starts at 签收
    assert client.post(f"/api/tickets/{ticket_id}/accept", headers=cgj).status_code == 200
    ext = post(client, f"/api/tickets/{ticket_id}/extensions", cgj, days=2, reason="需协调")
    assert ext.status_code == 201
    decide = f"/api/extensions/{ext.json()['id']}/decide"
    assert post(client, decide, zhao, approve=True).status_code == 403
    assert post(client, decide, boss, approve=True, note="同意").json()["status"] == "approved"
    sup = post(client, f"/api/tickets/{ticket_id}/supervisions", boss, level="onsite", note="到场")
    assert sup.json()["supervised"] is True
    assert sup.json()["supervisions"][-1]["level"] == "onsite"
    assert client.get(f"/api/tickets/{ticket_id}", headers=cgj).json()["supervisions"]
    dispute = post(client, f"/api/tickets/{ticket_id}/disputes", cgj, reason="应由区城管处理")
    assert dispute.status_code == 201
    dispute_id = dispute.json()["id"]
    review = {"decision": "approve", "note": "属实", "new_department": "hedong.cgj"}
    assert post(client, f"/api/disputes/{dispute_id}/review", cgj, **review).status_code == 403
    assert post(client, f"/api/disputes/{dispute_id}/review", zhao, **review).status_code == 200
    same = post(client, f"/api/disputes/{dispute_id}/confirm", zhao, note="")
    assert same.status_code == 409 and "different reviewer" in same.json()["detail"]
    assert post(client, f"/api/disputes/{dispute_id}/confirm", qian).status_code == 200
    ticket = client.get(f"/api/tickets/{ticket_id}", headers=AUTH).json()
    assert (ticket["state"], ticket["department"]) == ("dispatched", "hedong.cgj")
    assert ticket["disputes"][0]["status"] == "confirmed"
    assert ticket["extensions"][0]["status"] == "approved"
    assert client.get(f"/api/tickets/{ticket_id}", headers=cgj).status_code == 404
    summary = client.get("/api/supervision/summary", headers=boss).json()
    assert summary["disputes_pending"] == 0 and summary["extensions_pending"] == 0
    assert summary["sign_overdue"] == 0
    assert client.get("/api/supervision/summary", headers=cgj).status_code == 403


def test_the_desk_sets_the_district_and_the_suggestion_follows_it(client: TestClient) -> None:
    disp = sign_in(client, "zhao", "dispatcher")
    ticket_id = registered(client, "c.4", "城管")
    path = f"/api/tickets/{ticket_id}"
    (row,) = client.get("/api/dispatch/queue", headers=disp).json()
    assert (row["district"], row["suggestion"]["lead"]) == (None, "cgj")
    saved = client.patch(path, json={"district": "hexi"}, headers=AUTH)
    assert saved.status_code == 200 and saved.json()["district"] == "hexi"
    (row,) = client.get("/api/dispatch/queue", headers=disp).json()
    assert (row["district"], row["suggestion"]["lead"]) == ("hexi", "hexi.cgj")
    for wrong in ("hexi.cgj", "ghost"):  # a bureau, an unknown code
        refused = client.patch(path, json={"district": wrong}, headers=AUTH)
        assert refused.status_code == 422, refused.text
        assert "not a district" in refused.json()["detail"]
        assert "hedong, hexi" in refused.json()["detail"]
    assert client.get(path, headers=AUTH).json()["district"] == "hexi"  # kept
    assert client.patch(path, json={"district": ""}, headers=AUTH).json()["district"] is None


def test_admins_create_move_and_deactivate_departments(client: TestClient) -> None:
    boss = sign_in(client, "boss", "supervisor")
    body = {"code": "hexi.xfb", "name": "河西区信访办", "kind": "bureau", "parent": "hexi"}
    assert client.post("/api/departments", json=body, headers=boss).status_code == 403
    made = client.post("/api/departments", json=body, headers=AUTH)
    assert made.status_code == 201 and made.json()["active"] is True
    again = client.post("/api/departments", json=body, headers=AUTH)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    bad = client.post("/api/departments", json={**body, "code": "a b"}, headers=AUTH)
    assert bad.status_code == 422
    orphan = client.post(
        "/api/departments", json={**body, "code": "y", "parent": "ghost"}, headers=AUTH
    )
    assert orphan.status_code == 422 and "unknown parent department 'ghost'" in orphan.text
    path = "/api/departments/hexi.xfb"
    top = client.patch(path, json={"name": "市信访局", "parent": None}, headers=AUTH)
    assert top.status_code == 200 and (top.json()["name"], top.json()["parent"]) == (
        "市信访局",
        None,
    )
    renamed = client.patch(path, json={"name": "市信访办"}, headers=AUTH).json()
    assert renamed["parent"] is None  # a field not sent stays as it is
    cycle = client.patch("/api/departments/hexi", json={"parent": "hexi"}, headers=AUTH)
    assert cycle.status_code == 422 and "cycle: hexi → hexi" in cycle.json()["detail"]
    busy = client.patch("/api/departments/cgj", json={"active": False}, headers=AUTH)
    assert busy.status_code == 409 and "catalogue entries name it" in busy.json()["detail"]
    assert (
        client.patch("/api/departments/ghost", json={"name": "x"}, headers=AUTH).status_code == 404
    )
    off = client.patch(path, json={"active": False}, headers=AUTH)
    assert off.status_code == 200 and off.json()["active"] is False
    changes = client.get("/api/catalogue/changes", headers=boss).json()
    assert [c["action"] for c in changes[:4]] == [
        "department.deactivate",
        "department.update",
        "department.update",
        "department.create",
    ]
    assert changes[0]["before"]["name"] == "市信访办" and changes[0]["actor"].startswith("admin:")


def test_departments_and_catalogue_routes(client: TestClient) -> None:
    agent = sign_in(client, "li", "agent", "1001")
    boss = sign_in(client, "boss", "supervisor")
    departments = client.get("/api/departments", headers=agent).json()
    hedong = next(d for d in departments if d["code"] == "hedong")
    assert hedong["kind"] == "district" and hedong["children_count"] > 0
    assert {"category": "噪音"} in client.get("/api/catalogue/categories", headers=agent).json()
    found = client.get("/api/catalogue/suggest?category=供暖&district=linjiang", headers=agent)
    assert found.json() == {"lead": "linjiang.heat", "assisting": ["linjiang.cgj"]}
    none = client.get("/api/catalogue/suggest?category=火星", headers=agent).json()
    assert none == {"lead": None, "assisting": []}
    entry = {"category": "噪音", "district": None, "lead": "sthjj", "assisting": ["gaj"]}
    assert client.put("/api/catalogue", json=entry, headers=boss).status_code == 403
    put = client.put("/api/catalogue", json=entry, headers=AUTH)
    assert put.status_code == 200 and put.json()["assisting"] == ["gaj"]
    bad = client.put("/api/catalogue", json={**entry, "lead": "ghost"}, headers=AUTH)
    assert bad.status_code == 422 and "unknown department 'ghost'" in bad.json()["detail"]
    nolead = client.put("/api/catalogue", json={**entry, "lead": None}, headers=AUTH)
    assert nolead.status_code == 422 and "no lead" in nolead.json()["detail"]
    (change, *_) = client.get("/api/catalogue/changes", headers=boss).json()
    assert change["action"] == "entry.put" and change["after"]["assisting"] == ["gaj"]
    assert client.delete(f"/api/catalogue/{put.json()['id']}", headers=AUTH).status_code == 204
    assert client.delete(f"/api/catalogue/{put.json()['id']}", headers=AUTH).status_code == 404
    bad_user = {"username": "x1", "password": "long-enough-pw", "role": "department"}
    refused = client.post("/api/users", json={**bad_user, "department": "ghost"}, headers=AUTH)
    assert refused.status_code == 409 and "no department 'ghost'" in refused.json()["detail"]


def test_the_review_list_shows_what_waits_and_who_asked(client: TestClient) -> None:
    """/dispatch reads its 审核/复核 and 延期 lists from GET /api/dispatch/reviews: a dispute
    stays listed until the second reviewer confirms; an extension names its department."""
    zhao = sign_in(client, "zhao", "dispatcher")
    qian = sign_in(client, "qian", "dispatcher")
    cgj = sign_in(client, "cgj", "department", department="cgj")
    ticket_id = held_by_cgj(client, "c.4", zhao, cgj)
    ext = post(client, f"/api/tickets/{ticket_id}/extensions", cgj, days=2, reason="需协调").json()
    dispute = post(client, f"/api/tickets/{ticket_id}/disputes", cgj, reason="非本单位职责").json()
    assert client.get("/api/dispatch/reviews", headers=cgj).status_code == 403
    reviews = client.get("/api/dispatch/reviews", headers=zhao).json()
    assert [(d["id"], d["ticket_id"], d["status"]) for d in reviews["disputes"]] == [
        (dispute["id"], ticket_id, "pending")
    ]
    assert [(x["id"], x["department"], x["days"]) for x in reviews["extensions"]] == [
        (ext["id"], "cgj", 2)
    ]
    post(client, f"/api/disputes/{dispute['id']}/review", zhao, decision="approve", note="属实")
    (approved,) = client.get("/api/dispatch/reviews", headers=qian).json()["disputes"]
    assert (approved["status"], approved["reviewed_by"]) == ("approved", "dispatcher:zhao")
    post(client, f"/api/disputes/{dispute['id']}/confirm", qian)
    assert client.get("/api/dispatch/reviews", headers=qian).json()["disputes"] == []


def test_a_department_sees_the_request_not_the_centres_or_other_departments_records(
    client: TestClient,
) -> None:
    """The handler gets the citizen's number and request and its own records; not the call
    (recording paths), transcript, live alert, agent, nor another department's dispute."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    zhao, qian = sign_in(client, "zhao", "dispatcher"), sign_in(client, "qian", "dispatcher")
    boss = sign_in(client, "boss", "supervisor")
    east = sign_in(client, "east", "department", department="hedong.cgj")
    west = sign_in(client, "west", "department", department="hexi.cgj")
    ticket_id = registered(client, "c.5", "城管")

    async def heard() -> None:
        async with session_factory(rt.engine).begin() as session:
            call_id = f"{rt.settings.node_id}:c.5"
            session.add(
                Transcript(
                    call_id=call_id,
                    ticket_id=ticket_id,
                    text="市民：…",
                    lines=[],
                    alerts=[],
                    model="m",
                )
            )
            session.add(
                LiveAlert(
                    call_id=call_id, ticket_id=ticket_id, category="fire", phrase="着火", offset=1
                )
            )

    assert client.portal is not None
    client.portal.call(heard)
    body = {"mode": "direct", "lead": "hedong.cgj", "note": "请核实"}
    assert post(client, f"/api/tickets/{ticket_id}/dispatch", zhao, **body).status_code == 200
    dispute = post(client, f"/api/tickets/{ticket_id}/disputes", east, reason="该路段属河西区")
    review = {"decision": "approve", "new_department": "hexi.cgj"}
    post(client, f"/api/disputes/{dispute.json()['id']}/review", zhao, **review)
    post(client, f"/api/disputes/{dispute.json()['id']}/confirm", qian)
    accepted = client.post(f"/api/tickets/{ticket_id}/accept", headers=west).json()
    full = client.get(f"/api/tickets/{ticket_id}", headers=boss).json()
    assert full["calls"][0]["recording_in"] and full["transcripts"] and full["alerts"]
    assert full["disputes"] and full["transitions"][0]["to_state"] == "draft"
    for seen in (accepted, client.get(f"/api/tickets/{ticket_id}", headers=west).json()):
        assert seen["caller"] == "13800000001" and seen["description"] == "夜间施工噪音"
        assert (seen["calls"], seen["transfers"], seen["transcripts"], seen["alerts"]) == (
            [],
            [],
            [],
            [],
        )
        assert seen["callbacks"] == [] and seen["agent_id"] is None
        assert seen["disputes"] == []  # hedong.cgj's dispute is not hexi.cgj's business
        history = seen["transitions"]
        assert history[0]["to_state"] == "dispatched" and history[0]["reason"] == "直接派单: 请核实"
        (disputed,) = [t for t in history if t["to_state"] == "disputed"]
        assert disputed["reason"] is None and disputed["actor"] == "department:east"
        assert history[-1]["to_state"] == "accepted" and history[-1]["reason"] == "签收"
    assert "recording" not in str(client.get(f"/api/tickets/{ticket_id}", headers=west).json())
    assert client.get(f"/api/tickets/{ticket_id}", headers=east).status_code == 404
