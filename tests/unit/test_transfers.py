"""The centre of a consultation answering reaches the agent's desk (a ``transfer`` frame), so
the desk offers 完成转接 only then; a three-way call's centre joining completes that row."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select

from app.calls.transfers import Transfers
from app.models import Call, Transfer
from core.db import create_engine, session_factory
from core.events import CentreJoined, Event, TransferAnswered
from cti import CallControl
from ivr.numberplan import load_number_plan
from tests.conftest import EXAMPLE_PLAN


async def test_centre_answering_a_consultation_tells_the_agent_and_a_three_way_completes(
    db_url: str,
) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    sent: list[tuple[str, Event]] = []

    async def deliver(agent_id: str, event: Event) -> None:
        sent.append((agent_id, event))

    plan = load_number_plan(EXAMPLE_PLAN)
    # Nothing here asks Asterisk: the centre's answer arrives as a bus event.
    transfers = Transfers(sessions, cast(CallControl, None), lambda: plan, deliver)
    try:
        async with sessions.begin() as session:
            session.add(
                Call(
                    id="n:1", node_id="n", uniqueid="1", linkedid="1", channel="c", dialled="12345"
                )
            )
            session.add_all(
                [
                    Transfer(call_id="n:1", agent_id="1001", target="119", mode="attended",
                             outcome="consulting"),
                    Transfer(call_id="n:1", agent_id="1001", target="120", mode="threeway",
                             outcome="joining"),
                ]
            )  # fmt: skip
        for target in ("119", "120", "122"):  # 122: no transfer of ours, nothing happens
            channel = f"PJSIP/peer-{target}-1"
            await transfers.on_centre_joined(
                CentreJoined(node_id="n", call_id="n:1", target=target, channel=channel)
            )
        async with sessions() as session:
            rows = {t.target: t for t in await session.scalars(select(Transfer))}
        assert rows["119"].outcome == "consulting"  # the agent completes it, not the centre
        assert rows["120"].outcome == "completed" and rows["120"].ended_at is not None
        ((agent, frame),) = sent
        assert agent == "1001" and isinstance(frame, TransferAnswered)
        out = frame.to_dict()
        assert (out["event"], out["transfer_id"], out["target"], out["state"]) == (
            "transfer",
            rows["119"].id,
            "119",
            "centre_answered",
        )
    finally:
        await engine.dispose()
