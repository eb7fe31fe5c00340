"""The working-day calendar: real holidays and 调休, office hours, the override file, the gap."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from casework import (
    LIBRARY_YEARS,
    CalendarFileError,
    CalendarGapError,
    CaseworkSettings,
    OfficeSpan,
    WorkingCalendar,
    parse_overrides,
)
from tests.unit.casework_times import sh

OVERRIDE_2027 = Path(__file__).parent / "data" / "casework" / "calendar-2027.toml"


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def cal2027() -> WorkingCalendar:
    cfg = CaseworkSettings(calendar_overrides=OVERRIDE_2027)
    return WorkingCalendar.from_settings(cfg, OVERRIDE_2027.read_text())


def test_library_covers_2004_to_2026() -> None:
    assert (LIBRARY_YEARS.start, LIBRARY_YEARS.stop - 1) == (2004, 2026)


def test_national_day_2025_holidays_and_make_up_days(cal: WorkingCalendar) -> None:
    # 国庆 + 中秋 2025: Oct 1–8 off; Sunday Sep 28 and Saturday Oct 11 are working days.
    for offset in range(8):
        assert not cal.is_workday(date(2025, 10, 1) + timedelta(days=offset))
    assert cal.is_workday(date(2025, 9, 28))
    assert cal.is_workday(date(2025, 10, 11))
    assert not cal.is_workday(date(2025, 10, 12))
    assert cal.next_workday(date(2025, 9, 30)) == date(2025, 10, 9)


def test_spring_festival_2026_from_the_library(cal: WorkingCalendar) -> None:
    # chinesecalendar 1.11.0: Feb 15–23 off; Saturdays Feb 14 and Feb 28 are working days.
    assert cal.is_workday(date(2026, 2, 14))
    assert [cal.is_workday(date(2026, 2, d)) for d in range(15, 24)] == [False] * 9
    assert cal.is_workday(date(2026, 2, 24))
    assert cal.is_workday(date(2026, 2, 28))
    assert not cal.is_workday(date(2026, 3, 1))


def test_add_working_days_skips_the_holiday_and_counts_make_up_days(
    cal: WorkingCalendar,
) -> None:
    assert cal.add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)  # Sunday, 调休
    assert cal.add_working_days(date(2025, 9, 30), 2) == date(2025, 10, 10)
    assert cal.add_working_days(date(2025, 10, 9), 2) == date(2025, 10, 11)  # Saturday, 调休
    assert cal.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
    assert cal.add_working_days(date(2025, 10, 3), 0) == date(2025, 10, 3)
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_days(date(2025, 10, 3), -1)


def test_default_office_hours_and_their_edges(cal: WorkingCalendar) -> None:
    assert cal.office_open(date(2025, 9, 29)) == sh(2025, 9, 29, 8, 30)
    assert cal.office_close(date(2025, 9, 29)) == sh(2025, 9, 29, 17, 30)
    assert cal.in_office_hours(sh(2025, 9, 29, 8, 30))
    assert not cal.in_office_hours(sh(2025, 9, 29, 12, 0))  # lunch
    assert cal.in_office_hours(sh(2025, 9, 29, 13, 30))
    assert not cal.in_office_hours(sh(2025, 9, 29, 17, 30))
    assert not cal.in_office_hours(sh(2025, 10, 2, 10, 0))  # 国庆
    assert cal.in_office_hours(sh(2025, 10, 11, 10, 0))  # make-up Saturday


def test_working_hours_across_national_day(cal: WorkingCalendar) -> None:
    # 1.5 h left on Sep 30, the rest after the holiday on Oct 9.
    assert cal.add_working_hours(sh(2025, 9, 30, 16, 0), 3) == sh(2025, 10, 9, 10, 0)
    # Exactly to the lunch break stays in the morning; one minute more is after lunch.
    assert cal.add_working_hours(sh(2025, 9, 29, 11, 0), 1) == sh(2025, 9, 29, 12, 0)
    assert cal.add_working_time(sh(2025, 9, 29, 11, 0), timedelta(minutes=61)) == sh(
        2025, 9, 29, 13, 31
    )
    # From a holiday night: the clock starts when the office opens.
    assert cal.add_working_hours(sh(2025, 10, 3, 22, 0), 2) == sh(2025, 10, 9, 10, 30)
    assert cal.working_time_between(sh(2025, 9, 30, 16, 0), sh(2025, 10, 9, 10, 0)) == (
        timedelta(hours=3)
    )
    assert cal.working_time_between(sh(2025, 10, 9, 10, 0), sh(2025, 9, 30, 16, 0)) == (
        timedelta(0)
    )
    # A whole working day is 7.5 office hours by default.
    assert cal.working_time_between(sh(2025, 10, 11, 0, 0), sh(2025, 10, 12, 0, 0)) == (
        timedelta(hours=7.5)
    )


def test_other_zones_are_converted(cal: WorkingCalendar) -> None:
    from datetime import UTC

    # 08:00 UTC is 16:00 in Shanghai.
    utc = datetime(2025, 9, 30, 8, 0, tzinfo=UTC)
    assert cal.add_working_hours(utc, 3) == sh(2025, 10, 9, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_hours(datetime(2025, 9, 30, 16, 0), 1)


def test_end_of_working_day(cal: WorkingCalendar) -> None:
    assert cal.end_of_working_day(sh(2025, 9, 30, 9, 0)) == sh(2025, 9, 30, 17, 30)
    assert cal.end_of_working_day(sh(2025, 9, 30, 6, 0)) == sh(2025, 9, 30, 17, 30)
    assert cal.end_of_working_day(sh(2025, 9, 30, 18, 0)) == sh(2025, 10, 9, 17, 30)
    assert cal.end_of_working_day(sh(2026, 2, 13, 20, 0)) == sh(2026, 2, 14, 17, 30)


def test_configured_office_hours() -> None:
    cfg = CaseworkSettings(
        office_hours=[
            OfficeSpan(start=time(14, 0), end=time(18, 0)),
            OfficeSpan(start=time(9, 0), end=time(12, 0)),
        ]
    )
    cal = WorkingCalendar.from_settings(cfg)
    assert cal.office_open(date(2025, 9, 29)) == sh(2025, 9, 29, 9, 0)
    assert cal.add_working_hours(sh(2025, 9, 29, 11, 0), 2) == sh(2025, 9, 29, 15, 0)


def test_uncovered_year_is_a_clear_error(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarGapError, match=r"no working-day data for 2027") as caught:
        cal.is_workday(date(2027, 1, 4))
    assert caught.value.year == 2027
    assert "2004–2026" in str(caught.value)
    assert "calendar_overrides" in str(caught.value)
    with pytest.raises(CalendarGapError, match="2003"):
        cal.is_workday(date(2003, 6, 2))
    # Hours that run into the gap fail instead of guessing.
    with pytest.raises(CalendarGapError, match="2027"):
        cal.add_working_hours(sh(2026, 12, 31, 16, 0), 8)


def test_start_up_check(cal: WorkingCalendar, cal2027: WorkingCalendar) -> None:
    cal.check([2025, 2026])
    cal.check_horizon(date(2026, 11, 15), 31)
    with pytest.raises(CalendarGapError, match="2027"):
        cal.check_horizon(date(2026, 12, 15), 31)
    with pytest.raises(CalendarGapError, match="2028"):
        cal2027.check([2026, 2027, 2028])
    assert 2027 in cal2027.covered_years and 2028 not in cal2027.covered_years


def test_override_year_2027(cal2027: WorkingCalendar) -> None:
    assert not cal2027.is_workday(date(2027, 1, 1))
    assert cal2027.is_workday(date(2027, 1, 4))  # an ordinary Monday
    assert cal2027.is_workday(date(2027, 1, 31))  # make-up Sunday
    assert not cal2027.is_workday(date(2027, 1, 30))  # ordinary Saturday
    assert cal2027.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 15)
    assert cal2027.add_working_days(date(2027, 2, 19), 2) == date(2027, 2, 22)  # via Sun 21st
    # Over the turn of the year: Dec 31, 2026 (Thursday) to the first working day of 2027.
    assert cal2027.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    with pytest.raises(CalendarGapError, match=r"calendar-2027\.toml has no \[years\.2028\]"):
        cal2027.is_workday(date(2028, 3, 1))


def test_override_adjusts_a_library_year() -> None:
    overrides = parse_overrides(
        "[years.2025]\nholidays = [2025-09-29]\nworkdays = [2025-10-12]\n", "local.toml"
    )
    cal = WorkingCalendar(overrides)
    assert not cal.is_workday(date(2025, 9, 29))  # a local day off
    assert cal.is_workday(date(2025, 10, 12))
    assert cal.is_workday(date(2025, 9, 30))  # the library still answers the rest


def test_incomplete_override_year_is_still_a_gap() -> None:
    cal = WorkingCalendar(
        parse_overrides("[years.2027]\nholidays = [2027-01-01]\n", "h.toml"),
        overrides_source="h.toml",
    )
    with pytest.raises(CalendarGapError, match=r"h\.toml lists 2027 but not complete = true"):
        cal.is_workday(date(2027, 3, 3))
    assert not cal.is_workday(date(2027, 1, 1))  # a listed day is still known


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[years.2027\n", "not valid TOML"),
        ("[years.2027]\nholidays = [2028-01-01]\n", "holidays lists dates of another year"),
        (
            "[years.2027]\nholidays = [2027-01-01]\nworkdays = [2027-01-01]\n",
            "both holidays and workdays: 2027-01-01",
        ),
        ("[years.2027]\ncomplete = true\nholiday = []\n", r"years\.2027\.holiday"),
        ("[years.27]\ncomplete = true\n", "not a plausible year"),
        ("[years.2027]\nholidays = ['soon']\n", r"years\.2027\.holidays\.0"),
    ],
)
def test_override_file_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(CalendarFileError, match=message) as caught:
        parse_overrides(text, "holidays.toml")
    assert "holidays.toml" in str(caught.value)
