"""Call control the desk asks for on the agent's own call (hang up), by call id.

Call flow: the desk's button → ``POST /api/calls/{id}/hangup`` → here: the call record says
which agent channel Asterisk bridged (written at AgentConnect) → ``cti.CallControl`` → AMI.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.service import Principal
from app.models import Call
from cti import CallControl


class CallActionError(ValueError):
    """The call cannot be acted on; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CallActions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], control: CallControl) -> None:
        self._sessions = sessions
        self._control = control

    async def hangup(self, call_id: str, who: Principal) -> None:
        """End the agent's leg: the citizen's call ends with it (queue calls are 1:1)."""
        async with self._sessions() as session:
            call = await session.get(Call, call_id)
        if call is None:
            raise CallActionError(f"call {call_id} does not exist", 404)
        if not call.agent_id or not who.may_act_for(call.agent_id):
            raise CallActionError(f"call {call_id} is not yours", 403)
        if call.ended_at is not None or not call.agent_channel:
            raise CallActionError(f"call {call_id} is not connected to an agent now", 409)
        await self._control.hangup(call.agent_channel)
