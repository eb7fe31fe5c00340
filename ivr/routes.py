"""The FastAGI route table the composition root hands to ``FastAgiServer``.

One entry per dialog; the key is the script name in the dialplan's ``agi://host:port/<name>``.
"""

from __future__ import annotations

from ivr.inbound import InboundDialog
from ivr.ports import CallIntake
from ivr.server import AgiHandler


def build_routes(intake: CallIntake) -> dict[str, AgiHandler]:
    return {"inbound": InboundDialog(intake)}
