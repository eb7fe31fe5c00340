"""Calls lost with their Asterisk (a crash or a restart): after each AMI login the runtime
asks Asterisk which channels are up (``CoreShowChannels``), once the queue log has been
reconciled, and closes this node's records that are still open but whose channel is gone.

Call flow: AMI link up → ``Runtime`` runs the reconciler (calls that ended while the app was
not listening get their real end from the queue log) → :func:`close_lost_calls` marks the
rest ``outcome = "lost"`` with ``ended_at`` = now. Their tickets are kept (drafts stay for
the desk to call back); nothing is deleted. Calls younger than the grace are left alone: their
channel may not be in the list yet, or their record not yet written by FastAGI.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call

LOST = "lost"


async def close_lost_calls(
    sessions: async_sessionmaker[AsyncSession],
    node_id: str,
    live: Collection[str],
    *,
    started_before: datetime,
    now: datetime,
) -> int:
    """Close this node's open records whose channel (uniqueid or linkedid) is not in
    ``live``; returns how many."""
    async with sessions.begin() as session:
        done = await session.execute(
            update(Call)
            .where(
                Call.node_id == node_id,
                Call.ended_at.is_(None),
                Call.started_at < started_before,
                Call.uniqueid.not_in(live),
                Call.linkedid.not_in(live),
            )
            .values(ended_at=now, outcome=LOST)
            .execution_options(synchronize_session=False)
        )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
