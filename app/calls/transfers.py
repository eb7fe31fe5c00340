"""Hand-overs from an agent's call to another centre (110/119/120/122, the 12366 sub-centre).

Call flow: the desk (API) asks for a transfer of its current call → this service checks the
target against the number plan, sends the AMI action through ``cti.CallControl`` and records the
hand-over on the ticket (``transfers`` rows: centre, agent, mode, times, outcome).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, Transfer
from core.events import CentreJoined, Event, TransferAnswered, utcnow
from cti import AmiError, CallControl
from ivr.numberplan import NumberPlan

Mode = Literal["attended", "threeway", "blind"]


class TransferError(ValueError):
    """The transfer cannot be started or finished; the message says why."""


class Transfers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        control: CallControl,
        plan: Callable[[], NumberPlan],
        notify: Callable[[str, Event], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._control = control
        self._plan = plan
        self._notify = notify  # the agent hub's send: a frame to the agent's desk

    async def start(self, call_id: str, target: str, mode: Mode) -> Transfer:
        peer = next((p for p in self._plan().transfer_targets() if p.number == target), None)
        if peer is None:
            known = ", ".join(p.number for p in self._plan().transfer_targets())
            raise TransferError(f"{target} is not a transfer target (known: {known})")
        async with self._sessions() as session:
            call = await session.get(Call, call_id)
            if call is None:
                raise TransferError(f"call {call_id} does not exist")
            if not call.agent_channel or call.ended_at is not None:
                raise TransferError(f"call {call_id} has no agent on the line")
            agent_channel, ticket_id, agent_id = call.agent_channel, call.ticket_id, call.agent_id
        # The row is written before Asterisk is asked: a centre that answers at once must find
        # it (a three-way join arriving before the row was committed used to be lost).
        expected = {"attended": "consulting", "threeway": "joining"}.get(mode, "completed")
        async with self._sessions.begin() as session:
            row = Transfer(
                call_id=call_id,
                ticket_id=ticket_id,
                agent_id=agent_id,
                target=target,
                mode=mode,
                outcome=expected,
                ended_at=utcnow() if expected == "completed" else None,
            )
            session.add(row)
        try:
            if mode == "attended":
                await self._control.attended_transfer(agent_channel, target)
            elif mode == "threeway":
                await self._control.three_way(agent_channel, target, peer.endpoint, call_id)
            else:
                await self._control.blind_transfer(agent_channel, target)
        except AmiError as exc:
            async with self._sessions.begin() as session:
                failed = await session.get(Transfer, row.id)
                assert failed is not None
                failed.outcome, failed.reason, failed.ended_at = "failed", str(exc), utcnow()
            raise TransferError(f"Asterisk refused the transfer: {exc}") from exc
        async with self._sessions() as session:
            current = await session.get(Transfer, row.id)
            assert current is not None
            return current

    async def on_centre_joined(self, event: CentreJoined) -> None:
        """A centre answered and is in a bridge of our call: a three-way call's centre joined
        the citizen (the hand-over is done); an attended transfer's centre answered the
        consultation (the desk may now complete it)."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(Transfer)
                .where(
                    Transfer.call_id == event.call_id,
                    Transfer.target == event.target,
                    Transfer.outcome.in_(("joining", "consulting")),
                )
                .order_by(Transfer.id.desc())
            )
            if row is None:
                return
            if row.outcome == "joining":
                row.outcome, row.ended_at = "completed", event.at
                return
            agent_id, transfer_id = row.agent_id, row.id
        if agent_id and self._notify is not None:
            await self._notify(
                agent_id,
                TransferAnswered(
                    agent_id=agent_id,
                    transfer_id=transfer_id,
                    call_id=event.call_id,
                    target=event.target,
                ),
            )

    async def finish(self, transfer_id: int, action: Literal["complete", "cancel"]) -> Transfer:
        async with self._sessions() as session:
            row = await session.get(Transfer, transfer_id)
            if row is None:
                raise TransferError(f"transfer {transfer_id} does not exist")
            call = await session.get(Call, row.call_id)
            channel = call.agent_channel if call else None
        if row.mode != "attended" or row.outcome != "consulting" or not channel:
            raise TransferError(f"transfer {transfer_id} is not an attended transfer in progress")
        try:
            if action == "complete":
                await self._control.complete_attended_transfer(channel)
            else:
                await self._control.cancel_attended_transfer(channel)
        except AmiError as exc:
            raise TransferError(f"Asterisk refused to {action} the transfer: {exc}") from exc
        async with self._sessions.begin() as session:
            stored = await session.get(Transfer, transfer_id)
            assert stored is not None
            stored.outcome = "completed" if action == "complete" else "cancelled"
            stored.ended_at = utcnow()
            return stored
