"""Satisfaction callbacks (满意度回访): the pure rules of outbound survey campaigns.

Call flow: a ticket marked replied (已答复) is matched to a campaign (``CallbackSettings``,
``CampaignConfig``); the app plans attempts with ``next_dial_time`` (calling windows, holidays,
make-up workdays), the dialer checks ``is_do_not_call``, waits on a ``Pacer`` (channel and rate
limits) and originates over AMI; Asterisk's verdict becomes an ``Outcome``
(``outcome_from_originate`` / ``outcome_from_dialstatus``) and ``next_attempt`` plans the retry
or gives up; the FastAGI survey turns key presses into ``Rating``s with ``parse_rating``.

This package does no I/O and imports only the standard library, pydantic and core: the
scheduler, the AMI dialer, the tables and the survey dialog are wired by the app.
"""

from callbacks.calendar import SEARCH_DAYS, in_window, is_dialling_day, next_dial_time
from callbacks.pacing import Pacer
from callbacks.policy import (
    Outcome,
    Rating,
    is_do_not_call,
    next_attempt,
    normalise_number,
    outcome_from_cause,
    outcome_from_dialstatus,
    outcome_from_originate,
    parse_rating,
)
from core.campaigns import CallbackSettings, CampaignConfig, RetrySpacing, Window

__all__ = [
    "SEARCH_DAYS",
    "CallbackSettings",
    "CampaignConfig",
    "Outcome",
    "Pacer",
    "Rating",
    "RetrySpacing",
    "Window",
    "in_window",
    "is_dialling_day",
    "is_do_not_call",
    "next_attempt",
    "next_dial_time",
    "normalise_number",
    "outcome_from_cause",
    "outcome_from_dialstatus",
    "outcome_from_originate",
    "parse_rating",
]
