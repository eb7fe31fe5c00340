"""The ``inbound`` FastAGI route: every call to a service number passes here before queueing.

The dialplan runs ``AGI(agi://…/inbound)``; this dialog decides the call's route from the
number plan (12345, a retired line inside/after its notice window, a specialised line, the
sub-centre), records the call through ``CallIntake`` (a draft ticket exists before the caller
reaches the queue), and sets channel variables the dialplan acts on:

- ``HOTLINE_ROUTE``: main | notice | stopped | legacy | specialised | subcentre
- ``HOTLINE_PROMPT``: prompt to play instead of the 12345 greeting (notice, stop, own greeting)
- ``HOTLINE_QUEUE``: skill queue of a specialised line; ``QUEUE_MAX_PENALTY=0`` so skilled
  agents are offered the call first (a queue rule widens it after the overflow wait)
- inherited ``__TICKET_ID``, ``__HOTLINE_CALL_ID``, ``__HOTLINE_CATEGORY`` for the agent leg.

It answers nothing and plays nothing, so it returns fast. If it fails, the dialplan greets and
queues the caller on 12345 without a ticket: never silence.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime

from ivr.agi import AgiChannel, AgiRequest
from ivr.numberplan import NumberPlan, SpecialisedLine, route_for
from ivr.ports import CallIntake, InboundCall

log = logging.getLogger(__name__)

# "__" makes Asterisk copy a variable to every channel this one creates (the agent's leg).
TICKET_ID_VAR = "__TICKET_ID"
CALL_ID_VAR = "__HOTLINE_CALL_ID"
CATEGORY_VAR = "__HOTLINE_CATEGORY"
# Set by the PJSIP endpoint of a centre that hands calls over (set_var=HOTLINE_SOURCE=110).
SOURCE_VAR = "HOTLINE_SOURCE"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InboundDialog:
    """Route handler: route by number plan, open the call, tag the channel."""

    def __init__(
        self,
        intake: CallIntake,
        plan: Callable[[], NumberPlan],
        tz: zoneinfo.ZoneInfo,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._intake = intake
        self._plan = plan
        self._tz = tz
        self._clock = clock

    async def __call__(self, request: AgiRequest, channel: AgiChannel) -> None:
        plan = self._plan()
        dialled = request.extension
        route = route_for(plan, dialled, self._clock(), self._tz)
        linkedid = await channel.get_variable("CHANNEL(linkedid)") or request.uniqueid
        source = await channel.get_variable(SOURCE_VAR)
        opened = await self._intake.open_call(
            InboundCall(
                uniqueid=request.uniqueid,
                linkedid=linkedid,
                channel=request.channel,
                caller=request.callerid,
                caller_name=request.calleridname,
                dialled=dialled,
                route=route.kind,
                category=route.category,
                source=source,
                wants_ticket=route.kind != "stopped",
            )
        )
        await channel.set_variable("HOTLINE_ROUTE", route.kind)
        if route.prompt:
            await channel.set_variable("HOTLINE_PROMPT", route.prompt)
        if route.queue:
            await channel.set_variable("HOTLINE_QUEUE", route.queue)
            line = plan.find(dialled)
            if isinstance(line, SpecialisedLine) and line.overflow_seconds > 0:
                await channel.set_variable("QUEUE_MAX_PENALTY", "0")
        if opened.ticket_id is not None:
            await channel.set_variable(TICKET_ID_VAR, str(opened.ticket_id))
        await channel.set_variable(CALL_ID_VAR, opened.call_id)
        if opened.category is not None:
            await channel.set_variable(CATEGORY_VAR, opened.category)
        # No caller number in the log: it is a citizen's personal data.
        log.info(
            "inbound call %s to %s: route %s, ticket %s",
            request.uniqueid,
            dialled,
            route.kind,
            opened.ticket_id,
        )
