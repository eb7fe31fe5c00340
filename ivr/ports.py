"""The port the inbound dialog needs from the rest of the hotline (the composition root).

``ivr.inbound`` hands each new call to a ``CallIntake`` before the caller reaches the queue;
``app`` implements it (draft ticket, call record) and wires it in. Keeping the port here lets
``ivr`` stay free of any database or ticket code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A citizen's call to the hotline, as the dialplan hands it to us, with its route."""

    uniqueid: str
    linkedid: str
    channel: str
    caller: str | None
    caller_name: str | None
    dialled: str
    # Number-plan decision (ivr.numberplan.Route.kind) and the line's ticket category.
    route: str = "main"
    category: str | None = None
    # Who handed the call over: None for the carrier, "110" for the 110 centre, …
    source: str | None = None
    # False when the call gets no ticket (a cancelled number: stop notice and hang-up).
    wants_ticket: bool = True


@dataclass(frozen=True, slots=True)
class CallOpened:
    """What the intake recorded for the call; carried to the agent as channel variables."""

    ticket_id: int | None
    call_id: str
    category: str | None


class CallIntake(Protocol):
    """Records a new inbound call (draft ticket) and says which ticket the agent should see."""

    async def open_call(self, call: InboundCall) -> CallOpened: ...


@dataclass(frozen=True, slots=True)
class SurveyCall:
    """The callback a survey call belongs to, as the app looked it up."""

    attempt_id: int
    ticket_id: int


@dataclass(frozen=True, slots=True)
class SurveyAnswers:
    """What the citizen keyed in. A rating is "1" 满意, "2" 基本满意, "3" 不满意, or None when no
    valid key came after one repeat. ``completed`` is False when they hung up before the end."""

    service: str | None
    outcome: str | None
    comment_file: str | None
    uniqueid: str
    completed: bool


class SurveyStore(Protocol):
    """Where the survey dialog finds its callback and leaves the answers (``app`` implements)."""

    async def survey_started(self, attempt_id: int, uniqueid: str) -> SurveyCall | None: ...

    async def survey_finished(self, attempt_id: int, answers: SurveyAnswers) -> None: ...
