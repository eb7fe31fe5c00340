"""The grab pool (抢单): the window in working hours, across holidays, and forced assignment."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework import (
    CaseworkSettings,
    GrabWindow,
    WorkingCalendar,
    forced_assignment,
    parse_catalogue,
)
from tests.unit.casework_times import sh

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def window() -> GrabWindow:
    return GrabWindow.from_settings(WorkingCalendar(), CaseworkSettings())


def test_three_office_hours_on_an_ordinary_day(window: GrabWindow) -> None:
    assert (window.hours, window.clock) == (3.0, "working")
    assert window.end(sh(2025, 9, 29, 8, 30)) == sh(2025, 9, 29, 11, 30)
    # Over lunch: 11:00 + 1 h to 12:00, then 2 h from 13:30.
    assert window.end(sh(2025, 9, 29, 11, 0)) == sh(2025, 9, 29, 15, 30)


def test_window_that_would_end_on_national_day_runs_on_after_it(window: GrabWindow) -> None:
    published = sh(2025, 9, 30, 16, 30)  # one office hour before 国庆
    end = window.end(published)
    assert end == sh(2025, 10, 9, 10, 30)
    assert window.is_claimable(published, sh(2025, 10, 3, 12, 0))  # nobody is punished
    assert window.is_claimable(published, end)
    assert not window.is_claimable(published, sh(2025, 10, 9, 10, 31))
    assert window.must_force_assign(published, sh(2025, 10, 9, 10, 31))


def test_published_during_spring_festival_waits_for_the_offices(window: GrabWindow) -> None:
    # Published on the eve (Feb 16, a holiday): Feb 24 from 08:30.
    assert window.end(sh(2026, 2, 16, 20, 0)) == sh(2026, 2, 24, 11, 30)
    # Published on Friday night Feb 13: the make-up Saturday Feb 14 counts.
    assert window.end(sh(2026, 2, 13, 21, 0)) == sh(2026, 2, 14, 11, 30)


def test_clock_hours_for_pools_staffed_around_the_clock() -> None:
    cfg = CaseworkSettings(grab_window_hours=2, grab_clock="clock")
    window = GrabWindow.from_settings(WorkingCalendar(), cfg)
    assert window.end(sh(2025, 10, 1, 23, 0)) == sh(2025, 10, 2, 1, 0)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="longer than 0 hours"):
        GrabWindow(WorkingCalendar(), 0)


def test_forced_assignment_goes_to_the_lead_department() -> None:
    catalogue = parse_catalogue((ROOT / "dispatch.example.toml").read_text(), "example")
    forced = forced_assignment(catalogue, "噪音", "hedong.nanyuan.chezhan")
    assert forced is not None
    assert forced.lead.code == "hedong.cgj"
    assert forced.supervised and forced.counts_against  # 督办, counted against the lead
    assert [d.code for d in forced.assists] == ["hedong.gaj"]
    water = forced_assignment(catalogue, "供水")
    assert water is not None and water.lead.code == "water"
    # A category the catalogue does not know: a supervisor picks the department.
    assert forced_assignment(catalogue, "外星人", "hedong") is None
