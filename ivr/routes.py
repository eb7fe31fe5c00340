"""The FastAGI route table the composition root hands to ``FastAgiServer``.

One entry per dialog; the key is the script name in the dialplan's ``agi://host:port/<name>``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from pathlib import PurePosixPath

from ivr.inbound import InboundDialog
from ivr.numberplan import NumberPlan
from ivr.ports import CallIntake, SurveyStore
from ivr.server import AgiHandler
from ivr.survey import SurveyDialog


def build_routes(
    intake: CallIntake,
    plan: Callable[[], NumberPlan],
    tz: zoneinfo.ZoneInfo,
    surveys: SurveyStore,
    survey_recordings: PurePosixPath,
) -> dict[str, AgiHandler]:
    return {
        "inbound": InboundDialog(intake, plan, tz),
        "survey": SurveyDialog(surveys, survey_recordings),
    }
