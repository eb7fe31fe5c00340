"""Deadlines across 国庆 2025 and Spring Festival 2026: sign-for, reply, reopen, extension,
reminders, SLA status and the dispute window, with an injected clock (every "now" an argument)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework import (
    CalendarGapError,
    CaseClock,
    CaseworkSettings,
    CategoryRule,
    DeadlineKind,
    DeadlinePolicy,
    DeadlineRule,
    DisputeRefused,
    ExtensionRefused,
    SlaStatus,
    Urgency,
    WorkingCalendar,
)
from tests.unit.casework_times import sh


@pytest.fixture
def clock() -> CaseClock:
    return CaseClock(WorkingCalendar(), DeadlinePolicy.default())


def test_default_policy_follows_the_seeds() -> None:
    policy = DeadlinePolicy.default()
    for utility in ("供水", "供电", "燃气", "供暖"):
        rule = policy.rule_for(utility)
        assert (rule.reply_days, rule.reply_unit) == (2, "working_days")
    general = policy.rule_for("噪音")
    assert (general.reply_days, general.reply_unit) == (7, "calendar_days")
    assert policy.rule_for(None) == general
    urgent = policy.rule_for("供水", Urgency.URGENT)
    assert (urgent.reply_days, urgent.sign_for_clock) == (0, "clock")
    assert policy.reminder_fraction == 0.8


def test_utilities_two_working_days_across_national_day(clock: CaseClock) -> None:
    # Accepted Tuesday Sep 30: Oct 1–8 off, so day 1 is Oct 9 and day 2 Oct 10.
    deadline = clock.reply_deadline(sh(2025, 9, 30, 10, 0), "供水")
    assert deadline.kind is DeadlineKind.REPLY
    assert deadline.due == sh(2025, 10, 10, 17, 30)
    # Accepted Friday Sep 26: the make-up Sunday Sep 28 is day 1, Monday day 2.
    assert clock.reply_deadline(sh(2025, 9, 26, 15, 0), "燃气").due == sh(2025, 9, 29, 17, 30)
    # Accepted Thursday Oct 9: Friday, then the make-up Saturday Oct 11.
    assert clock.reply_deadline(sh(2025, 10, 9, 9, 0), "供电").due == sh(2025, 10, 11, 17, 30)


def test_utilities_across_spring_festival_2026(clock: CaseClock) -> None:
    # Friday Feb 13: the make-up Saturday Feb 14 is day 1; Feb 15–23 off; day 2 is Feb 24.
    assert clock.reply_deadline(sh(2026, 2, 13, 11, 0), "供暖").due == sh(2026, 2, 24, 17, 30)
    # Accepted on a holiday: the period starts the next working day.
    assert clock.reply_deadline(sh(2026, 2, 18, 11, 0), "供暖").due == sh(2026, 2, 25, 17, 30)
    # Thursday Feb 26: Friday, then the make-up Saturday Feb 28.
    assert clock.reply_deadline(sh(2026, 2, 26, 11, 0), "供暖").due == sh(2026, 2, 28, 17, 30)


def test_general_seven_calendar_days_end_on_a_working_day(clock: CaseClock) -> None:
    # Sep 29 + 7 = Oct 6, a holiday: the period ends on the next working day, Oct 9.
    assert clock.reply_deadline(sh(2025, 9, 29, 10, 0), "噪音").due == sh(2025, 10, 9, 17, 30)
    # Feb 10 + 7 = Feb 17 (Spring Festival) → Feb 24.
    assert clock.reply_deadline(sh(2026, 2, 10, 10, 0), None).due == sh(2026, 2, 24, 17, 30)
    # An ordinary week: Monday Mar 2 + 7 = Monday Mar 9.
    assert clock.reply_deadline(sh(2026, 3, 2, 10, 0), "物业").due == sh(2026, 3, 9, 17, 30)
    # Saturday Mar 7 + 7 = Saturday Mar 14 (not a make-up day) → Monday Mar 16.
    assert clock.reply_deadline(sh(2026, 3, 7, 10, 0), "物业").due == sh(2026, 3, 16, 17, 30)


def test_urgent_is_the_same_working_day(clock: CaseClock) -> None:
    assert clock.reply_deadline(sh(2025, 9, 30, 9, 0), "供水", Urgency.URGENT).due == sh(
        2025, 9, 30, 17, 30
    )
    # Filed after the close, or on a holiday: the end of the next working day.
    assert clock.reply_deadline(sh(2025, 9, 30, 18, 0), "噪音", Urgency.URGENT).due == sh(
        2025, 10, 9, 17, 30
    )
    assert clock.reply_deadline(sh(2026, 2, 13, 19, 0), "噪音", Urgency.URGENT).due == sh(
        2026, 2, 14, 17, 30
    )


def test_sign_for_counts_working_hours_and_urgent_clock_hours(clock: CaseClock) -> None:
    # Dispatched 16:30 on Sep 30: one office hour left, the second on Oct 9 morning.
    deadline = clock.sign_for_deadline(sh(2025, 9, 30, 16, 30), "供水")
    assert (deadline.kind, deadline.due) == (DeadlineKind.SIGN_FOR, sh(2025, 10, 9, 9, 30))
    # Dispatched at night before the make-up Saturday Feb 14.
    assert clock.sign_for_deadline(sh(2026, 2, 13, 22, 0), "噪音").due == sh(2026, 2, 14, 10, 30)
    # Urgent: a duty officer signs within one clock hour, holiday or not.
    urgent = clock.sign_for_deadline(sh(2025, 10, 2, 23, 30), "燃气", Urgency.URGENT)
    assert urgent.due == sh(2025, 10, 3, 0, 30)


def test_category_rules_are_configurable() -> None:
    cfg = CaseworkSettings(
        rules=[
            CategoryRule(categories=["劳动保障"], sign_for_hours=4, reply_days=5),
            CategoryRule(
                categories=["供水"], urgency=Urgency.URGENT, sign_for_hours=0.5, reply_days=1
            ),
        ],
        normal=DeadlineRule(sign_for_hours=2, reply_days=15),
    )
    clock = CaseClock(WorkingCalendar(), DeadlinePolicy.from_settings(cfg))
    # Five working days from Friday Sep 26: Sun 28 (调休), 29, 30, Oct 9, Oct 10.
    assert clock.reply_deadline(sh(2025, 9, 26, 9, 0), "劳动保障").due == sh(2025, 10, 10, 17, 30)
    # The list replaces the default utilities rule: 供水 normal falls back to `normal`.
    assert clock.policy.rule_for("供水").reply_days == 15
    assert clock.reply_deadline(sh(2025, 9, 30, 9, 0), "供水", Urgency.URGENT).due == sh(
        2025, 10, 9, 17, 30
    )


def test_reopened_ticket_gets_a_new_reply_deadline(clock: CaseClock) -> None:
    first = clock.reply_deadline(sh(2025, 9, 22, 10, 0), "供水")
    assert first.due == sh(2025, 9, 24, 17, 30)
    extended = clock.extend(first, 2, sh(2025, 9, 24, 9, 0))
    # The citizen is unsatisfied at the callback on Sep 30: full time again from then.
    again = clock.reopen_deadline(sh(2025, 9, 30, 15, 0), "供水")
    assert again.due == sh(2025, 10, 10, 17, 30)
    assert again.extended_days == 0 and extended.extended_days == 2
    assert clock.status(again, sh(2025, 10, 9, 9, 0)) is SlaStatus.ON_TRACK


def test_extension_adds_working_days_across_the_holiday(clock: CaseClock) -> None:
    deadline = clock.reply_deadline(sh(2025, 9, 26, 10, 0), "供水")
    assert deadline.due == sh(2025, 9, 29, 17, 30)
    longer = clock.extend(deadline, 3, sh(2025, 9, 29, 17, 0))
    # Sep 30, then Oct 9 and Oct 10 after the holiday.
    assert longer.due == sh(2025, 10, 10, 17, 30)
    assert longer.extended_days == 3 and longer.start == deadline.start
    assert clock.extend(longer, 1, sh(2025, 10, 10, 9, 0)).due == sh(2025, 10, 11, 17, 30)


def test_extension_on_an_overdue_ticket_is_refused(clock: CaseClock) -> None:
    deadline = clock.reply_deadline(sh(2025, 9, 26, 10, 0), "供水")
    with pytest.raises(ExtensionRefused, match=r"already overdue \(due 2025-09-29 17:30\)"):
        clock.extend(deadline, 2, sh(2025, 9, 29, 17, 31))
    # At the deadline itself the request still counts.
    clock.check_extension(deadline, 2, sh(2025, 9, 29, 17, 30))


@pytest.mark.parametrize(
    ("days", "message"),
    [(0, "at least 1 working day"), (11, "at most 10 working days in all")],
)
def test_extension_length_is_checked(clock: CaseClock, days: int, message: str) -> None:
    deadline = clock.reply_deadline(sh(2025, 9, 26, 10, 0), "供水")
    with pytest.raises(ExtensionRefused, match=message):
        clock.extend(deadline, days, sh(2025, 9, 26, 11, 0))


def test_extensions_are_capped_in_total(clock: CaseClock) -> None:
    deadline = clock.extend(
        clock.reply_deadline(sh(2025, 9, 22, 10, 0), "供水"), 8, sh(2025, 9, 22, 11, 0)
    )
    with pytest.raises(ExtensionRefused, match="has 8 already and asks for 3 more"):
        clock.extend(deadline, 3, sh(2025, 9, 23, 11, 0))


def test_sign_for_deadlines_cannot_be_extended(clock: CaseClock) -> None:
    deadline = clock.sign_for_deadline(sh(2025, 9, 26, 10, 0), "供水")
    with pytest.raises(ExtensionRefused, match="only a reply deadline"):
        clock.extend(deadline, 1, sh(2025, 9, 26, 10, 30))


def test_reminder_at_eighty_percent_of_working_time(clock: CaseClock) -> None:
    # Sep 30 10:00 → Oct 10 17:30: 6 h (Sep 30) + 7.5 + 7.5 = 21 office hours.
    deadline = clock.reply_deadline(sh(2025, 9, 30, 10, 0), "供水")
    # 80 % = 16.8 h: 6 on Sep 30, 7.5 on Oct 9, then 3.3 h on Oct 10 → 11:48.
    assert clock.reminder_at(deadline) == sh(2025, 10, 10, 11, 48)
    # Calendar-day limits remind by elapsed time.
    general = clock.reply_deadline(sh(2026, 3, 2, 9, 30), "物业")  # due Mar 9 17:30
    assert (
        clock.reminder_at(general)
        == sh(2026, 3, 2, 9, 30) + (sh(2026, 3, 9, 17, 30) - sh(2026, 3, 2, 9, 30)) * 0.8
    )


def test_sla_status(clock: CaseClock) -> None:
    deadline = clock.reply_deadline(sh(2025, 9, 30, 10, 0), "供水")
    assert clock.status(deadline, sh(2025, 10, 5, 12, 0)) is SlaStatus.ON_TRACK
    assert clock.status(deadline, sh(2025, 10, 10, 11, 47)) is SlaStatus.ON_TRACK
    assert clock.status(deadline, sh(2025, 10, 10, 11, 48)) is SlaStatus.WARNING
    assert clock.status(deadline, sh(2025, 10, 10, 17, 30)) is SlaStatus.WARNING
    assert clock.status(deadline, sh(2025, 10, 10, 17, 31)) is SlaStatus.OVERDUE
    done_in_time = sh(2025, 10, 10, 17, 0)
    assert clock.status(deadline, sh(2025, 11, 1), done_in_time) is SlaStatus.MET
    assert clock.status(deadline, sh(2025, 11, 1), sh(2025, 10, 11, 9, 0)) is SlaStatus.BREACHED


def test_reminder_fraction_is_configurable() -> None:
    policy = DeadlinePolicy.from_settings(CaseworkSettings(reminder_fraction=0.5))
    clock = CaseClock(WorkingCalendar(), policy)
    sign_for = clock.sign_for_deadline(sh(2025, 9, 29, 9, 0), "噪音")  # 2 office hours
    assert clock.reminder_at(sign_for) == sh(2025, 9, 29, 10, 0)
    assert clock.status(sign_for, sh(2025, 9, 29, 10, 0)) is SlaStatus.WARNING


def test_dispute_window_one_working_day(clock: CaseClock) -> None:
    # Dispatched Sep 30 at 15:00: the window ends at the close of the next working day.
    since = sh(2025, 9, 30, 15, 0)
    assert clock.dispute_window_end(since) == sh(2025, 10, 9, 17, 30)
    clock.check_dispute(since, sh(2025, 10, 9, 17, 30), "不属于本单位职责")
    with pytest.raises(DisputeRefused, match=r"window closed at 2025-10-09 17:30"):
        clock.check_dispute(since, sh(2025, 10, 9, 17, 31), "不属于本单位职责")
    with pytest.raises(DisputeRefused, match="must give a reason"):
        clock.check_dispute(since, sh(2025, 10, 9, 9, 0), "  ")


def test_dispute_window_same_day_and_the_clock_keeps_running() -> None:
    policy = DeadlinePolicy.from_settings(CaseworkSettings(dispute_window_days=0))
    clock = CaseClock(WorkingCalendar(), policy)
    since = sh(2026, 2, 13, 16, 0)
    assert clock.dispute_window_end(since) == sh(2026, 2, 13, 17, 30)
    # A dispute filed in time changes no deadline: 首接负责, the reply is still due Feb 24.
    reply = clock.reply_deadline(since, "供水")
    clock.check_dispute(since, sh(2026, 2, 13, 17, 0), "应由供热公司办理")
    assert clock.status(reply, sh(2026, 2, 24, 17, 31)) is SlaStatus.OVERDUE


def test_deadline_in_an_uncovered_year_is_an_error(clock: CaseClock) -> None:
    with pytest.raises(CalendarGapError, match="2027"):
        clock.reply_deadline(sh(2026, 12, 30, 10, 0), "供水")
    with pytest.raises(CalendarGapError, match="2027"):
        clock.reply_deadline(sh(2026, 12, 28, 10, 0), "噪音")


def test_timezone_of_inputs_does_not_matter(clock: CaseClock) -> None:
    from datetime import UTC

    utc = sh(2025, 9, 30, 10, 0).astimezone(UTC)
    assert clock.reply_deadline(utc, "供水").due == sh(2025, 10, 10, 17, 30)
    assert clock.sign_for_deadline(utc, "供水").start.utcoffset() == timedelta(hours=8)
