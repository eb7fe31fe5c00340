"""IVR: our FastAGI server and the dialogs Asterisk's dialplan calls before queueing a call.

Call flow: a citizen dials 12345 → the dialplan runs ``AGI(agi://127.0.0.1:14573/inbound)``
→ ``FastAgiServer`` reads the request and runs ``InboundDialog``, which opens the call through
the ``CallIntake`` port (implemented by ``app``) and sets inherited channel variables
(``__TICKET_ID`` ...) → the dialplan greets the caller and queues them; the agent's channel
inherits the variables, so ``cti`` sees the ticket on AMI events and pops the screen.
"""

from ivr.agi import (
    AgiChannel,
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiRequest,
    AgiResult,
    parse_headers,
    read_request,
)
from ivr.inbound import InboundDialog
from ivr.ports import CallIntake, CallOpened, InboundCall
from ivr.routes import build_routes
from ivr.server import AgiHandler, FastAgiServer, FastAgiStats

__all__ = [
    "AgiChannel",
    "AgiCommandError",
    "AgiError",
    "AgiHandler",
    "AgiHangup",
    "AgiProtocolError",
    "AgiRequest",
    "AgiResult",
    "CallIntake",
    "CallOpened",
    "FastAgiServer",
    "FastAgiStats",
    "InboundCall",
    "InboundDialog",
    "build_routes",
    "parse_headers",
    "read_request",
]
