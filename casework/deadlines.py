"""Deadlines of a ticket at a department: sign-for, reply, reopen, extension, reminder, dispute.

Call flow (§6 of DESIGN): when a ticket is dispatched (已派单) the app asks
``CaseClock.sign_for_deadline``; when the department signs for it (已签收) or it is
force-assigned, ``reply_deadline``; when an unsatisfied callback reopens it (重办),
``reopen_deadline``; when a supervisor approves an extension (延期), ``extend``. The app stores
each ``Deadline``'s ``due`` and the ``SlaStatus`` from ``status`` on the ticket, so lists and
reports filter on a column (Frappe's shape); the scheduler sends the 督办 reminder at
``reminder_at`` and flags the ticket overdue after ``due``. ``check_dispute`` guards the
dispute form (派单异议).

A dispute does not stop the clock (首接负责): the department keeps the ticket and its
deadline until a reviewer decides, so there is no "paused" status here.

Only ``WorkingCalendar`` knows which days and hours count; this module asks it (Zammad's
shape) and reads no clock of its own: every "now" is an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from casework.calendar import WorkingCalendar
from casework.errors import DisputeRefused, ExtensionRefused
from core.casework import CaseworkSettings, DeadlineRule, HourClock, Urgency


class SlaStatus(enum.StrEnum):
    """Where a deadline stands; stored on the ticket beside ``due``."""

    ON_TRACK = "on_track"  # open, less than the reminder fraction of the time used
    WARNING = "warning"  # open, past the reminder (督办): the department has been reminded
    OVERDUE = "overdue"  # open, past due (超期)
    MET = "met"  # done by the deadline (按时办结)
    BREACHED = "breached"  # done, but after the deadline (超期办结)


class DeadlineKind(enum.StrEnum):
    SIGN_FOR = "sign_for"  # 签收
    REPLY = "reply"  # 办理时限 (答复)


@dataclass(frozen=True, slots=True)
class Deadline:
    """One deadline: from ``start`` to ``due``; ``measure`` is how the time in between counts
    for the reminder (office time for working-hour and working-day limits, clock time else)."""

    kind: DeadlineKind
    start: datetime
    due: datetime
    measure: HourClock
    extended_days: int = 0


@dataclass(frozen=True)
class DeadlinePolicy:
    """The rules by category and urgency, plus the reminder, dispute and extension limits."""

    normal: DeadlineRule
    urgent: DeadlineRule
    by_category: Mapping[tuple[str, Urgency], DeadlineRule] = field(default_factory=dict)
    reminder_fraction: float = 0.8
    dispute_window_days: int = 1
    max_extension_days: int = 10

    @classmethod
    def from_settings(cls, cfg: CaseworkSettings) -> DeadlinePolicy:
        by_category = {
            (name, rule.urgency): DeadlineRule(
                sign_for_hours=rule.sign_for_hours,
                sign_for_clock=rule.sign_for_clock,
                reply_days=rule.reply_days,
                reply_unit=rule.reply_unit,
            )
            for rule in cfg.rules
            for name in rule.categories
        }
        return cls(
            normal=cfg.normal,
            urgent=cfg.urgent,
            by_category=by_category,
            reminder_fraction=cfg.reminder_fraction,
            dispute_window_days=cfg.dispute_window_days,
            max_extension_days=cfg.max_extension_days,
        )

    @classmethod
    def default(cls) -> DeadlinePolicy:
        """The seeds' defaults: utilities 2 working days, general 7 days, urgent same day."""
        return cls.from_settings(CaseworkSettings())

    def rule_for(self, category: str | None, urgency: Urgency = Urgency.NORMAL) -> DeadlineRule:
        """The category's rule at this urgency, else the default rule of the urgency."""
        if category is not None:
            rule = self.by_category.get((category, urgency))
            if rule is not None:
                return rule
        return self.urgent if urgency is Urgency.URGENT else self.normal


class CaseClock:
    """Answers every "when is it due" of the case loop from one calendar and one policy."""

    def __init__(self, calendar: WorkingCalendar, policy: DeadlinePolicy) -> None:
        self.calendar = calendar
        self.policy = policy

    def _after_hours(self, start: datetime, hours: float, clock: HourClock) -> datetime:
        if clock == "working":
            return self.calendar.add_working_hours(start, hours)
        return self.calendar.local(start) + timedelta(hours=hours)

    def sign_for_deadline(
        self, dispatched_at: datetime, category: str | None, urgency: Urgency = Urgency.NORMAL
    ) -> Deadline:
        """签收: the department must sign for the ticket within the rule's hours.

        Working hours by default, because departments work office hours while the hotline
        dispatches around the clock: a ticket sent at 22:00 is not late at 07:00. Urgent
        tickets count clock hours (departments keep a duty officer).
        """
        rule = self.policy.rule_for(category, urgency)
        start = self.calendar.local(dispatched_at)
        due = self._after_hours(start, rule.sign_for_hours, rule.sign_for_clock)
        return Deadline(DeadlineKind.SIGN_FOR, start, due, rule.sign_for_clock)

    def reply_deadline(
        self, accepted_at: datetime, category: str | None, urgency: Urgency = Urgency.NORMAL
    ) -> Deadline:
        """办理时限: reply by the close of office on the last day of the period.

        The day of acceptance is not counted. Working days skip holidays and include make-up
        working days; calendar days count every day, and a period whose last day is not a
        working day ends on the next working day (民法典 第二百零三条). ``reply_days = 0``:
        the same working day (the next one when accepted after the close or on a day off).
        """
        rule = self.policy.rule_for(category, urgency)
        start = self.calendar.local(accepted_at)
        calendar = self.calendar
        if rule.reply_days == 0:
            due = calendar.end_of_working_day(start)
        elif rule.reply_unit == "working_days":
            due = calendar.office_close(calendar.add_working_days(start.date(), rule.reply_days))
        else:
            last = start.date() + timedelta(days=rule.reply_days)
            due = calendar.office_close(calendar.workday_on_or_after(last))
        measure: HourClock = "working" if rule.reply_unit == "working_days" else "clock"
        return Deadline(DeadlineKind.REPLY, start, due, measure)

    def reopen_deadline(
        self, reopened_at: datetime, category: str | None, urgency: Urgency = Urgency.NORMAL
    ) -> Deadline:
        """重办: a reopened ticket gets the full reply time again, counted from the reopening
        (the old deadline and any extension on it no longer apply)."""
        return self.reply_deadline(reopened_at, category, urgency)

    def check_extension(self, deadline: Deadline, days: int, requested_at: datetime) -> None:
        """Raise ``ExtensionRefused`` unless the department may ask for ``days`` more."""
        if deadline.kind is not DeadlineKind.REPLY:
            raise ExtensionRefused(
                f"only a reply deadline can be extended, not a {deadline.kind.value} deadline"
            )
        if requested_at > deadline.due:
            raise ExtensionRefused(
                "the ticket is already overdue (due "
                f"{deadline.due.astimezone(self.calendar.tz):%Y-%m-%d %H:%M}): an extension "
                "must be requested before the deadline"
            )
        if days < 1:
            raise ExtensionRefused(f"an extension adds at least 1 working day, not {days}")
        limit = self.policy.max_extension_days
        if deadline.extended_days + days > limit:
            raise ExtensionRefused(
                f"extensions may add at most {limit} working days in all; this ticket has "
                f"{deadline.extended_days} already and asks for {days} more"
            )

    def extend(self, deadline: Deadline, days: int, requested_at: datetime) -> Deadline:
        """延期: the approved extension moves ``due`` by ``days`` working days (to the close
        of office). Judged by when the department asked, not when the supervisor approved."""
        self.check_extension(deadline, days, requested_at)
        calendar = self.calendar
        last = calendar.add_working_days(calendar.local(deadline.due).date(), days)
        return replace(
            deadline, due=calendar.office_close(last), extended_days=deadline.extended_days + days
        )

    def reminder_at(self, deadline: Deadline) -> datetime:
        """督办: when ``reminder_fraction`` of the deadline's time is used."""
        fraction = self.policy.reminder_fraction
        if deadline.measure == "working":
            total = self.calendar.working_time_between(deadline.start, deadline.due)
            return self.calendar.add_working_time(deadline.start, total * fraction)
        return deadline.start + (deadline.due - deadline.start) * fraction

    def status(
        self, deadline: Deadline, now: datetime, done_at: datetime | None = None
    ) -> SlaStatus:
        """The deadline's status at ``now``; ``done_at`` is when it was met (signed, replied)."""
        if done_at is not None:
            return SlaStatus.MET if done_at <= deadline.due else SlaStatus.BREACHED
        if now > deadline.due:
            return SlaStatus.OVERDUE
        if now >= self.reminder_at(deadline):
            return SlaStatus.WARNING
        return SlaStatus.ON_TRACK

    def dispute_window_end(self, since: datetime) -> datetime:
        """The last moment a dispute may be filed: the close of office on the
        ``dispute_window_days``-th working day after ``since`` (dispatch or acceptance)."""
        days = self.policy.dispute_window_days
        if days == 0:
            return self.calendar.end_of_working_day(since)
        day = self.calendar.local(since).date()
        return self.calendar.office_close(self.calendar.add_working_days(day, days))

    def check_dispute(self, since: datetime, filed_at: datetime, reason: str) -> None:
        """Raise ``DisputeRefused`` unless a dispute filed at ``filed_at`` may be reviewed.

        Accepting it changes nothing else here: the ticket stays with the department and its
        deadlines keep running until a reviewer decides (首接负责).
        """
        if not reason.strip():
            raise DisputeRefused("a dispute must give a reason (异议理由)")
        end = self.dispute_window_end(since)
        if filed_at > end:
            raise DisputeRefused(
                f"the dispute window closed at {end:%Y-%m-%d %H:%M} "
                f"({self.policy.dispute_window_days} working day(s) after dispatch): "
                "the ticket stays with the department (首接负责)"
            )
