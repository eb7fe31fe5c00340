"""The KPIs (考核指标) we compute: code, Chinese name, what is counted above and below the line,
what is left out, where the figures come from, the unit and the target.

This is the documentation the README's table is checked against (tests/unit/test_kpis.py);
the SQL that counts each KPI is in ``app.kpis.service``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Dimension(enum.StrEnum):
    """What a report breaks its figures down by (``by=``)."""

    NONE = "none"
    DEPARTMENT = "department"  # the handling department (承办单位), with the ones below it
    CATEGORY = "category"
    DISTRICT = "district"  # the district (区县) the handling department lies in
    CHANNEL = "channel"  # a ticket's source (phone:12345, web …); a call's queue
    AGENT = "agent"


class Unit(enum.StrEnum):
    RATIO = "ratio"  # a share, 0..1
    SECONDS = "seconds"  # an average duration


D = Dimension
_ALL = frozenset(D)
_CALLS = frozenset({D.NONE, D.CHANNEL})
_DISPATCH = frozenset({D.NONE, D.DEPARTMENT, D.DISTRICT, D.CATEGORY, D.CHANNEL})


@dataclass(frozen=True, slots=True)
class Kpi:
    code: str
    name_zh: str
    name_en: str
    numerator: str
    denominator: str
    excluded: str
    source: str
    unit: Unit = Unit.RATIO
    target: float | None = None  # a share to reach (≥), unless ``higher_is_better`` is False
    higher_is_better: bool = True
    dimensions: frozenset[Dimension] = _ALL
    setting: str = ""


KPIS: tuple[Kpi, ...] = (
    # --- calls --------------------------------------------------------------------------------
    Kpi(
        "answer_rate",
        "人工接通率",
        "answered by an agent",
        "queue entries answered by an agent",
        "queue entries (callers offered to a queue)",
        "nothing (see answer_rate_adjusted)",
        "queue_entries.joined_at, outcome",
        target=0.95,
        dimensions=_CALLS,
    ),
    Kpi(
        "answer_rate_adjusted",
        "人工接通率（剔除后）",
        "answered by an agent, excluded periods left out",
        "queue entries answered, joined outside every excluded period",
        "queue entries joined outside every excluded period",
        "callers who joined inside an excluded period (故障, 话务量超出座席能力)",
        "queue_entries.joined_at, outcome; kpi_excluded_periods",
        target=0.95,
        dimensions=_CALLS,
    ),
    Kpi(
        "service_level",
        "15秒接通率（人工应答及时率）",
        "answered within the service level",
        "queue entries answered with wait_seconds ≤ service_level_seconds",
        "queue entries answered (or offered, when service_level_denominator = offered)",
        "nothing",
        "queue_entries.wait_seconds, outcome",
        target=0.8,
        dimensions=_CALLS | {D.AGENT},
        setting="service_level_seconds, service_level_denominator",
    ),
    Kpi(
        "avg_wait",
        "平均等待时长",
        "average speed of answer",
        "seconds waited by queue entries answered",
        "queue entries answered",
        "callers who abandoned (see abandon_rate)",
        "queue_entries.wait_seconds",
        unit=Unit.SECONDS,
        higher_is_better=False,
        dimensions=_CALLS | {D.AGENT},
    ),
    Kpi(
        "avg_talk",
        "平均通话时长",
        "average talk time",
        "seconds from answered_at to ended_at of answered calls",
        "calls answered that have ended",
        "calls still up",
        "calls.started_at, answered_at, ended_at, agent_id, queue",
        unit=Unit.SECONDS,
        higher_is_better=False,
        dimensions=_CALLS | {D.AGENT},
    ),
    Kpi(
        "abandon_rate",
        "放弃率",
        "abandonment rate",
        "queue entries abandoned by the caller",
        "queue entries (offered)",
        "nothing",
        "queue_entries.outcome",
        higher_is_better=False,
        dimensions=_CALLS,
    ),
    Kpi(
        "missed_callback_rate",
        "漏接回拨率",
        "missed-call callback rate",
        "missed calls called back (state done)",
        "missed calls, less those cleared (the caller got through by themselves)",
        "cleared entries",
        "missed_calls.at, state",
        dimensions=frozenset({D.NONE, D.AGENT}),
    ),
    Kpi(
        "missed_callback_time",
        "平均回拨时长",
        "time to callback",
        "seconds from the missed call (at) to its callback (closed_at)",
        "missed calls called back",
        "open and cleared entries",
        "missed_calls.at, closed_at, state, claimed_by",
        unit=Unit.SECONDS,
        higher_is_better=False,
        dimensions=frozenset({D.NONE, D.AGENT}),
    ),
    # --- tickets at the centre -----------------------------------------------------------------
    Kpi(
        "direct_answer_rate",
        "直接答复率",
        "answered directly",
        "tickets of the intake cohort ever moved to answered (直接答复)",
        "intake cohort: tickets first registered (受理) in the period",
        "merged duplicates (已并单)",
        "ticket_transitions (draft → registered, → answered), tickets",
    ),
    Kpi(
        "completion_rate",
        "办结率",
        "closed",
        "tickets of the intake cohort that are closed (办结) now",
        "intake cohort: tickets first registered in the period",
        "merged duplicates",
        "ticket_transitions, tickets.state",
    ),
    Kpi(
        "repeat_caller_rate",
        "重复来电率",
        "repeat callers",
        "tickets of the intake cohort whose caller had another ticket on the same matter "
        "created in the N days before",
        "tickets of the intake cohort with a caller number",
        "drafts (the earlier ticket must have been registered)",
        "tickets.caller, category, created_at",
        higher_is_better=False,
        setting="repeat_window_days, same_matter",
    ),
    # --- the departments' work -----------------------------------------------------------------
    Kpi(
        "response_rate",
        "响应率",
        "signed for in time",
        "tickets claimed (抢单), or signed for (签收) between dispatch and sign_due_at",
        "tickets dispatched to a department in the period (dispatched_at)",
        "tickets not signed whose sign-for time has not come yet",
        "tickets.dispatched_at, sign_due_at, claimed_at, department; ticket_transitions",
        dimensions=_DISPATCH,
    ),
    Kpi(
        "on_time_rate",
        "按时办结率",
        "replied on time",
        "tickets replied (已答复) between reply_started_at and reply_due_at",
        "tickets whose reply deadline (reply_due_at, working days) falls in the period",
        "tickets not replied whose deadline has not passed yet; earlier rounds of a "
        "reopened ticket",
        "tickets.reply_started_at, reply_due_at; ticket_transitions (→ replied)",
        dimensions=_DISPATCH,
    ),
    Kpi(
        "dispute_rate",
        "异议率",
        "disputes",
        "disputes (派单异议) filed in the period by the department",
        "tickets dispatched to the department in the period",
        "nothing",
        "disputes.filed_at, department; tickets.dispatched_at",
        higher_is_better=False,
        dimensions=_DISPATCH - {D.CATEGORY, D.CHANNEL},
    ),
    Kpi(
        "return_rate",
        "回退率",
        "returns",
        "disputes confirmed (复核通过: the ticket left the department) in the period",
        "tickets dispatched to the department in the period",
        "disputes rejected or still under review",
        "disputes.confirmed_at, status, department; tickets.dispatched_at",
        higher_is_better=False,
        dimensions=_DISPATCH - {D.CATEGORY, D.CHANNEL},
    ),
    Kpi(
        "grab_rate",
        "抢单率",
        "claimed from the grab pool",
        "grab offers the department won by claiming (抢单)",
        "grab offers: tickets published to the pool in the period, once per department "
        "offered (by department); tickets published (otherwise)",
        "nothing",
        "tickets.published_at, claimed_at, department, forced; grab_offers",
        dimensions=_DISPATCH,
    ),
    Kpi(
        "forced_rate",
        "指定派发率",
        "forced assignments",
        "grab offers ending in a forced assignment (指定派发) to the department",
        "grab offers, as for grab_rate",
        "nothing",
        "tickets.published_at, forced, department; grab_offers",
        higher_is_better=False,
        dimensions=_DISPATCH,
    ),
    # --- the citizen's word (回访) ---------------------------------------------------------------
    Kpi(
        "satisfaction_rate",
        "满意率",
        "satisfied",
        "callbacks whose service rating (一次一评) is one of satisfied_answers",
        "callbacks finished in the period with a service rating",
        "callbacks without a valid rating",
        "callbacks.finished_at, service_rating; tickets (department, category …)",
        target=0.9,
        setting="satisfied_answers",
    ),
    Kpi(
        "resolution_rate",
        "解决率",
        "resolved",
        "callbacks whose outcome rating (一事一评) is one of resolved_answers",
        "callbacks finished in the period with an outcome rating",
        "callbacks without a valid rating",
        "callbacks.finished_at, outcome_rating",
        setting="resolved_answers",
    ),
    Kpi(
        "valid_callback_rate",
        "有效回访率",
        "callbacks with a valid rating",
        "callbacks owed in the period that got a valid outcome rating",
        "callbacks owed: created in the period (one per reply round)",
        "cancelled callbacks",
        "callbacks.created_at, status, outcome_rating",
    ),
    Kpi(
        "reopen_rate",
        "重办率",
        "reopened",
        "callbacks answered unsatisfied (不满意: the ticket goes back, 重办)",
        "callbacks finished in the period with an outcome rating (called back)",
        "reopenings by hand (a supervisor's)",
        "callbacks.finished_at, outcome_rating",
        higher_is_better=False,
    ),
    # --- agents --------------------------------------------------------------------------------
    Kpi(
        "occupancy",
        "座席占用率",
        "occupancy",
        "seconds on call or in after-call work (通话, 话后处理)",
        "seconds ready, on call or in after-call work (示闲 + 通话 + 话后)",
        "paused (示忙) and logged-out time",
        "agent_state_changes (agent_id, state, at), clipped to the period",
        dimensions=frozenset({D.NONE, D.AGENT}),
    ),
)

BY_CODE = {kpi.code: kpi for kpi in KPIS}


def kpi(code: str) -> Kpi:
    return BY_CODE[code]
