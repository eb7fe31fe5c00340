"""The working-day calendar: the one object that answers "when is it due" for the case loop.

Call flow: the app builds one ``WorkingCalendar`` at start-up (chinesecalendar's holidays and
make-up working days, plus the override file's text for years the library does not cover yet,
plus office hours from ``[casework]``), calls ``check_horizon`` so a missing year stops the
node instead of producing wrong deadlines, and hands it to ``CaseClock`` (deadlines) and
``GrabWindow`` (抢单). Nothing else in the project decides whether a day is a working day.

Working days follow the State Council's schedule: Monday to Friday, minus public holidays
(法定节假日), plus make-up working days (调休, usually a Saturday or Sunday next to a holiday).
A date in a year that neither the library nor a complete override year covers raises
``CalendarGapError``: never a guess, because a guessed 2027 would silently move deadlines.

Hours are office hours (办公时间) in the calendar's zone (Asia/Shanghai by default; China keeps
no daylight saving time, and the arithmetic is done on that zone's wall clock). Every function
takes and returns timezone-aware datetimes.

Override file format (TOML; the app reads the file, ``parse_overrides`` gets its text)::

    # 国务院办公厅关于2027年部分节假日安排的通知
    [years.2027]
    complete = true                     # every holiday and make-up day of 2027 is listed
    holidays = [2027-01-01, 2027-02-05] # days off (法定节假日 and the days moved next to them)
    workdays = [2027-02-20]             # make-up working days (调休上班), e.g. a Saturday

A year the library does not cover counts only with ``complete = true``. For a year the library
does cover, the listed days adjust its answer (a local extra day off, a correction) and
``complete`` is not needed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar.constants import holidays as _library_holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casework.errors import CalendarFileError, CalendarGapError
from core.casework import CaseworkSettings, OfficeSpan
from core.tomlfile import validation_summary

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The years chinesecalendar has tables for (1.11.0: 2004–2026); it raises for any other year.
LIBRARY_YEARS = range(min(_library_holidays).year, max(_library_holidays).year + 1)


@dataclass(frozen=True, slots=True)
class YearDays:
    """One year of the override file."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    complete: bool


class _YearTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    complete: bool = False
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class _OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: dict[int, _YearTable] = Field(default_factory=dict)


def parse_overrides(text: str, source: str = "calendar override file") -> dict[int, YearDays]:
    """The years in an override file's ``text``; ``source`` names the file in errors."""
    try:
        raw = _OverrideFile(**tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(f"{source} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise CalendarFileError(f"{source}: {validation_summary(exc)}") from exc
    years: dict[int, YearDays] = {}
    for year, table in sorted(raw.years.items()):
        if not 1900 <= year <= 2200:
            raise CalendarFileError(f"{source}: [years.{year}] is not a plausible year")
        for field, days in (("holidays", table.holidays), ("workdays", table.workdays)):
            stray = sorted(day for day in days if day.year != year)
            if stray:
                raise CalendarFileError(
                    f"{source}: [years.{year}] {field} lists dates of another year: "
                    + ", ".join(day.isoformat() for day in stray)
                )
        both = sorted(set(table.holidays) & set(table.workdays))
        if both:
            raise CalendarFileError(
                f"{source}: [years.{year}] lists dates as both holidays and workdays: "
                + ", ".join(day.isoformat() for day in both)
            )
        years[year] = YearDays(
            year, frozenset(table.holidays), frozenset(table.workdays), table.complete
        )
    return years


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


class WorkingCalendar:
    """Working days (library + overrides) and office hours, in one zone."""

    def __init__(
        self,
        overrides: Mapping[int, YearDays] | None = None,
        office_hours: Sequence[OfficeSpan] | None = None,
        tz: tzinfo = SHANGHAI,
        overrides_source: str | None = None,
    ) -> None:
        spans = list(office_hours) if office_hours is not None else CaseworkSettings().office_hours
        if not spans:
            raise ValueError("a working calendar needs at least one block of office hours")
        self._spans = [(span.start, span.end) for span in sorted(spans, key=lambda s: s.start)]
        self._overrides = dict(overrides or {})
        self._source = overrides_source or ("the override file" if self._overrides else None)
        self.tz = tz

    @classmethod
    def from_settings(
        cls,
        cfg: CaseworkSettings,
        overrides_text: str | None = None,
        tz: tzinfo = SHANGHAI,
    ) -> WorkingCalendar:
        """The calendar ``[casework]`` describes; ``overrides_text`` is the override file's text."""
        source = str(cfg.calendar_overrides) if cfg.calendar_overrides else None
        overrides = (
            parse_overrides(overrides_text, source or "calendar override file")
            if overrides_text is not None
            else {}
        )
        return cls(overrides, cfg.office_hours, tz, source)

    # --- which years and days -------------------------------------------------------------

    @property
    def covered_years(self) -> frozenset[int]:
        """Years whose every day can be answered: the library's plus complete override years."""
        complete = {year for year, days in self._overrides.items() if days.complete}
        return frozenset(LIBRARY_YEARS) | complete

    def check(self, years: Iterable[int]) -> None:
        """Raise ``CalendarGapError`` for the first of ``years`` that is not covered."""
        for year in sorted(set(years)):
            if year not in self.covered_years:
                raise self._gap(year)

    def check_horizon(self, today: date, days: int) -> None:
        """Start-up check: every year from ``today`` to ``days`` days later is covered."""
        self.check(range(today.year, (today + timedelta(days=days)).year + 1))

    def _gap(self, year: int) -> CalendarGapError:
        listed = self._overrides.get(year)
        if self._source is None:
            why = "no calendar override file is set ([casework] calendar_overrides)"
        elif listed is not None:
            why = f"{self._source} lists {year} but not complete = true"
        else:
            why = f"{self._source} has no [years.{year}] table"
        return CalendarGapError(
            year,
            f"no working-day data for {year}: chinesecalendar {chinese_calendar.__version__} "
            f"covers {LIBRARY_YEARS.start}–{LIBRARY_YEARS.stop - 1} and {why}. Copy the "
            f"holidays and make-up working days (调休) of the State Council's notice for {year} "
            f"into a [years.{year}] table with complete = true (see README), or upgrade "
            "chinesecalendar once a release covers it",
        )

    def is_workday(self, day: date) -> bool:
        """Is ``day`` a working day? Raises ``CalendarGapError`` for an uncovered year."""
        listed = self._overrides.get(day.year)
        if listed is not None:
            if day in listed.holidays:
                return False
            if day in listed.workdays:
                return True
        if day.year in LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(day))
        if listed is not None and listed.complete:
            return day.weekday() < 5
        raise self._gap(day.year)

    def workday_on_or_after(self, day: date) -> date:
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def next_workday(self, day: date) -> date:
        """The first working day after ``day``."""
        return self.workday_on_or_after(day + timedelta(days=1))

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself not counted; 0: ``start``).

        This is how administrative periods run: the day something arrives is not counted
        (期间开始的当日不计入), the period starts the next day.
        """
        if n < 0:
            raise ValueError(f"cannot add a negative number of working days ({n})")
        day = start
        for _ in range(n):
            day = self.next_workday(day)
        return day

    # --- office hours ---------------------------------------------------------------------

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock).replace(tzinfo=self.tz)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the calendar's zone (it must be timezone-aware)."""
        return _aware(moment, "moment").astimezone(self.tz)

    def office_open(self, day: date) -> datetime:
        return self._at(day, self._spans[0][0])

    def office_close(self, day: date) -> datetime:
        """The close of office on ``day``: when a deadline on that day ends (民法典 第二百零三条:
        where there are business hours, the period ends when business stops)."""
        return self._at(day, self._spans[-1][1])

    def end_of_working_day(self, moment: datetime) -> datetime:
        """ "The same day": the close of office on ``moment``'s day if it is a working day and
        the office has not closed yet, else the close of the next working day."""
        local = self.local(moment)
        day = local.date()
        if self.is_workday(day) and local < self.office_close(day):
            return self.office_close(day)
        return self.office_close(self.next_workday(day))

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [(self._at(day, start), self._at(day, end)) for start, end in self._spans]

    def _intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals, clipped to start at ``moment``, in order; endless (or a gap)."""
        day = moment.date()
        while True:
            for start, end in self._intervals(day):
                if end > moment:
                    yield max(start, moment), end
            day += timedelta(days=1)

    def in_office_hours(self, moment: datetime) -> bool:
        local = self.local(moment)
        return any(start <= local < end for start, end in self._intervals(local.date()))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Office time on working days between two instants (zero if ``end`` is not later)."""
        start, end = self.local(start), self.local(end)
        total = timedelta(0)
        if end <= start:
            return total
        for low, high in self._intervals_from(start):
            if low >= end:
                break
            total += min(high, end) - low
        return total

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of office time has passed after ``start``.

        Time outside office hours and on days off does not count, so the result always lies
        inside (or at the end of) office hours on a working day.
        """
        if amount < timedelta(0):
            raise ValueError(f"cannot add negative working time ({amount})")
        local = self.local(start)
        if amount == timedelta(0):
            return local
        remaining = amount
        for low, high in self._intervals_from(local):
            if remaining <= high - low:
                return low + remaining
            remaining -= high - low
        raise AssertionError("unreachable: the interval iterator is endless")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.add_working_time(start, timedelta(hours=hours))
