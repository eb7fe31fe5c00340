"""Campaign configuration and calling calendar: windows, midnight, holidays, 调休, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from callbacks import (
    SEARCH_DAYS,
    CallbackSettings,
    CampaignConfig,
    Window,
    in_window,
    is_dialling_day,
    next_dial_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = [1, 2, 3, 4, 5]


def local(tz: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    """A local time from (year, month, day[, hour[, minute[, second]]])."""
    year, month, day, *clock = fields
    hour, minute, second = (*clock, 0, 0, 0)[:3]
    return datetime(year, month, day, hour, minute, second, tzinfo=tz, fold=fold)


def sh(*fields: int) -> datetime:
    return local(SHANGHAI, *fields)


def window(start: str, end: str) -> Window:
    return Window(start=time.fromisoformat(start), end=time.fromisoformat(end))


# --- configuration ------------------------------------------------------------------------


def test_default_campaign_is_valid_and_dials_every_day() -> None:
    cfg = CampaignConfig()
    assert [str(w) for w in cfg.windows] == ["08:30–12:00", "14:00–20:00"]
    assert cfg.days == [1, 2, 3, 4, 5, 6, 7]
    assert CallbackSettings().campaigns[0].name == "default"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"windows": [{"start": "09:00", "end": "09:00"}]}, "start and end are equal"),
        (
            {"windows": [{"start": "08:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]},
            "overlap",
        ),
        # The tail after midnight reaches into the next morning's window.
        (
            {"windows": [{"start": "22:00", "end": "09:00"}, {"start": "08:30", "end": "12:00"}]},
            "overlap",
        ),
        ({"windows": []}, "at least 1"),
        ({"windows": [{"start": "09:00+08:00", "end": "10:00"}]}, "no time zone"),
        ({"days": [0, 8]}, "ISO weekdays"),
        ({"days": [1, 1]}, "duplicates"),
        ({"days": []}, "never dials"),
        (
            {"holidays": ["2026-10-01"], "workdays": ["2026-10-01"]},
            "both holidays and workdays: 2026-10-01",
        ),
        ({"name": "Bad Name"}, "name"),
        ({"ring_seconds": 3}, "ring_seconds"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"max_rate": 0}, "max_rate"),
        ({"max_channels": 0}, "max_channels"),
        ({"trunk": "carrier&PJSIP/evil"}, "trunk"),
        ({"do_not_call": ["call me maybe"]}, "not a phone number"),
        ({"retry": {"busy": -1}}, "busy"),
        ({"retry": {"no_rating": 5}}, "no_rating"),
        ({"windowz": []}, "windowz"),
    ],
)
def test_bad_campaign_config_is_refused_with_a_clear_error(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CampaignConfig.model_validate(fields)


def test_adjacent_windows_and_windows_sorted() -> None:
    cfg = CampaignConfig(windows=[window("12:00", "14:00"), window("08:00", "12:00")])
    assert [str(w) for w in cfg.windows] == ["08:00–12:00", "12:00–14:00"]


def test_campaign_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique, repeated: a"):
        CallbackSettings(campaigns=[CampaignConfig(name="a"), CampaignConfig(name="a")])


def test_campaign_for_picks_the_first_matching_campaign() -> None:
    env = CampaignConfig(name="env", categories=["environment", "noise"])
    default = CampaignConfig(name="rest")
    settings = CallbackSettings(campaigns=[env, default])
    assert settings.campaign_for("noise") is env
    assert settings.campaign_for("traffic") is default
    assert settings.campaign_for(None) is default
    assert CallbackSettings(campaigns=[env]).campaign_for(None) is None
    assert not env.matches(None)
    assert default.matches(None)


# --- dialling days ------------------------------------------------------------------------


def test_dialling_days_skip_weekends_and_holidays_and_add_workdays() -> None:
    cfg = CampaignConfig(days=WEEKDAYS, holidays=[date(2026, 10, 1)], workdays=[date(2026, 10, 10)])
    assert is_dialling_day(cfg, date(2026, 9, 30))  # Wednesday
    assert not is_dialling_day(cfg, date(2026, 10, 1))  # Thursday, National Day
    assert not is_dialling_day(cfg, date(2026, 10, 3))  # Saturday
    assert is_dialling_day(cfg, date(2026, 10, 10))  # Saturday, make-up working day


# --- windows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "inside"),
    [
        ((8, 29, 59), False),
        ((8, 30, 0), True),
        ((11, 59, 59), True),
        ((12, 0, 0), False),
        ((13, 59, 59), False),
        ((14, 0, 0), True),
        ((19, 59, 59), True),
        ((20, 0, 0), False),
    ],
)
def test_in_window_edges_start_inclusive_end_exclusive(
    clock: tuple[int, int, int], inside: bool
) -> None:
    moment = sh(2026, 11, 23, *clock).astimezone(UTC)  # given in UTC, judged in Shanghai
    assert in_window(CampaignConfig(), moment, SHANGHAI) is inside


def test_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    cfg = CampaignConfig(windows=[window("20:00", "01:00")], days=[5])  # Fridays only
    assert in_window(cfg, sh(2026, 11, 20, 23, 0), SHANGHAI)  # Friday night
    assert in_window(cfg, sh(2026, 11, 21, 0, 30), SHANGHAI)  # Saturday 00:30: Friday's
    assert not in_window(cfg, sh(2026, 11, 21, 1, 0), SHANGHAI)  # end is exclusive
    assert not in_window(cfg, sh(2026, 11, 21, 20, 30), SHANGHAI)  # Saturday's own window
    assert not in_window(cfg, sh(2026, 11, 20, 0, 30), SHANGHAI)  # Friday 00:30: Thursday's


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_window(CampaignConfig(), datetime(2026, 11, 23, 9), SHANGHAI)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_dial_time(CampaignConfig(), datetime(2026, 11, 23, 9), SHANGHAI)


# --- next dial time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ((2026, 11, 23, 9, 15), (2026, 11, 23, 9, 15)),  # inside: now
        ((2026, 11, 23, 6, 0), (2026, 11, 23, 8, 30)),  # before the morning window
        ((2026, 11, 23, 12, 0), (2026, 11, 23, 14, 0)),  # lunch break
        ((2026, 11, 23, 20, 0), (2026, 11, 24, 8, 30)),  # evening: next morning
        ((2026, 11, 20, 20, 30), (2026, 11, 23, 8, 30)),  # Friday evening: Monday
        ((2026, 11, 21, 10, 0), (2026, 11, 23, 8, 30)),  # Saturday: Monday
    ],
)
def test_next_dial_time_on_weekdays(after: tuple[int, ...], expected: tuple[int, ...]) -> None:
    cfg = CampaignConfig(days=WEEKDAYS)
    result = next_dial_time(cfg, sh(*after), SHANGHAI)
    assert result == sh(*expected)
    assert result.tzinfo is UTC


def test_next_dial_time_skips_golden_week_and_dials_on_the_make_up_saturday() -> None:
    golden_week = [date(2026, 10, 1) + timedelta(days=n) for n in range(7)]
    cfg = CampaignConfig(days=WEEKDAYS, holidays=golden_week, workdays=[date(2026, 10, 10)])
    assert next_dial_time(cfg, sh(2026, 9, 30, 20, 0), SHANGHAI) == sh(2026, 10, 8, 8, 30)
    # Friday evening before the 调休 Saturday: dial on Saturday, not Monday.
    assert next_dial_time(cfg, sh(2026, 10, 9, 21, 0), SHANGHAI) == sh(2026, 10, 10, 8, 30)


def test_next_dial_time_inside_the_tail_of_a_window_across_midnight() -> None:
    cfg = CampaignConfig(windows=[window("22:00", "02:00")], days=[5])
    # Saturday 01:00 is inside Friday's window even though Saturday is not a dialling day.
    assert next_dial_time(cfg, sh(2026, 11, 21, 1, 0), SHANGHAI) == sh(2026, 11, 21, 1, 0)
    assert next_dial_time(cfg, sh(2026, 11, 21, 3, 0), SHANGHAI) == sh(2026, 11, 27, 22, 0)
    assert next_dial_time(cfg, sh(2026, 11, 20, 21, 0), SHANGHAI) == sh(2026, 11, 20, 22, 0)


def test_next_dial_time_gives_up_after_the_search_cap() -> None:
    first_monday = date(2026, 11, 23)
    mondays = [first_monday + timedelta(weeks=n) for n in range(SEARCH_DAYS // 7 + 2)]
    cfg = CampaignConfig(name="mondays", days=[1], holidays=mondays)
    with pytest.raises(ValueError, match=r"'mondays' has no calling time within 400 days"):
        next_dial_time(cfg, sh(2026, 11, 22, 12, 0), SHANGHAI)
    # One Monday left just inside the cap is still found.
    cfg = CampaignConfig(days=[1], holidays=mondays[:-3])
    found = next_dial_time(cfg, sh(2026, 11, 22, 12, 0), SHANGHAI)
    assert found == sh(*mondays[-3].timetuple()[:3], 8, 30)


# --- daylight saving time (Europe/Berlin, 2026: +01 → +02 on 29 March, back on 25 October) ---


def test_dst_spring_and_autumn_keep_wall_clock_times() -> None:
    cfg = CampaignConfig()
    spring = next_dial_time(cfg, local(BERLIN, 2026, 3, 28, 21, 0), BERLIN)
    assert spring == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)  # 08:30 CEST, not 07:30 UTC
    autumn = next_dial_time(cfg, local(BERLIN, 2026, 10, 24, 21, 0), BERLIN)
    assert autumn == datetime(2026, 10, 25, 7, 30, tzinfo=UTC)  # 08:30 CET


def test_dst_window_starting_in_the_skipped_hour_opens_at_the_jump() -> None:
    cfg = CampaignConfig(windows=[window("02:30", "05:00")])
    found = next_dial_time(cfg, local(BERLIN, 2026, 3, 29, 0, 0), BERLIN)
    assert found == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert in_window(cfg, found, BERLIN)
    assert not in_window(cfg, found - timedelta(microseconds=1), BERLIN)


def test_dst_window_wholly_inside_the_skipped_hour_is_skipped_that_day() -> None:
    cfg = CampaignConfig(windows=[window("02:10", "02:40"), window("09:00", "10:00")])
    found = next_dial_time(cfg, local(BERLIN, 2026, 3, 29, 0, 0), BERLIN)
    assert found == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_dst_repeated_autumn_hour_follows_the_clock_both_times() -> None:
    cfg = CampaignConfig(windows=[window("02:30", "04:00")])
    first_pass = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 CEST
    second_pass_early = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET
    assert in_window(cfg, first_pass, BERLIN)
    assert not in_window(cfg, second_pass_early, BERLIN)
    # The clock reaches 02:30 again at 01:30 UTC (CET).
    found = next_dial_time(cfg, second_pass_early, BERLIN)
    # (Compared in UTC: Python never calls an ambiguous local time equal across zones.)
    assert found == local(BERLIN, 2026, 10, 25, 2, 30, fold=1).astimezone(UTC)
    assert found == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
