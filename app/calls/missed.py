"""Missed calls (漏接回拨, 国办函〔2025〕66号): callers who hung up before reaching an agent.

Written in the ticket service's transaction when the caller abandons the queue or hangs up
before it; cleared when the same number later reaches an agent; worked by agents through the
API (claim, call back, complete).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, MissedCall
from core.events import utcnow

OPEN_STATES = ("open", "claimed")
# Routes whose callers we owe a call-back: not a cancelled number (we hung up on purpose) and
# not the sub-centre (its own seats answer).
CALLBACK_ROUTES = (None, "main", "notice", "legacy", "specialised")


class MissedCallError(ValueError):
    """A missed-call entry cannot do what was asked (unknown, already done, claimed by another)."""


def record_missed(session: AsyncSession, call: Call, wait_seconds: int | None) -> None:
    if not call.caller or call.route not in CALLBACK_ROUTES:
        return
    session.add(
        MissedCall(
            call_id=call.id,
            caller=call.caller,
            dialled=call.dialled,
            at=call.started_at,
            wait_seconds=wait_seconds,
        )
    )


async def clear_missed(session: AsyncSession, caller: str | None, by_call: str) -> None:
    """The citizen got through after all: their open entries need no call-back."""
    if not caller:
        return
    await session.execute(
        update(MissedCall)
        .where(MissedCall.caller == caller, MissedCall.state.in_(OPEN_STATES))
        .values(state="cleared", cleared_by_call=by_call, closed_at=utcnow())
    )


class MissedCalls:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list(
        self, *, state: str | None, limit: int, since: datetime | None = None
    ) -> Sequence[MissedCall]:
        stmt = select(MissedCall).order_by(MissedCall.at.desc()).limit(limit)
        if state:
            stmt = stmt.where(MissedCall.state == state)
        if since:
            stmt = stmt.where(MissedCall.at >= since)
        async with self._sessions() as session:
            return (await session.scalars(stmt)).all()

    @staticmethod
    async def _open_entry(session: AsyncSession, entry_id: int) -> MissedCall:
        entry = await session.get(MissedCall, entry_id, with_for_update=True)
        if entry is None:
            raise MissedCallError(f"missed call {entry_id} does not exist")
        return entry

    async def claim(self, entry_id: int, agent_id: str) -> MissedCall:
        async with self._sessions.begin() as session:
            entry = await self._open_entry(session, entry_id)
            if entry.state == "claimed" and entry.claimed_by != agent_id:
                raise MissedCallError(f"missed call {entry_id} is claimed by {entry.claimed_by}")
            if entry.state not in OPEN_STATES:
                raise MissedCallError(f"missed call {entry_id} is {entry.state}")
            entry.state, entry.claimed_by, entry.claimed_at = "claimed", agent_id, utcnow()
            return entry

    async def complete(self, entry_id: int, agent_id: str) -> MissedCall:
        async with self._sessions.begin() as session:
            entry = await self._open_entry(session, entry_id)
            if entry.state not in OPEN_STATES:
                raise MissedCallError(f"missed call {entry_id} is {entry.state}")
            entry.state, entry.closed_at = "done", utcnow()
            entry.claimed_by = entry.claimed_by or agent_id
            return entry
