"""Duplicates (并单) on SQLite and PostgreSQL: suggestions from the indexed candidates, the
merge with its links both ways, the merged ticket's citizen told (push-back) and called back
when the master is replied, the refusals, and the unmerge within its time limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.callbacks.service import CallbackService
from app.cases.loop import CaseLoop
from app.cases.service import new_draft, transition
from app.duplicates.service import DuplicateService
from app.intake.service import IntakeService
from app.models import Callback, PushBack, Ticket, TicketTransition
from casework.duplicates import MergeRefused
from casework.lifecycle import TicketState as S
from core.db import create_engine, session_factory
from core.duplicates import DuplicateSettings
from ivr.ports import SurveyAnswers
from tests.conftest import EXAMPLE_CATALOGUE
from tests.unit.test_callback_service import SH, ScriptedDialler, campaign
from tests.unit.test_caseloop import DISPATCHER, Clock, Events, build_loop, dept
from tests.unit.test_intake_service import PROVINCE, WEB, build, request

PHONE = "13800000031"


@dataclass
class Bed:
    engine: AsyncEngine
    clock: Clock
    intake: IntakeService
    loop: CaseLoop
    dups: DuplicateService
    callbacks: CallbackService

    async def phone_ticket(self, description: str, **fields: str) -> int:
        """A ticket the desk registered from a call (no channel)."""
        async with session_factory(self.engine).begin() as session:
            ticket = new_draft(session, PHONE, "12345", actor="ivr", category="城管")
            ticket.description = description
            for name, value in fields.items():
                setattr(ticket, name, value)
            await session.flush()
            transition(session, ticket, S.REGISTERED, actor="agent:1001")
            return ticket.id

    async def ticket(self, ticket_id: int) -> Ticket:
        async with session_factory(self.engine)() as session:
            found = await session.get(Ticket, ticket_id)
        assert found is not None
        return found

    async def rows(self, model: type[PushBack] | type[Callback], ticket_id: int) -> list:  # type: ignore[type-arg]
        async with session_factory(self.engine)() as session:
            stmt = select(model).where(model.ticket_id == ticket_id).order_by(model.id)
            return list((await session.scalars(stmt)).all())


@pytest.fixture
async def bed(db_url: str, tmp_path: Path) -> AsyncIterator[Bed]:
    engine = create_engine(db_url)
    clock = Clock()
    loop = build_loop(engine, clock, Events())
    await loop.departments.load_file(EXAMPLE_CATALOGUE, actor="t")
    sessions = session_factory(engine)
    callbacks = CallbackService(sessions, campaign(), SH, ScriptedDialler(), "n1", clock=clock)
    try:
        yield Bed(
            engine,
            clock,
            build(engine, clock, tmp_path / "files"),
            loop,
            DuplicateService(sessions, DuplicateSettings(), clock),
            callbacks,
        )
    finally:
        await engine.dispose()


async def test_suggestions_merge_push_back_and_callbacks(bed: Bed) -> None:
    master = await bed.phone_ticket(
        "人民路1号门口有人占道经营摆摊，影响通行", address="河东区人民路1号"
    )
    other = await bed.phone_ticket("小区垃圾没人清运", address="河东区光明街9号")
    bed.clock.now += timedelta(hours=2)
    web = await bed.intake.submit(
        WEB, request(description="人民路一号门口占道摆摊，行人没法走", address="人民路1号")
    )
    province = await bed.intake.submit(
        PROVINCE, request("p-1", phone="13900000077", description="夜市烧烤油烟大")
    )
    found = await bed.dups.suggestions(web.ticket_id)
    assert found[0].ticket.id == master
    assert other not in [s.ticket.id for s in found]
    top = found[0].suggestion
    assert top.same_caller and top.place > 0.8 and top.score >= 0.45

    merged = await bed.dups.merge(web.ticket_id, master, actor="agent:1001", reason="同一占道")
    assert (merged.state, merged.merged_into) == (S.MERGED, master)
    assert merged.merged_from is S.REGISTERED
    assert (await bed.ticket(master)).duplicates == [{"id": web.ticket_id, "channel": "web"}]
    assert await bed.dups.suggestions(web.ticket_id) == []  # merged: nothing to suggest
    pushed = await bed.rows(PushBack, web.ticket_id)
    assert pushed[-1].state == "merged" and pushed[-1].payload["merged_into"] == str(master)

    # The department replies to the master: the web citizen is told, and called back too.
    await bed.loop.dispatch(master, DISPATCHER, mode="direct", lead="cgj")
    await bed.loop.accept(master, dept("cgj"))
    await bed.loop.reply(master, dept("cgj"), "已清理", then=bed.callbacks.schedule_for)
    told = [p.payload for p in await bed.rows(PushBack, web.ticket_id)]
    assert [(p["state"], p.get("master_state")) for p in told[-3:]] == [
        ("merged", "dispatched"),
        ("merged", "accepted"),
        ("merged", "replied"),
    ]
    assert told[-1]["merged_into"] == str(master) and told[-1]["state_zh"] == "已并单"
    assert [c.number for c in await bed.rows(Callback, web.ticket_id)] == [PHONE]
    assert len(await bed.rows(Callback, master)) == 1
    # The merged ticket's callback is claimed while its master's is due; it stays merged.
    callback = (await bed.rows(Callback, web.ticket_id))[0]
    claimed = await bed.callbacks._claim(callback.id, bed.callbacks.campaign("default"))
    assert claimed is not None and claimed[1] == PHONE
    assert (await bed.ticket(web.ticket_id)).state is S.MERGED
    # Its citizen's ratings are kept; the merged ticket stays merged (the master's own
    # survey decides the master).
    answers = SurveyAnswers(
        service="1", outcome="2", comment_file=None, uniqueid="u", completed=True
    )
    await bed.callbacks.survey_finished(claimed[0], answers)
    rated = (await bed.rows(Callback, web.ticket_id))[0]
    assert (rated.status, rated.outcome_rating) == ("done", 2)
    assert (await bed.ticket(web.ticket_id)).state is S.MERGED
    # 办件查询: the web citizen follows the master's handling, without its number.
    progress = await bed.intake.track(web.ticket_number, web.query_code)
    assert progress is not None
    assert [s["step"] for s in progress["steps"]] == [
        "registered",
        "merged",
        "dispatched",
        "accepted",
        "replied",
    ]
    assert progress["status"] == "已合并办理：承办单位已答复"
    assert all(set(s) <= {"step", "label", "at", "department"} for s in progress["steps"])
    assert progress["ticket_number"] == web.ticket_number and PHONE not in str(progress)
    # The province's ticket, not merged, is untouched by the master's moves.
    assert [p.state for p in await bed.rows(PushBack, province.ticket_id)] == ["registered"]


async def test_merge_refusals(bed: Bed) -> None:
    a = await bed.phone_ticket("人民路占道经营")
    b = await bed.phone_ticket("人民路占道经营又来了")
    c = await bed.phone_ticket("人民路占道")
    with pytest.raises(MergeRefused, match="itself"):
        await bed.dups.merge(a, a, actor="t")
    with pytest.raises(LookupError):
        await bed.dups.merge(a, 99999, actor="t")
    await bed.dups.merge(b, a, actor="t")
    with pytest.raises(MergeRefused, match="registered ticket can be merged"):
        await bed.dups.merge(b, c, actor="t")  # already merged
    with pytest.raises(MergeRefused, match="master must still be in hand"):
        await bed.dups.merge(c, b, actor="t")  # into a merged ticket
    with pytest.raises(MergeRefused, match="is the master of"):
        await bed.dups.merge(a, c, actor="t")  # no chains
    await bed.loop.dispatch(c, DISPATCHER, mode="direct", lead="cgj")
    with pytest.raises(MergeRefused, match="dispatched"):
        await bed.dups.merge(c, a, actor="t")


async def test_unmerge_within_the_limit_by_a_supervisor(bed: Bed) -> None:
    master = await bed.phone_ticket("人民路占道经营")
    web = await bed.intake.submit(WEB, request())
    await bed.dups.merge(web.ticket_id, master, actor="agent:1001")
    bed.clock.now += timedelta(hours=23)
    back = await bed.dups.unmerge(web.ticket_id, actor="supervisor:boss", reason="不是同一件事")
    assert (back.state, back.merged_into, back.merged_at) == (S.REGISTERED, None, None)
    assert (await bed.ticket(master)).duplicates == []
    async with session_factory(bed.engine)() as session:
        moves = (
            await session.scalars(
                select(TicketTransition)
                .where(TicketTransition.ticket_id == web.ticket_id)
                .order_by(TicketTransition.id)
            )
        ).all()
    last = moves[-1]
    assert (last.from_state, last.to_state) == (S.MERGED, S.REGISTERED)
    assert last.actor == "supervisor:boss"
    assert last.reason is not None and "不是同一件事" in last.reason
    assert [p.state for p in await bed.rows(PushBack, web.ticket_id)][-2:] == [
        "merged",
        "registered",
    ]
    with pytest.raises(MergeRefused, match="not merged"):
        await bed.dups.unmerge(web.ticket_id, actor="supervisor:boss")
    # Merged again, and too late to undo.
    await bed.dups.merge(web.ticket_id, master, actor="agent:1001")
    bed.clock.now += timedelta(hours=24, seconds=1)
    with pytest.raises(MergeRefused, match="until"):
        await bed.dups.unmerge(web.ticket_id, actor="supervisor:boss")
