"""Report periods in the centre's zone (Asia/Shanghai): a day, an ISO week (Monday first), a
month, a quarter or a custom run of days, each with the period before it for comparisons.

A period is a half-open run of local dates ``[first, end)``; :meth:`Period.bounds` turns it
into UTC instants, which is what the database is asked with (no database date functions).
"""

from __future__ import annotations

import enum
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A custom period may not be longer than this (a year and a day: leap years, "same day
# last year" comparisons); longer questions belong to the reports, not the live API.
MAX_CUSTOM_DAYS = 367


class PeriodError(ValueError):
    """A period that cannot be reported: reversed, empty or too long (the message says)."""


class PeriodKind(enum.StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO week, Monday to Sunday
    MONTH = "month"
    QUARTER = "quarter"
    CUSTOM = "custom"


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    first: date  # the first local day in the period
    end: date  # the first local day after it (exclusive)

    def __post_init__(self) -> None:
        if self.end <= self.first:
            raise PeriodError(f"a period must end after it starts ({self.first} .. {self.end})")

    @property
    def last(self) -> date:
        """The last local day in the period (inclusive)."""
        return self.end - timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    def bounds(self, tz: zoneinfo.ZoneInfo = SHANGHAI) -> tuple[datetime, datetime]:
        """The period as UTC instants ``[start, end)``: local midnights in ``tz``."""
        start = datetime.combine(self.first, time(), tz).astimezone(UTC)
        end = datetime.combine(self.end, time(), tz).astimezone(UTC)
        return start, end

    def previous(self) -> Period:
        """The period just before, of the same kind: yesterday, last week, last month, last
        quarter; a custom period's is the same number of days ending where it starts."""
        match self.kind:
            case PeriodKind.MONTH:
                return Period(self.kind, _add_months(self.first, -1), self.first)
            case PeriodKind.QUARTER:
                return Period(self.kind, _add_months(self.first, -3), self.first)
            case _:
                return Period(self.kind, self.first - timedelta(days=self.days), self.first)

    @property
    def label(self) -> str:
        match self.kind:
            case PeriodKind.DAY:
                return self.first.isoformat()
            case PeriodKind.WEEK:
                year, week, _ = self.first.isocalendar()
                return f"{year}-W{week:02d}"
            case PeriodKind.MONTH:
                return f"{self.first:%Y-%m}"
            case PeriodKind.QUARTER:
                return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
            case _:
                return f"{self.first.isoformat()}..{self.last.isoformat()}"


def period_of(kind: PeriodKind | str, day: date) -> Period:
    """The day, ISO week, month or quarter that contains ``day``."""
    kind = PeriodKind(kind)
    match kind:
        case PeriodKind.DAY:
            return Period(kind, day, day + timedelta(days=1))
        case PeriodKind.WEEK:
            monday = day - timedelta(days=day.weekday())
            return Period(kind, monday, monday + timedelta(days=7))
        case PeriodKind.MONTH:
            first = day.replace(day=1)
            return Period(kind, first, _add_months(first, 1))
        case PeriodKind.QUARTER:
            first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
            return Period(kind, first, _add_months(first, 3))
        case _:
            raise PeriodError("a custom period needs its first and last day (custom())")


def custom(first: date, last: date) -> Period:
    """The days ``first`` .. ``last``, both included."""
    if last < first:
        raise PeriodError(f"the last day {last} is before the first {first}")
    period = Period(PeriodKind.CUSTOM, first, last + timedelta(days=1))
    if period.days > MAX_CUSTOM_DAYS:
        raise PeriodError(f"a custom period may span at most {MAX_CUSTOM_DAYS} days")
    return period


def local_today(now: datetime, tz: zoneinfo.ZoneInfo = SHANGHAI) -> date:
    return now.astimezone(tz).date()
