"""Callback rules: what an attempt's result means, when to try again, whom never to call.

Call flow: the dialer originates a survey call and gets Asterisk's verdict either as the AMI
``OriginateResponse`` event (``outcome_from_originate``) or as the ``DIALSTATUS`` channel variable
(``outcome_from_dialstatus``); ``next_attempt`` then plans the retry inside the campaign's
calling windows or returns None (answered, or the last attempt: the contact is unreachable and
the ticket goes to manual follow-up). Before any dial the dialer checks ``is_do_not_call``.
In the survey (FastAGI) the citizen's key press becomes a ``Rating`` through ``parse_rating``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from enum import IntEnum, StrEnum

from callbacks.calendar import next_dial_time
from core.campaigns import CampaignConfig, normalise_number

__all__ = [
    "Outcome",
    "Rating",
    "is_do_not_call",
    "next_attempt",
    "normalise_number",
    "outcome_from_dialstatus",
    "outcome_from_originate",
    "parse_rating",
]


class Outcome(StrEnum):
    """How one callback attempt ended; the value names its ``RetrySpacing`` field."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    # Answered, but cut before the survey finished (hang-up mid-survey, node restart).
    INTERRUPTED = "interrupted"


# OriginateResponse's Reason is the last control frame Asterisk read from the dialled channel
# while waiting for the answer: enum ast_control_frame_type in include/asterisk/frame.h.
# 0 means no control frame at all (the channel could not be created or the dial failed at once).
REASON_FAILED = 0  # no frame: channel unavailable, unknown endpoint, dial error
REASON_HANGUP = 1  # AST_CONTROL_HANGUP: the far end hung up (rejected) before answering
REASON_RING = 2  # AST_CONTROL_RING: local ring, timed out before the far end rang
REASON_RINGING = 3  # AST_CONTROL_RINGING: rang until the originate timeout
REASON_ANSWER = 4  # AST_CONTROL_ANSWER
REASON_BUSY = 5  # AST_CONTROL_BUSY: e.g. SIP 486/600
REASON_CONGESTION = 8  # AST_CONTROL_CONGESTION: e.g. SIP 503, no route

_REASONS = {
    REASON_FAILED: Outcome.FAILED,
    REASON_HANGUP: Outcome.NO_ANSWER,
    REASON_RING: Outcome.NO_ANSWER,
    REASON_RINGING: Outcome.NO_ANSWER,
    REASON_BUSY: Outcome.BUSY,
    REASON_CONGESTION: Outcome.CONGESTION,
}


def outcome_from_originate(response: str, reason: int | None) -> Outcome:
    """The outcome of an async AMI Originate from its ``OriginateResponse`` event.

    ``Response`` is ``Success`` once the citizen answered and the survey context started, else
    ``Failure``; for failures ``Reason`` tells why (codes above): 1 (hung up before answering),
    2 and 3 (rang out) → no answer, 5 → busy, 8 → congestion, 0 and anything else → failed.
    A ``Failure`` with reason 4 (answered, but the dialplan could not start) is failed too.
    Raises ValueError for a ``Response`` that Asterisk never sends.
    """
    verdict = response.strip().lower()
    if verdict == "success":
        return Outcome.ANSWERED
    if verdict != "failure":
        raise ValueError(f"OriginateResponse Response must be Success or Failure, got {response!r}")
    if reason is None:
        return Outcome.FAILED
    return _REASONS.get(reason, Outcome.FAILED)


# Q.850 hang-up causes of the dialled channel (AMI Hangup ``Cause``). Asterisk 22 answers a
# 486 Busy with OriginateResponse Reason 0 (measured), so a reason-0 failure is told apart by
# the channel's cause: 17 user busy, 21 call rejected (603 Decline).
_CAUSES = {
    17: Outcome.BUSY,
    21: Outcome.BUSY,
    18: Outcome.NO_ANSWER,  # no user responding (408)
    19: Outcome.NO_ANSWER,  # no answer (480)
    34: Outcome.CONGESTION,  # no circuit available (503)
    38: Outcome.CONGESTION,  # network out of order
    41: Outcome.CONGESTION,  # temporary failure
    42: Outcome.CONGESTION,  # switching equipment congestion
}


def outcome_from_cause(cause: int | None) -> Outcome:
    """The outcome of a failed dialling from its hang-up cause; FAILED for the rest (1
    unallocated number, 27 destination out of order, 28 invalid format …)."""
    return _CAUSES.get(cause, Outcome.FAILED) if cause is not None else Outcome.FAILED


_DIALSTATUS = {
    "ANSWER": Outcome.ANSWERED,
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    # The calling side (our originate) gave up while the phone rang: the ring timeout.
    "CANCEL": Outcome.NO_ANSWER,
    "CONGESTION": Outcome.CONGESTION,
    "CHANUNAVAIL": Outcome.FAILED,
    # Privacy manager answers; the number is not reached either way.
    "DONTCALL": Outcome.FAILED,
    "TORTURE": Outcome.FAILED,
    "INVALIDARGS": Outcome.FAILED,
}


def outcome_from_dialstatus(status: str) -> Outcome:
    """The outcome for a ``Dial()`` ``DIALSTATUS`` value; ValueError for an unknown one."""
    try:
        return _DIALSTATUS[status.strip().upper()]
    except KeyError:
        known = ", ".join(_DIALSTATUS)
        raise ValueError(f"unknown DIALSTATUS {status!r}; expected one of {known}") from None


def next_attempt(
    cfg: CampaignConfig, outcome: Outcome, attempts_made: int, ended_at: datetime, tz: tzinfo
) -> datetime | None:
    """When to dial again after an attempt that ended at ``ended_at`` (UTC), or None.

    None means stop: the survey was answered, or ``attempts_made`` (this one included) reached
    the campaign's ``max_attempts`` and the contact is unreachable.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made counts the attempt just made, got {attempts_made}")
    if outcome is Outcome.ANSWERED or attempts_made >= cfg.max_attempts:
        return None
    spacing: int = getattr(cfg.retry, outcome.value)
    return next_dial_time(cfg, ended_at + timedelta(seconds=spacing), tz)


def is_do_not_call(cfg: CampaignConfig, number: str) -> bool:
    """Is ``number`` on the campaign's do-not-call list (compared in normalised form)?"""
    wanted = normalise_number(number)
    if not wanted:
        return False
    return any(normalise_number(entry) == wanted for entry in cfg.do_not_call)


class Rating(IntEnum):
    """A citizen's answer to one survey question, by the key they press."""

    SATISFIED = 1
    BASIC = 2
    UNSATISFIED = 3

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH[self]


_LABELS_ZH = {Rating.SATISFIED: "满意", Rating.BASIC: "基本满意", Rating.UNSATISFIED: "不满意"}


def parse_rating(digits: str) -> Rating | None:
    """The rating for exactly one key ``1``, ``2`` or ``3``; None for anything else."""
    if digits in ("1", "2", "3"):
        return Rating(int(digits))
    return None
