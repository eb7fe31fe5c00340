"""The ``survey`` FastAGI route: the satisfaction callback (满意度回访) once the citizen answers.

Call flow: the app's callback dialler Originates ``PJSIP/<citizen>@<trunk>`` into the
``hotline-survey`` context with ``CALLBACK_ATTEMPT`` set; on answer the dialplan runs
``AGI(agi://…/survey)`` and this dialog:

1. identifies the ticket: "您好，这里是12345热线，就您反映的编号为 <digits> 的问题进行回访";
2. 一次一评, the agent's service, and 一事一评, the outcome: 满意请按1，基本满意请按2，不满意请按3;
   no or an invalid key repeats the question once, then the rating is left empty;
3. after an unsatisfied outcome, records a short voice comment (ended by # or silence);
4. thanks the citizen and hands the answers to the ``SurveyStore`` (the app closes or reopens
   the ticket). A hang-up at any point still stores what was answered so far.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath

from ivr.agi import AgiChannel, AgiError, AgiHangup, AgiRequest
from ivr.ports import SurveyAnswers, SurveyCall, SurveyStore

log = logging.getLogger(__name__)

ATTEMPT_VAR = "CALLBACK_ATTEMPT"
VALID_RATINGS = frozenset("123")
UNSATISFIED = "3"


@dataclass(frozen=True, slots=True)
class SurveyTiming:
    digit_timeout_ms: int = 6000
    comment_max_ms: int = 30_000
    comment_silence_s: int = 4


class SurveyDialog:
    """Route handler for ``survey``; ``recordings`` is where Asterisk writes voice comments."""

    def __init__(
        self, store: SurveyStore, recordings: PurePosixPath, timing: SurveyTiming | None = None
    ) -> None:
        self._store = store
        self._recordings = recordings
        self._timing = timing or SurveyTiming()

    async def __call__(self, request: AgiRequest, channel: AgiChannel) -> None:
        raw = await channel.get_variable(ATTEMPT_VAR)
        if raw is None or not raw.isdigit():
            log.warning("survey call %s without a valid %s", request.uniqueid, ATTEMPT_VAR)
            return
        attempt_id = int(raw)
        call = await self._store.survey_started(attempt_id, request.uniqueid)
        if call is None:
            log.warning("survey call %s: no callback attempt %s", request.uniqueid, attempt_id)
            return
        service: str | None = None
        outcome: str | None = None
        comment: str | None = None
        completed = False
        try:
            prompts = await channel.get_full_variable("${PROMPTS}") or ""
            await self._introduce(channel, prompts, call)
            await _step(channel, attempt_id, "service")
            service = await self._rating(channel, prompts, "survey-service")
            await _step(channel, attempt_id, "outcome")
            outcome = await self._rating(channel, prompts, "survey-outcome")
            if outcome == UNSATISFIED:
                # Named before recording: a hang-up mid-comment keeps what was said.
                comment = f"survey-{request.uniqueid}.wav"
                await self._comment(channel, attempt_id, prompts, comment)
            await channel.stream_file(f"{prompts}/survey-thanks")
            completed = True
        except AgiHangup:
            log.info("survey call %s: the citizen hung up", request.uniqueid)
        except AgiError:
            log.exception("survey call %s: AGI failed", request.uniqueid)
        finally:
            await self._store.survey_finished(
                attempt_id,
                SurveyAnswers(service, outcome, comment, request.uniqueid, completed),
            )

    async def _introduce(self, channel: AgiChannel, prompts: str, call: SurveyCall) -> None:
        await channel.stream_file(f"{prompts}/survey-intro")
        for digit in str(call.ticket_id):
            await channel.stream_file(f"{prompts}/digit-{digit}")
        await channel.stream_file(f"{prompts}/survey-intro-end")

    async def _rating(self, channel: AgiChannel, prompts: str, question: str) -> str | None:
        for attempt in range(2):
            if attempt:
                await channel.stream_file(f"{prompts}/survey-invalid")
            key = await channel.get_data(f"{prompts}/{question}", self._timing.digit_timeout_ms, 1)
            if key in VALID_RATINGS:
                return key
        return None

    async def _comment(self, channel: AgiChannel, attempt_id: int, prompts: str, name: str) -> None:
        await channel.stream_file(f"{prompts}/survey-comment")
        await _step(channel, attempt_id, "comment")  # recording starts now
        await channel.record_file(
            str(self._recordings / name.removesuffix(".wav")),
            "wav",
            "#",
            self._timing.comment_max_ms,
            self._timing.comment_silence_s,
        )


async def _step(channel: AgiChannel, attempt_id: int, step: str) -> None:
    """Report on AMI which question the citizen is at (for supervisors and tests)."""
    await channel.exec("UserEvent", "HotlineSurvey", f"Attempt: {attempt_id}", f"Step: {step}")
