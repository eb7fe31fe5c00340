"""The pure KPI package: periods in Shanghai across month, quarter and year ends; rates that
never divide by zero; excluded periods merged and clipped; the [kpis] settings; and the
README's table naming every KPI."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from pydantic import ValidationError

from core.kpis import KpiSettings
from kpis import (
    KPIS,
    PeriodError,
    PeriodKind,
    Rate,
    Span,
    clipped,
    custom,
    is_excluded,
    merged,
    period_of,
)
from tests.conftest import REPO


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_day_is_local_midnight_to_midnight_in_utc() -> None:
    p = period_of("day", date(2025, 10, 1))
    assert p.bounds() == (utc(2025, 9, 30, 16), utc(2025, 10, 1, 16))
    assert p.previous().first == date(2025, 9, 30) and p.label == "2025-10-01"


def test_an_iso_week_starts_on_monday_and_crosses_the_year() -> None:
    p = period_of(PeriodKind.WEEK, date(2026, 1, 1))  # a Thursday
    assert (p.first, p.last) == (date(2025, 12, 29), date(2026, 1, 4))
    assert p.label == "2026-W01"
    assert p.previous().first == date(2025, 12, 22)


@pytest.mark.parametrize(
    ("day", "first", "end", "previous_first"),
    [
        (date(2026, 3, 31), date(2026, 3, 1), date(2026, 4, 1), date(2026, 2, 1)),
        (date(2026, 1, 15), date(2026, 1, 1), date(2026, 2, 1), date(2025, 12, 1)),
        (date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1), date(2024, 1, 1)),
    ],
)
def test_months(day: date, first: date, end: date, previous_first: date) -> None:
    p = period_of("month", day)
    assert (p.first, p.end, p.previous().first, p.previous().end) == (
        first,
        end,
        previous_first,
        first,
    )


def test_quarters_across_the_year_end() -> None:
    p = period_of("quarter", date(2026, 2, 17))
    assert (p.first, p.end, p.label) == (date(2026, 1, 1), date(2026, 4, 1), "2026-Q1")
    assert (p.previous().first, p.previous().label) == (date(2025, 10, 1), "2025-Q4")
    assert period_of("quarter", date(2025, 12, 31)).end == date(2026, 1, 1)


def test_custom_periods_and_their_previous_run_of_days() -> None:
    p = custom(date(2025, 9, 29), date(2025, 10, 8))  # 国庆 and the days around it
    assert p.days == 10 and p.label == "2025-09-29..2025-10-08"
    assert (p.previous().first, p.previous().end) == (date(2025, 9, 19), date(2025, 9, 29))
    with pytest.raises(PeriodError):
        custom(date(2025, 10, 8), date(2025, 10, 1))
    with pytest.raises(PeriodError):
        custom(date(2024, 1, 1), date(2025, 6, 1))
    with pytest.raises(PeriodError):
        period_of("custom", date(2025, 10, 1))


def test_a_rate_of_nothing_has_no_value() -> None:
    assert Rate(0, 0).value is None and Rate(0, 0).exact is None
    assert Rate(0, 0).meets(0.95) is None
    assert Rate(3, 4).exact == Fraction(3, 4) and Rate(3, 4).rounded(2) == 0.75
    assert Rate(19, 20).meets(0.95) is True and Rate(18, 20).meets(0.95) is False
    assert Rate(30, 2).meets(10, higher_is_better=False) is False
    assert Rate(1, 2) + Rate(2, 3) == Rate(3, 5)
    with pytest.raises(ValueError):
        Rate(-1, 2)


def test_excluded_spans_merge_clip_and_contain() -> None:
    a = Span(utc(2025, 10, 1, 2), utc(2025, 10, 1, 3))
    b = Span(utc(2025, 10, 1, 2, 30), utc(2025, 10, 1, 4))
    c = Span(utc(2025, 10, 2, 0), utc(2025, 10, 2, 1))
    assert merged([c, b, a]) == [Span(a.start, b.end), c]
    assert clipped([a, b, c], utc(2025, 10, 1, 3), utc(2025, 10, 2)) == [
        Span(utc(2025, 10, 1, 3), b.end)
    ]
    assert is_excluded(utc(2025, 10, 1, 2), [a]) and not is_excluded(a.end, [a])
    with pytest.raises(ValueError):
        Span(a.end, a.start)


def test_settings_defaults_and_refusals() -> None:
    s = KpiSettings()
    assert s.service_level_denominator == "answered" and s.satisfied_answers == [1, 2]
    assert s.repeat_window_days == 7 and s.same_matter == "category"
    for bad in ({"satisfied_answers": [1, 3]}, {"resolved_answers": []}, {"x": 1}):
        with pytest.raises(ValidationError):
            KpiSettings(**bad)  # type: ignore[arg-type]


def test_the_readme_table_names_every_kpi() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("## KPIs (考核指标)")[1].split("\n## ")[0]
    for kpi in KPIS:
        assert f"`{kpi.code}`" in section and kpi.name_zh in section, kpi.code
