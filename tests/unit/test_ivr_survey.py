"""The survey dialog over a real FastAgiServer, with a scripted "Asterisk" keying DTMF."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import PurePosixPath

import pytest

from ivr.ports import SurveyAnswers, SurveyCall
from ivr.server import FastAgiServer
from ivr.survey import SurveyDialog, SurveyTiming

BLOCK = (
    "agi_request: agi://127.0.0.1/survey\nagi_channel: PJSIP/carrier-00000009\n"
    "agi_uniqueid: 1763790000.9\nagi_callerid: 12345\nagi_context: hotline-survey\n"
    "agi_extension: s\nagi_priority: 3\nagi_network_script: survey\n\n"
)
PROMPTS = "/srv/hotline/n1/prompts"


class RecordingStore:
    """Fake SurveyStore: knows attempt 7 (ticket 305) and keeps the answers it is given."""

    def __init__(self) -> None:
        self.started: list[tuple[int, str]] = []
        self.finished: list[tuple[int, SurveyAnswers]] = []

    async def survey_started(self, attempt_id: int, uniqueid: str) -> SurveyCall | None:
        self.started.append((attempt_id, uniqueid))
        return SurveyCall(attempt_id, 305) if attempt_id == 7 else None

    async def survey_finished(self, attempt_id: int, answers: SurveyAnswers) -> None:
        self.finished.append((attempt_id, answers))


def asterisk(keys: list[str], attempt: str = "7", hang_up_at: str | None = None) -> Callable:
    """Answers like Asterisk 22; each GET DATA takes the next of ``keys`` ("" = timeout)."""
    pending = list(keys)

    def answer(command: str) -> str:
        if hang_up_at and hang_up_at in command:
            return "HANGUP"
        if command == "GET VARIABLE CALLBACK_ATTEMPT":
            return f"200 result=1 ({attempt})"
        if command == 'GET FULL VARIABLE "${PROMPTS}"':
            return f"200 result=1 ({PROMPTS})"
        if command.startswith("GET DATA"):
            key = pending.pop(0)
            return f"200 result={key}" if key else "200 result= (timeout)"
        if command.startswith(("STREAM FILE", "EXEC", "RECORD FILE")):
            return "200 result=0 endpos=8000"
        return "510 Invalid or unknown command"

    return answer


async def run(store: RecordingStore, answer: Callable) -> list[str]:
    dialog = SurveyDialog(store, PurePosixPath("/srv/hotline/n1/spool/monitor"), SurveyTiming())
    server = FastAgiServer({"survey": dialog}, host="127.0.0.1", port=0, header_timeout=5)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(BLOCK.encode())
        commands: list[str] = []
        async with asyncio.timeout(2):
            while line := await reader.readline():
                command = line.decode().rstrip("\n")
                commands.append(command)
                reply = answer(command)
                writer.write(f"{reply}\n".encode())
                await writer.drain()
                if reply == "HANGUP":
                    break
        writer.close()
        await asyncio.wait_for(server.drain(), 1)
        return commands
    finally:
        await server.stop()


async def test_two_ratings_are_stored_and_the_ticket_number_is_read_digit_by_digit() -> None:
    store = RecordingStore()
    commands = await run(store, asterisk(["1", "2"]))
    played = [c.split('"')[1].rsplit("/", 1)[1] for c in commands if c.startswith("STREAM")]
    assert played == [
        "survey-intro",
        "digit-3",
        "digit-0",
        "digit-5",
        "survey-intro-end",
        "survey-thanks",
    ]
    asked = [c.split('"')[1].rsplit("/", 1)[1] for c in commands if c.startswith("GET DATA")]
    assert asked == ["survey-service", "survey-outcome"]
    assert all(c.endswith(" 6000 1") for c in commands if c.startswith("GET DATA"))
    assert store.finished == [(7, SurveyAnswers("1", "2", None, "1763790000.9", completed=True))]


async def test_an_invalid_key_repeats_the_question_once_then_counts_as_no_rating() -> None:
    store = RecordingStore()
    commands = await run(store, asterisk(["7", "2", "", "9"]))
    asked = [c.split('"')[1].rsplit("/", 1)[1] for c in commands if c.startswith("GET DATA")]
    assert asked == ["survey-service"] * 2 + ["survey-outcome"] * 2
    assert sum("survey-invalid" in c for c in commands) == 2
    ((_, answers),) = store.finished
    assert (answers.service, answers.outcome, answers.completed) == ("2", None, True)


async def test_unsatisfied_outcome_records_a_voice_comment() -> None:
    store = RecordingStore()
    commands = await run(store, asterisk(["1", "3"]))
    (record,) = [c for c in commands if c.startswith("RECORD FILE")]
    assert record == (
        'RECORD FILE "/srv/hotline/n1/spool/monitor/survey-1763790000.9" "wav" "#" 30000 BEEP s=4'
    )
    steps = [c for c in commands if c.startswith("EXEC UserEvent")]
    assert [s.split("Step: ")[1].rstrip('"') for s in steps] == ["service", "outcome", "comment"]
    ((_, answers),) = store.finished
    assert (answers.outcome, answers.comment_file) == ("3", "survey-1763790000.9.wav")


async def test_a_hang_up_mid_survey_keeps_the_answers_given_so_far() -> None:
    store = RecordingStore()
    await run(store, asterisk(["2"], hang_up_at="survey-outcome"))
    ((_, answers),) = store.finished
    assert (answers.service, answers.outcome, answers.completed) == ("2", None, False)


@pytest.mark.parametrize("attempt", ["", "abc", "99"])
async def test_an_unknown_attempt_is_left_alone(attempt: str) -> None:
    store = RecordingStore()
    commands = await run(store, asterisk([], attempt=attempt))
    assert not any(c.startswith(("GET DATA", "STREAM")) for c in commands)
    assert store.finished == []
