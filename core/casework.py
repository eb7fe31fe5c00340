"""Settings of the case loop (接诉即办, ``[casework]``): office hours, deadlines, grab, disputes.

Call flow: the app builds one ``casework.WorkingCalendar`` (office hours from here, holidays
from chinesecalendar plus ``calendar_overrides``) and one ``casework.CaseClock`` (the deadline
rules from here) at start-up, checks that the calendar covers the next
``calendar_horizon_days``, and asks the clock for every deadline of every ticket: sign-for
(签收) after dispatch, reply (办理时限) after acceptance, a new reply deadline on reopening
(重办), extensions (延期), reminders (督办) and the dispute window (异议). The grab pool (抢单)
closes ``grab_window_hours`` after publication; then the catalogue's lead department gets the
ticket by forced assignment (指定派发).

Pure data and validation: nothing here touches the clock, files or the database. The two
file paths are only names; the app reads the files and hands their text to ``casework``.
"""

from __future__ import annotations

import enum
import itertools
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.campaigns import Window, named_categories

# How an hour-based clock counts: "working" hours run only inside office hours on working days
# (they stop over nights, weekends and holidays and run on make-up Saturdays); "clock" hours
# are plain elapsed time, for work that is staffed around the clock (值班).
HourClock = Literal["working", "clock"]
# How a day-based limit counts: working days (工作日) or calendar days (自然日). A calendar-day
# limit whose last day is not a working day ends on the next working day (民法典 第二百零三条).
DayUnit = Literal["working_days", "calendar_days"]

# The utilities (水电气暖) whose reply time the seeds shorten to 2 working days (seed 001, 济宁).
UTILITIES = ("供水", "供电", "燃气", "供暖")


class Urgency(enum.StrEnum):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急


class OfficeSpan(Window):
    """One block of office hours (办公时间) in local wall-clock time, e.g. 08:30–12:00.

    A calling window (``Window``) that may not run across midnight.
    """

    @model_validator(mode="after")
    def _same_day(self) -> OfficeSpan:
        if self.crosses_midnight:
            raise ValueError(f"office hours {self} must end after they start, on the same day")
        return self


def _default_office_hours() -> list[OfficeSpan]:
    # A common schedule of Chinese government offices (上午 8:30–12:00, 下午 13:30–17:30).
    # Cities with summer and winter schedules (夏令/冬令作息) choose one here.
    return [
        OfficeSpan(start=time(8, 30), end=time(12, 0)),
        OfficeSpan(start=time(13, 30), end=time(17, 30)),
    ]


class DeadlineRule(BaseModel):
    """The two time limits of a ticket at a department: sign for it, then reply.

    ``reply_days = 0`` means the same day: by the close of office on the day of acceptance,
    or of the next working day when it arrives after the close or on a day off.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sign_for_hours: float = Field(gt=0, le=24 * 30)
    sign_for_clock: HourClock = "working"
    reply_days: int = Field(ge=0, le=365)
    reply_unit: DayUnit = "working_days"


class CategoryRule(DeadlineRule):
    """A deadline rule for some categories at one urgency, replacing the default rule there."""

    categories: list[str] = Field(min_length=1)
    urgency: Urgency = Urgency.NORMAL

    @field_validator("categories")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return named_categories(value)


def _default_rules() -> list[CategoryRule]:
    return [CategoryRule(categories=list(UTILITIES), sign_for_hours=2, reply_days=2)]


class CaseworkSettings(BaseModel):
    """The ``[casework]`` section. Every default is from the seeds or documented in README."""

    model_config = ConfigDict(extra="forbid")

    office_hours: list[OfficeSpan] = Field(default_factory=_default_office_hours, min_length=1)
    # General matters: sign for within 2 working hours; resolved within 7 days (seed 004, 大同:
    # "一般在7天内解决" — calendar days, unlike seed 001's "2个工作日").
    normal: DeadlineRule = Field(
        default_factory=lambda: DeadlineRule(
            sign_for_hours=2, reply_days=7, reply_unit="calendar_days"
        )
    )
    # Urgent matters: departments keep a duty officer (值班), so sign-for counts clock hours;
    # the reply is due the same day.
    urgent: DeadlineRule = Field(
        default_factory=lambda: DeadlineRule(sign_for_hours=1, sign_for_clock="clock", reply_days=0)
    )
    # Per-category rules (first match for the ticket's urgency wins over normal/urgent);
    # setting this list replaces the default utilities rule (水电气暖: 2 working days).
    rules: list[CategoryRule] = Field(default_factory=_default_rules)
    # 督办: remind the department when this fraction of the time is used.
    reminder_fraction: float = Field(default=0.8, gt=0, lt=1)
    # A dispute (派单异议) may be filed until the close of office on the N-th working day after
    # dispatch or acceptance; 0 = the same working day.
    dispute_window_days: int = Field(default=1, ge=0, le=30)
    # Extensions (延期) add working days to a reply deadline, at most this many in all.
    max_extension_days: int = Field(default=10, ge=1, le=365)
    # 抢单: a published ticket may be claimed for this long (seeds 000/001: 3 hours) …
    grab_window_hours: float = Field(default=3.0, gt=0, le=24 * 30)
    # … counted in working hours, so a window never closes while the offices are shut.
    grab_clock: HourClock = "working"
    # How often the one scheduler's sweep runs: forced assignment after the grab window,
    # sign-for and reply reminders and overdue flags are at most this late.
    sweep_seconds: float = Field(default=60.0, ge=5, le=3600)
    # 派单前电话确认: the dispatcher phones the citizen before a ticket leaves the centre.
    confirm_by_phone: bool = False
    # Holidays for years chinesecalendar does not cover yet (format in README); None: none.
    calendar_overrides: Path | None = None
    # Start-up fails when a year within this many days from today has no working-day data
    # (0: only today's year). The State Council publishes next year's schedule in November or
    # December, so a December start must not fail for want of it: the warning below says so.
    calendar_horizon_days: int = Field(default=0, ge=0, le=366)
    # A year within this many days that has no data is reported (log, /api/health) every start.
    calendar_warn_days: int = Field(default=45, ge=0, le=366)
    # The dispatch catalogue (派单目录); default <data_dir>/dispatch.toml.
    catalogue: Path | None = None

    @field_validator("office_hours")
    @classmethod
    def _spans(cls, value: list[OfficeSpan]) -> list[OfficeSpan]:
        ordered = sorted(value, key=lambda span: span.start)
        for first, second in itertools.pairwise(ordered):
            if second.start < first.end:
                raise ValueError(f"office hours {first} and {second} overlap")
        return ordered

    @field_validator("rules")
    @classmethod
    def _one_rule_each(cls, value: list[CategoryRule]) -> list[CategoryRule]:
        seen: set[tuple[str, Urgency]] = set()
        for rule in value:
            for name in rule.categories:
                if (name, rule.urgency) in seen:
                    raise ValueError(
                        f"category {name!r} has more than one {rule.urgency.value} deadline rule"
                    )
                seen.add((name, rule.urgency))
        return value
