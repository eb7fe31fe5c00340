"""The ``inbound`` FastAGI route: every call to 12345 passes here before it is queued.

The dialplan runs ``AGI(agi://127.0.0.1:14573/inbound)``; this dialog records the call through
``CallIntake`` (a draft ticket exists before the caller reaches the queue) and sets inherited
channel variables so the agent's channel, its AMI events and the screen pop carry the ticket.
It answers nothing and plays nothing (the dialplan greets and queues), so it returns fast.
"""

from __future__ import annotations

import logging

from ivr.agi import AgiChannel, AgiRequest
from ivr.ports import CallIntake, InboundCall

log = logging.getLogger(__name__)

# "__" makes Asterisk copy a variable to every channel this one creates (the agent's leg).
TICKET_ID_VAR = "__TICKET_ID"
CALL_ID_VAR = "__HOTLINE_CALL_ID"
CATEGORY_VAR = "__HOTLINE_CATEGORY"


class InboundDialog:
    """Route handler: open the call, then tag the channel with its ticket."""

    def __init__(self, intake: CallIntake) -> None:
        self._intake = intake

    async def __call__(self, request: AgiRequest, channel: AgiChannel) -> None:
        # If open_call raises, the server logs it and the dialplan still greets and queues.
        linkedid = await channel.get_variable("CHANNEL(linkedid)") or request.uniqueid
        call = InboundCall(
            uniqueid=request.uniqueid,
            linkedid=linkedid,
            channel=request.channel,
            caller=request.callerid,
            caller_name=request.calleridname,
            dialled=request.extension,
        )
        opened = await self._intake.open_call(call)
        await channel.set_variable(TICKET_ID_VAR, str(opened.ticket_id))
        await channel.set_variable(CALL_ID_VAR, opened.call_id)
        if opened.category is not None:
            await channel.set_variable(CATEGORY_VAR, opened.category)
        # No caller number in the log: it is a citizen's personal data.
        log.info("inbound call %s opened ticket %d", request.uniqueid, opened.ticket_id)
