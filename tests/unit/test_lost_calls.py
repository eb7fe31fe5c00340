"""Calls lost with their Asterisk: after an AMI login, this node's open records whose channel
Asterisk no longer has are closed as ``lost``; live, young, ended and other nodes' calls are
left as they are. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.calls.lost import LOST, close_lost_calls
from app.models import Call
from core.db import create_engine, session_factory

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def call(uid: str, *, node: str = "n1", age_s: int = 60, ended: bool = False) -> Call:
    return Call(
        id=f"{node}:{uid}",
        node_id=node,
        uniqueid=uid,
        linkedid=uid,
        channel=f"PJSIP/carrier-{uid}",
        caller="13800000001",
        dialled="12345",
        started_at=NOW - timedelta(seconds=age_s),
        ended_at=NOW - timedelta(seconds=5) if ended else None,
        outcome="answered" if ended else None,
    )


async def test_open_calls_without_a_channel_are_lost_the_rest_kept(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        session.add_all(
            [
                call("1.1"),  # its Asterisk died: no channel left
                call("1.2"),  # still up in Asterisk
                call("1.3", age_s=3),  # too young: FastAGI may still be writing it
                call("1.4", ended=True),  # ended normally
                call("1.5", node="n2"),  # another node's: not ours to judge
            ]
        )
    lost = await close_lost_calls(
        sessions, "n1", {"1.2", "9.9"}, started_before=NOW - timedelta(seconds=10), now=NOW
    )
    assert lost == 1
    async with sessions() as session:
        rows = {c.id: (c.outcome, c.ended_at) for c in await session.scalars(select(Call))}
    await engine.dispose()
    assert rows["n1:1.1"][0] == LOST and rows["n1:1.1"][1] is not None
    assert rows["n1:1.2"] == (None, None)
    assert rows["n1:1.3"] == (None, None)
    assert rows["n1:1.4"][0] == "answered"
    assert rows["n2:1.5"] == (None, None)
    # A second login finds nothing more to close.
    again = await close_lost_calls(
        session_factory(create_engine(db_url)),
        "n1",
        {"1.2"},
        started_before=NOW - timedelta(seconds=10),
        now=NOW,
    )
    assert again == 0
