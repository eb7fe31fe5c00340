"""Callback rules: Asterisk outcomes, retry planning, do-not-call numbers, survey ratings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbacks import (
    CampaignConfig,
    Outcome,
    Rating,
    RetrySpacing,
    is_do_not_call,
    next_attempt,
    normalise_number,
    outcome_from_dialstatus,
    outcome_from_originate,
    parse_rating,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "reason", "outcome"),
    [
        ("Success", 4, Outcome.ANSWERED),
        ("success", None, Outcome.ANSWERED),
        ("Failure", 0, Outcome.FAILED),
        ("Failure", 1, Outcome.NO_ANSWER),  # hung up (rejected) before answering
        ("Failure", 2, Outcome.NO_ANSWER),
        ("Failure", 3, Outcome.NO_ANSWER),  # rang until the originate timeout
        ("Failure", 4, Outcome.FAILED),  # answered but the dialplan did not start
        ("Failure", 5, Outcome.BUSY),
        ("Failure", 8, Outcome.CONGESTION),
        ("Failure", None, Outcome.FAILED),
        ("Failure", 99, Outcome.FAILED),
    ],
)
def test_outcome_from_originate_response(
    response: str, reason: int | None, outcome: Outcome
) -> None:
    assert outcome_from_originate(response, reason) is outcome


def test_outcome_from_originate_refuses_an_unknown_response() -> None:
    with pytest.raises(ValueError, match="Success or Failure, got 'Maybe'"):
        outcome_from_originate("Maybe", 4)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("ANSWER", Outcome.ANSWERED),
        ("BUSY", Outcome.BUSY),
        ("NOANSWER", Outcome.NO_ANSWER),
        ("CANCEL", Outcome.NO_ANSWER),
        ("CONGESTION", Outcome.CONGESTION),
        ("CHANUNAVAIL", Outcome.FAILED),
        ("DONTCALL", Outcome.FAILED),
        ("TORTURE", Outcome.FAILED),
        ("INVALIDARGS", Outcome.FAILED),
        ("busy", Outcome.BUSY),
    ],
)
def test_outcome_from_dialstatus(status: str, outcome: Outcome) -> None:
    assert outcome_from_dialstatus(status) is outcome


@pytest.mark.parametrize("status", ["", "RINGING", "ANSWERED"])
def test_outcome_from_dialstatus_refuses_unknown_values(status: str) -> None:
    with pytest.raises(ValueError, match="unknown DIALSTATUS"):
        outcome_from_dialstatus(status)


def test_every_unsuccessful_outcome_has_a_retry_spacing() -> None:
    fields = set(RetrySpacing.model_fields)
    assert {o.value for o in Outcome if o is not Outcome.ANSWERED} == fields


# --- next attempt -------------------------------------------------------------------------


def test_next_attempt_uses_the_spacing_of_the_outcome() -> None:
    cfg = CampaignConfig(retry=RetrySpacing(busy=600, congestion=60, interrupted=900))
    ended = sh(2026, 11, 23, 10, 0)
    for outcome, attempts, minutes in [
        (Outcome.BUSY, 1, 10),
        (Outcome.CONGESTION, 1, 1),
        (Outcome.INTERRUPTED, 2, 15),
        (Outcome.NO_ANSWER, 1, 60),  # the default spacing
        (Outcome.FAILED, 1, 30),
    ]:
        result = next_attempt(cfg, outcome, attempts, ended, SHANGHAI)
        assert result == ended + timedelta(minutes=minutes), outcome
        assert result is not None and result.tzinfo is UTC


def test_next_attempt_moves_a_retry_past_the_window_to_the_next_morning() -> None:
    cfg = CampaignConfig()  # no answer: retry after an hour
    assert next_attempt(cfg, Outcome.NO_ANSWER, 1, sh(2026, 11, 23, 19, 30), SHANGHAI) == sh(
        2026, 11, 24, 8, 30
    )
    assert next_attempt(cfg, Outcome.NO_ANSWER, 1, sh(2026, 11, 23, 11, 30), SHANGHAI) == sh(
        2026, 11, 23, 14, 0
    )


def test_next_attempt_stops_when_answered_or_after_the_last_attempt() -> None:
    cfg = CampaignConfig(max_attempts=3)
    ended = sh(2026, 11, 23, 10, 0)
    assert next_attempt(cfg, Outcome.ANSWERED, 1, ended, SHANGHAI) is None
    assert next_attempt(cfg, Outcome.BUSY, 2, ended, SHANGHAI) is not None
    assert next_attempt(cfg, Outcome.BUSY, 3, ended, SHANGHAI) is None  # → unreachable
    assert next_attempt(cfg, Outcome.FAILED, 4, ended, SHANGHAI) is None
    single = CampaignConfig(max_attempts=1)
    assert next_attempt(single, Outcome.NO_ANSWER, 1, ended, SHANGHAI) is None
    with pytest.raises(ValueError, match="attempts_made"):
        next_attempt(cfg, Outcome.BUSY, 0, ended, SHANGHAI)


# --- do-not-call --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "normal"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("(010) 6552-9988", "01065529988"),
        ("+86 10 6552 9988", "01065529988"),  # the trunk prefix 0 comes back
        ("+86 (0)10 6552 9988", "01065529988"),
        ("12345", "12345"),
        ("+44 20 7946 0958", "00442079460958"),
        ("anonymous", ""),
    ],
)
def test_normalise_number(number: str, normal: str) -> None:
    assert normalise_number(number) == normal


def test_do_not_call_matches_any_spelling_of_a_listed_number() -> None:
    cfg = CampaignConfig(do_not_call=["+86 138 0013 8000", "010-65529988"])
    assert is_do_not_call(cfg, "13800138000")
    assert is_do_not_call(cfg, "008613800138000")
    assert is_do_not_call(cfg, "+861065529988")
    assert not is_do_not_call(cfg, "13800138001")
    assert not is_do_not_call(cfg, "")
    assert not is_do_not_call(cfg, "anonymous")
    assert not is_do_not_call(CampaignConfig(), "13800138000")


# --- ratings ------------------------------------------------------------------------------


def test_ratings_by_key_with_mandarin_labels() -> None:
    assert [(parse_rating(k), parse_rating(k).label_zh) for k in "123"] == [  # type: ignore[union-attr]
        (Rating.SATISFIED, "满意"),
        (Rating.BASIC, "基本满意"),
        (Rating.UNSATISFIED, "不满意"),
    ]


@pytest.mark.parametrize("digits", ["", "0", "4", "9", "11", "12", " 1", "1#", "#", "*"])
def test_anything_but_one_key_1_to_3_is_no_rating(digits: str) -> None:
    assert parse_rating(digits) is None
