"""Number plan: the migration window per call in the hotline's time zone, routing, validation."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ivr.numberplan import (
    NumberPlan,
    Phase,
    PlanError,
    RetiredLine,
    add_months,
    load_number_plan,
    retired_phase,
    route_for,
    spoken_digits,
)

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
REPO_PLAN = Path(__file__).resolve().parents[2] / "numberplan.example.toml"


def retired(start: date, end: date | None = None) -> RetiredLine:
    return RetiredLine(
        number="12369", name="环保热线", category="生态环境", window_start=start, window_end=end
    )


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 11, 1), 3, date(2027, 2, 1)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),  # leap year
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_default_window_is_three_months_inclusive() -> None:
    line = retired(date(2026, 11, 1))
    assert line.last_day == date(2027, 1, 31)
    assert "2027年1月31日后停用" in line.notice_text
    assert line.notice_text.startswith("一二三六九环保热线已并入一二三四五热线")


@pytest.mark.parametrize(
    ("local", "phase"),
    [
        (datetime(2026, 10, 31, 23, 59, 59), Phase.BEFORE),
        (datetime(2026, 11, 1, 0, 0, 0), Phase.INSIDE),
        (datetime(2027, 1, 31, 23, 59, 59), Phase.INSIDE),
        (datetime(2027, 2, 1, 0, 0, 0), Phase.AFTER),
    ],
)
def test_window_edges_are_local_midnights(local: datetime, phase: Phase) -> None:
    line = retired(date(2026, 11, 1))
    assert retired_phase(line, local.replace(tzinfo=SH), SH) is phase


def test_utc_instant_is_judged_by_the_local_date() -> None:
    """16:30 UTC on Oct 31 is already Nov 1 in Shanghai (UTC+8): inside the window."""
    line = retired(date(2026, 11, 1))
    assert retired_phase(line, datetime(2026, 10, 31, 16, 30, tzinfo=UTC), SH) is Phase.INSIDE
    assert retired_phase(line, datetime(2026, 10, 31, 15, 59, tzinfo=UTC), SH) is Phase.BEFORE
    # The same instant in a zone behind UTC is still Oct 31.
    ny = zoneinfo.ZoneInfo("America/New_York")
    assert retired_phase(line, datetime(2026, 11, 1, 3, 0, tzinfo=UTC), ny) is Phase.BEFORE


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        retired_phase(retired(date(2026, 11, 1)), datetime(2026, 11, 1), SH)


def test_routes_of_the_example_plan() -> None:
    plan = load_number_plan(REPO_PLAN)
    inside = datetime(2026, 12, 1, 10, tzinfo=SH)
    assert route_for(plan, "12345", inside, SH).kind == "main"
    notice = route_for(plan, "12369", inside, SH)
    assert (notice.kind, notice.prompt, notice.category, notice.queue) == (
        "notice",
        "notice-12369",
        "生态环境",
        None,
    )
    after = route_for(plan, "12369", datetime(2027, 3, 1, tzinfo=SH), SH)
    assert (after.kind, after.prompt) == ("stopped", "stopped-12369")
    before = route_for(plan, "12369", datetime(2026, 10, 1, tzinfo=SH), SH)
    assert (before.kind, before.prompt, before.category) == ("legacy", None, "生态环境")
    gjj = route_for(plan, "12329", inside, SH)
    assert (gjj.kind, gjj.queue, gjj.prompt) == ("specialised", "gjj", "greeting-12329")
    assert route_for(plan, "12366", inside, SH).kind == "subcentre"
    assert route_for(plan, "99999", inside, SH).kind == "unknown"


def test_example_plan_matches_the_seed() -> None:
    plan = load_number_plan(REPO_PLAN)
    assert len(plan.retired) == 20 and len(plan.specialised) == 5
    assert {"12369", "12328"} <= {r.number for r in plan.retired}
    assert {"12329", "12333"} <= {s.number for s in plan.specialised}
    assert plan.subcentre is not None and plan.subcentre.number == "12366"
    assert [e.number for e in plan.emergency] == ["110", "119", "120", "122"]
    assert [e.number for e in plan.emergency if e.hands_over] == ["110"]
    assert "110" not in plan.inbound_numbers() and "12366" in plan.inbound_numbers()
    prompts = plan.prompts()
    assert len(prompts) == 20 * 2 + 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[retired]]\nnumber = "12345"\nname = "x"\ncategory = "c"\nwindow_start = 2026-01-01',
            "appear more than once: 12345",
        ),
        (
            '[[retired]]\nnumber = "12369"\nname = "x"\ncategory = "c"\nwindow_start = 2026-02-01\n'
            "window_end = 2026-01-01",
            "window_end is before window_start",
        ),
        ('[[emergency]]\nnumber = "119"\nname = "x"\nhost = "fire.example"', "host"),
        (
            '[[retired]]\nnumber = "12a"\nname = "x"\ncategory = "c"\nwindow_start = 2026-01-01',
            "retired.0.number",
        ),
        ("[main]\nnumbr = '12345'", "main.numbr: Extra inputs are not permitted"),
        ("[main", "not valid TOML"),
    ],
)
def test_bad_plans_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    with pytest.raises(PlanError, match=message):
        load_number_plan(path)


def test_missing_plan_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="hotline install"):
        load_number_plan(tmp_path / "none.toml")


def test_spoken_digits() -> None:
    assert spoken_digits("12345") == "一二三四五"
    assert spoken_digits("120") == "一二零"


def test_empty_plan_is_just_12345() -> None:
    plan = NumberPlan()
    assert plan.inbound_numbers() == ["12345"] and plan.prompts() == {}
