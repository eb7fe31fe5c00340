"""The tickets' KPI facts (migration 0019) say what the audit trail says, on SQLite and
PostgreSQL: after every step of the case loop's real paths (the claim's prebuilt statements,
a dispute that moves the ticket to another department, a reopening and its second round, a
merge, a forced assignment by the sweep), every ticket's ``fact_*`` columns equal the rules
applied in Python to its transitions; and the migration's back-fill gives the same values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from sqlalchemy import event, select, text, update

from app.cases.loop import CaseLoop
from app.cases.service import as_utc, new_draft, transition
from app.models import AgentStateChange, Ticket, TicketTransition
from casework.lifecycle import TicketState
from core.db import session_factory
from tests.unit.test_caseloop import DISPATCHER, DISPATCHER_2, T0, Bed, dept
from tests.unit.test_caseloop import bed as bed

S = TicketState
MIGRATION = import_module("app.migrations.versions.0019_ticket_facts")
FACTS: tuple[str, ...] = MIGRATION.COLUMNS


def _first(moments: Iterable[datetime]) -> datetime | None:
    return min(moments, default=None)


def expected(
    ticket: Ticket, moves: list[TicketTransition], others: list[Ticket]
) -> dict[str, datetime | None]:
    """The rules, read straight off the trail and the caller's other tickets (what
    ``refresh_facts`` and ``refresh_prior`` must store)."""
    earlier = [
        e
        for e in others
        if ticket.caller is not None
        and e.caller == ticket.caller
        and e.id != ticket.id
        and e.state is not S.DRAFT
        and as_utc(e.created_at) < as_utc(ticket.created_at)
    ]
    same = [e for e in earlier if e.category == ticket.category]
    at = [(m.from_state, m.to_state, as_utc(m.at)) for m in moves]
    dispatched = as_utc(ticket.dispatched_at) if ticket.dispatched_at else None
    started = as_utc(ticket.reply_started_at) if ticket.reply_started_at else None
    return {
        "fact_registered_at": _first(
            t for f, to, t in at if to is S.REGISTERED and f in (None, S.DRAFT)
        ),
        "fact_answered_at": _first(t for _, to, t in at if to is S.ANSWERED),
        "fact_signed_at": _first(
            t for _, to, t in at if to is S.ACCEPTED and dispatched is not None and t >= dispatched
        ),
        "fact_replied_at": _first(
            t for _, to, t in at if to is S.REPLIED and started is not None and t >= started
        ),
        "fact_caller_prior_at": _first_of(earlier),
        "fact_matter_prior_at": _first_of(same),
    }


def _first_of(tickets: list[Ticket]) -> datetime | None:
    """The latest of the earlier tickets' creation times."""
    return max((as_utc(e.created_at) for e in tickets), default=None)


async def stored(bed: Bed) -> dict[int, dict[str, datetime | None]]:
    async with session_factory(bed.engine)() as session:
        rows = (
            await session.execute(select(Ticket.id, *(getattr(Ticket, f) for f in FACTS)))
        ).all()
    return {
        r[0]: {f: as_utc(v) if v else None for f, v in zip(FACTS, r[1:], strict=True)} for r in rows
    }


async def check(bed: Bed) -> dict[int, dict[str, datetime | None]]:
    """Every ticket's stored facts equal the rules applied to its transitions."""
    facts = await stored(bed)
    async with session_factory(bed.engine)() as session:
        everyone = list((await session.scalars(select(Ticket))).all())
        for ticket in everyone:
            moves = (
                await session.scalars(
                    select(TicketTransition)
                    .where(TicketTransition.ticket_id == ticket.id)
                    .order_by(TicketTransition.id)
                )
            ).all()
            assert facts[ticket.id] == expected(ticket, list(moves), everyone), ticket.id
    return facts


async def phone_ticket(bed: Bed, category: str = "城管", *, at: datetime) -> int:
    """A call's draft registered at the desk (the phone intake's two moves)."""
    async with session_factory(bed.engine).begin() as session:
        ticket = new_draft(session, "13800000009", "12345", actor="ivr", category=category, at=at)
        await session.flush()
        transition(session, ticket, S.REGISTERED, actor="agent:1001", at=at + timedelta(minutes=2))
        return ticket.id


async def step(bed: Bed, minutes: int) -> datetime:
    bed.clock.now = bed.clock.now + timedelta(minutes=minutes)
    return bed.clock.now


async def reopen(bed: Bed, loop: CaseLoop, ticket_id: int) -> None:
    """The callback's unsatisfied answer: 回访 then 重办, the reply clock restarted."""
    async with session_factory(bed.engine).begin() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        transition(session, ticket, S.CALLBACK, actor="callback", at=bed.clock.now)
        transition(session, ticket, S.REOPENED, actor="callback", at=bed.clock.now)
        await loop.on_reopened(session, ticket)


async def test_facts_follow_claim_dispute_reopen_merge_and_forced(bed: Bed) -> None:
    loop = bed.loop
    # A grab-pool ticket claimed (the claim's prebuilt UPDATE and INSERT), then replied.
    grabbed = await phone_ticket(bed, "噪音", at=T0)
    await step(bed, 5)
    await loop.dispatch(grabbed, DISPATCHER, mode="grab")
    claimed_at = await step(bed, 20)
    await loop.claim(grabbed, dept("cgj"))
    facts = await check(bed)
    assert facts[grabbed]["fact_signed_at"] == claimed_at
    assert facts[grabbed]["fact_registered_at"] == T0 + timedelta(minutes=2)
    replied_at = await step(bed, 60)
    await loop.reply(grabbed, dept("cgj"), "已处理")
    assert (await check(bed))[grabbed]["fact_replied_at"] == replied_at

    # Dispatched, disputed, moved to another department (a new dispatch): the first 签收
    # does not count for the new one, the second does.
    moved = await phone_ticket(bed, at=await step(bed, 1))
    await loop.dispatch(moved, DISPATCHER, mode="direct", lead="cgj")
    await step(bed, 10)
    dispute = await loop.file_dispute(moved, dept("cgj"), "应由区城管处理")
    await step(bed, 10)
    await loop.review_dispute(
        dispute.id, DISPATCHER, approve=True, note=None, new_department="hedong.cgj"
    )
    await loop.confirm_dispute(dispute.id, DISPATCHER_2, None)
    assert (await check(bed))[moved]["fact_signed_at"] is None
    signed_at = await step(bed, 30)
    await loop.accept(moved, dept("hedong.cgj"))
    assert (await check(bed))[moved]["fact_signed_at"] == signed_at

    # Replied, reopened by the callback, signed and replied again: the second round's reply.
    await step(bed, 60)
    await loop.reply(moved, dept("hedong.cgj"), "第一次答复")
    await step(bed, 60)
    await reopen(bed, loop, moved)
    assert (await check(bed))[moved]["fact_replied_at"] is None  # this round: not yet
    await step(bed, 10)
    await loop.accept(moved, dept("hedong.cgj"))
    again = await step(bed, 60)
    await loop.reply(moved, dept("hedong.cgj"), "第二次答复")
    assert (await check(bed))[moved]["fact_replied_at"] == again

    # Answered directly at the desk; and a duplicate merged into another ticket (并单): the
    # merged one keeps its registering fact (the KPI leaves it out by its state).
    answered = await phone_ticket(bed, "咨询", at=await step(bed, 1))
    merged = await phone_ticket(bed, at=await step(bed, 1))
    async with session_factory(bed.engine).begin() as session:
        for ticket_id, to in ((answered, S.ANSWERED), (merged, S.MERGED)):
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            transition(session, ticket, to, actor="agent:1001", at=await step(bed, 1))
    facts = await check(bed)
    assert facts[answered]["fact_answered_at"] is not None
    assert facts[merged]["fact_registered_at"] is not None

    # The caller's earlier tickets: a draft does not count until it is registered; a new
    # matter (category edit) moves the same-matter prior.
    draft_at = await step(bed, 1)
    async with session_factory(bed.engine).begin() as session:
        draft = new_draft(
            session, "13800000009", "12345", actor="ivr", category="噪音", at=draft_at
        )
    later = await phone_ticket(bed, "噪音", at=await step(bed, 1))
    facts = await check(bed)
    assert facts[later]["fact_matter_prior_at"] == T0  # the grabbed one, not the draft
    async with session_factory(bed.engine).begin() as session:
        found = await session.get(Ticket, draft.id)
        assert found is not None
        transition(session, found, S.REGISTERED, actor="agent:1001", at=await step(bed, 1))
    assert (await check(bed))[later]["fact_matter_prior_at"] == draft_at
    async with session_factory(bed.engine).begin() as session:
        found = await session.get(Ticket, draft.id)
        assert found is not None
        found.category = "供水"
    assert (await check(bed))[later]["fact_matter_prior_at"] == T0

    # Not claimed in the grab window: the sweep assigns it (a prebuilt UPDATE moves the
    # dispatch time, the ORM starts the reply clock); then signed for and replied.
    forced = await phone_ticket(bed, at=await step(bed, 1))
    await loop.dispatch(forced, DISPATCHER, mode="grab", eligible=["cgj", "hedong.cgj"])
    bed.clock.now = as_utc((await bed.get(forced)).grab_until or T0) + timedelta(seconds=1)
    assert (await loop.sweep()).forced == 1
    await step(bed, 5)
    await loop.accept(forced, dept("cgj"))
    await step(bed, 5)
    await loop.reply(forced, dept("cgj"), "已处理")
    await check(bed)


async def test_the_backfill_gives_what_the_hooks_stored(bed: Bed) -> None:
    """Migration 0019's grouped UPDATE applies the same rules as ``refresh_facts``."""
    loop = bed.loop
    for minutes, category in ((0, "噪音"), (30, "城管")):
        ticket_id = await phone_ticket(bed, category, at=T0 + timedelta(minutes=minutes))
        await loop.dispatch(ticket_id, DISPATCHER, mode="direct", lead="cgj")
        await step(bed, 10)
        await loop.accept(ticket_id, dept("cgj"))
        await step(bed, 10)
        await loop.reply(ticket_id, dept("cgj"), "已处理")
    await phone_ticket(bed, at=await step(bed, 1))  # registered only
    await bed.ticket()  # no audit rows at all: no facts
    hooks = await check(bed)
    assert sum(f["fact_replied_at"] is not None for f in hooks.values()) == 2
    assert sum(f["fact_matter_prior_at"] is not None for f in hooks.values()) == 1
    async with session_factory(bed.engine).begin() as session:
        await session.execute(
            update(Ticket)
            .values(**dict.fromkeys(FACTS))
            .execution_options(synchronize_session=False)
        )
        await session.execute(text(MIGRATION.BACKFILL))
        await session.execute(text(MIGRATION.BACKFILL_PRIOR))
    assert await stored(bed) == hooks


async def test_each_agent_state_change_ends_at_the_agents_next_one(bed: Bed) -> None:
    """``ended_at`` is LEAD(at) over the agent's changes in (at, id) order, also when a batch
    arrives late (written after a later change) or two changes share an instant; the
    migration's back-fill gives the same."""
    plan = [("1001", 0, "ready"), ("1002", 1, "ready"), ("1001", 10, "on_call")]
    plan += [("1001", 5, "paused"), ("1001", 10, "wrapup"), ("1001", 30, "ready")]
    for agent, minute, state in plan:  # one transaction each, in this (not time) order
        async with session_factory(bed.engine).begin() as session:
            session.add(
                AgentStateChange(
                    node_id="n1",
                    agent_id=agent,
                    state=state,
                    source="test",
                    at=T0 + timedelta(minutes=minute),
                )
            )

    async def ends() -> dict[int, datetime | None]:
        async with session_factory(bed.engine)() as session:
            rows = (await session.scalars(select(AgentStateChange))).all()
        for r in rows:  # the stored span is the seconds to the stored end
            end = as_utc(r.ended_at) if r.ended_at else None
            span = (end - as_utc(r.at)).total_seconds() if end else None
            assert r.span_seconds == span, (r.id, r.span_seconds, span)
        return {r.id: as_utc(r.ended_at) if r.ended_at else None for r in rows}

    async with session_factory(bed.engine)() as session:
        rows = (await session.scalars(select(AgentStateChange))).all()
    want: dict[int, datetime | None] = {}
    for agent in {r.agent_id for r in rows}:
        mine = sorted((r for r in rows if r.agent_id == agent), key=lambda r: (r.at, r.id))
        for row, after in zip(mine, [*mine[1:], None], strict=True):
            want[row.id] = as_utc(after.at) if after else None
    got = await ends()
    assert got == want
    assert sorted(got.values(), key=str)[0] == T0 + timedelta(minutes=5)
    async with session_factory(bed.engine).begin() as session:
        await session.execute(update(AgentStateChange).values(ended_at=None, span_seconds=None))
        await session.execute(text(MIGRATION.state_ends(bed.engine.dialect.name)))
    assert await ends() == want


async def test_a_new_ticket_rewrites_only_the_priors_that_can_change(bed: Bed) -> None:
    """One caller with many tickets (a withheld number): a new ticket's prior UPDATE touches
    the new ticket alone, not its siblings (it used to rewrite them all, so a reconcile of a
    busy day on PostgreSQL ran for minutes); a back-dated one still moves the later ones."""
    for minutes in range(0, 40, 2):
        await phone_ticket(bed, at=T0 + timedelta(minutes=minutes))
    touched: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "fact_caller_prior_at=(" in statement:
            touched.append(_cursor.rowcount)

    sync_engine = bed.engine.sync_engine
    event.listen(sync_engine, "after_cursor_execute", count)
    try:
        newest = await phone_ticket(bed, at=T0 + timedelta(hours=1))
        back_dated = await phone_ticket(bed, at=T0 + timedelta(minutes=1))
    finally:
        event.remove(sync_engine, "after_cursor_execute", count)
    assert touched[:2] == [1, 1]  # the newest ticket's insert and its registration
    assert min(touched[2:]) == 21  # the back-dated one: every later sibling is looked at again
    facts = await check(bed)
    assert facts[newest]["fact_caller_prior_at"] == T0 + timedelta(minutes=38)
    assert facts[back_dated]["fact_caller_prior_at"] == T0
