"""Next year's holidays are published late (November–December): a node started in December
without them must start, say which year is missing, and refuse only deadlines that fall there."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.runtime import Runtime, working_calendar
from core.settings import Settings, SettingsError
from tests.conftest import EXAMPLE_CATALOGUE, make_settings

DECEMBER = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)


def _settings(tmp_path: Path, **casework: object) -> Settings:
    return make_settings(tmp_path, casework={"catalogue": EXAMPLE_CATALOGUE, **casework})


async def test_december_start_without_next_year_warns_and_health_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    with caplog.at_level(logging.WARNING):
        runtime = Runtime(settings, now=lambda: DECEMBER)
    assert any("no working-day data for 2027" in r.getMessage() for r in caplog.records)
    assert runtime._calendar_gaps() == [2027]
    await runtime.engine.dispose()


def test_a_year_inside_the_fatal_horizon_stops_start_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path, calendar_horizon_days=31)
    with pytest.raises(SettingsError, match="2027"):
        working_calendar(settings, DECEMBER)


def test_an_uncovered_current_year_stops_start_up(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(SettingsError, match="2028"):
        working_calendar(settings, datetime(2028, 3, 1, tzinfo=UTC))
