"""The surge detector (突增预警): the seeds' crossing, ordinary variation, the test's pieces."""

from __future__ import annotations

import math
import random
import zoneinfo
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from casework.surge import (
    AreaKind,
    TicketPoint,
    WindowKind,
    detect,
    place_key,
    poisson_sf,
    robust_z,
)
from core.surges import SurgeSettings
from tests.conftest import make_settings

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 20)
CFG = SurgeSettings()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SH)


def quiet_history(start_id: int = 1000) -> list[TicketPoint]:
    """28 days of a city's ordinary tickets: a 交通事故 somewhere else now and then, one at
    the crossing three weeks ago, and a busy 噪音 category in the same district."""
    rng = random.Random(7)
    points, n = [], start_id
    for back in range(1, 29):
        day = TODAY - timedelta(days=back)
        for _ in range(rng.randint(0, 2)):
            n += 1
            points.append(
                TicketPoint(n, "交通事故", at(day, rng.randint(7, 20)), "hedong", f"滨河路{n}号")
            )
        for _ in range(rng.randint(8, 14)):
            n += 1
            points.append(TicketPoint(n, "噪音", at(day, rng.randint(0, 23)), "hedong", None))
    points.append(
        TicketPoint(n + 1, "交通事故", at(TODAY - timedelta(21), 9), "hedong", "人民路口")
    )
    return points


CROSSING = ["人民路与解放路交叉口", "解放路和人民路路口", "河东区人民路/解放路", "人民路与解放路"]


def test_four_collisions_at_one_crossing_in_a_day_raise_one_alert() -> None:
    hours = [(8, 10), (11, 30), (14, 50), (17, 20)]
    today = [
        TicketPoint(i, "交通事故", at(TODAY, h, m), "hedong", CROSSING[i - 1])
        for i, (h, m) in enumerate(hours, 1)
    ]
    found = detect([*quiet_history(), *today], at(TODAY, 18), SH, CFG)
    assert len(found) == 1
    alert = found[0]
    assert (alert.category, alert.area_kind, alert.area) == (
        "交通事故",
        AreaKind.PLACE,
        "人民路×解放路",
    )
    assert (alert.window, alert.start, alert.end) == (
        WindowKind.DAY,
        at(TODAY, 0),
        at(TODAY + timedelta(days=1), 0),
    )
    assert alert.ticket_ids == (1, 2, 3, 4) and alert.count == 4
    assert alert.expected == CFG.floor_per_day and alert.p_value < CFG.p_value
    assert alert.message() == "人民路×解放路 交通事故 当日 4 件（平时约 0.2 件）"


def test_three_collisions_do_not_alert_and_the_fourth_does() -> None:
    today = [
        TicketPoint(i, "交通事故", at(TODAY, 8 + 3 * i), "hedong", CROSSING[0]) for i in (1, 2, 3)
    ]
    assert detect([*quiet_history(), *today], at(TODAY, 18), SH, CFG) == []
    # Before it happened, the fourth ticket is not counted.
    fourth = TicketPoint(4, "交通事故", at(TODAY, 20), "hedong", CROSSING[1])
    assert detect([*quiet_history(), *today, fourth], at(TODAY, 19), SH, CFG) == []
    assert len(detect([*quiet_history(), *today, fourth], at(TODAY, 21), SH, CFG)) == 1


def test_four_in_one_hour_are_one_hour_alert_not_also_a_day_or_district_one() -> None:
    today = [
        TicketPoint(i, "交通事故", at(TODAY, 9, 5 * i), "hedong", CROSSING[i % 4])
        for i in range(1, 5)
    ]
    found = detect([*quiet_history(), *today], at(TODAY, 10), SH, CFG)
    assert [(f.window, f.area_kind, f.count) for f in found] == [
        (WindowKind.HOUR, AreaKind.PLACE, 4)
    ]
    assert found[0].start == at(TODAY, 9) and found[0].end == at(TODAY, 10)


def test_a_district_alerts_on_what_its_places_do_not_explain() -> None:
    # Nine collisions across the district at nine different places: no place stands out,
    # the district does.
    today = [
        TicketPoint(i, "交通事故", at(TODAY, 8 + i), "hedong", f"某路{i}号") for i in range(1, 10)
    ]
    found = detect([*quiet_history(), *today], at(TODAY, 20), SH, CFG)
    assert [(f.area_kind, f.area, f.window, f.count) for f in found] == [
        (AreaKind.DISTRICT, "hedong", WindowKind.DAY, 9)
    ]


def busy_city(days: int, seed: int) -> list[TicketPoint]:
    """Days of ordinary variation: a busy 噪音 category (about 40 a day, over-dispersed, in
    office-hours rhythm) across three districts and twelve places, and some 供水."""
    rng = random.Random(seed)
    points, n = [], 0
    hours = [h for h in range(24) for _ in range(4 if 8 <= h < 22 else 1)]
    for back in range(days):
        day = TODAY - timedelta(days=back)
        mood = rng.gammavariate(20, 1 / 20)  # day-to-day swings beyond Poisson
        for category, mean in (("噪音", 40.0), ("供水", 8.0)):
            # Poisson by inversion (random has no Poisson); λ = mean × the day's mood.
            lam, k, p, u = mean * mood, 0, math.exp(-mean * mood), rng.random()
            cumulative = p
            while u > cumulative:
                k += 1
                p *= lam / k
                cumulative += p
            for _ in range(k):
                n += 1
                district = rng.choice(["hedong", "hexi", "nancheng"])
                place = f"{district}小区{rng.randint(1, 4)}号楼"
                points.append(
                    TicketPoint(n, category, at(day, rng.choice(hours), rng.randint(0, 59)),
                                district, place)
                )  # fmt: skip
    return points


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ordinary_daily_variation_raises_none(seed: int) -> None:
    points = busy_city(31, seed)
    # Every pass over the last two days, hourly: nothing stands out.
    for back in (0, 1):
        for hour in range(24):
            now = at(TODAY - timedelta(days=back), hour, 59)
            assert detect(points, now, SH, CFG) == [], now


def test_poisson_tail_is_exact() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 0.2) == pytest.approx(1 - math.exp(-0.2))
    # P(X ≥ 4 | 0.2) = 1 − e^−0.2 (1 + 0.2 + 0.02 + 0.001333…)
    assert poisson_sf(4, 0.2) == pytest.approx(1 - math.exp(-0.2) * (1 + 0.2 + 0.02 + 0.2**3 / 6))
    assert poisson_sf(4, 0.2) < 1e-4 < poisson_sf(3, 0.2)
    # Deep in the tail, where 1 − CDF would lose every digit.
    assert poisson_sf(60, 1.0) == pytest.approx(math.exp(-1) / math.factorial(60), rel=0.02)
    assert poisson_sf(5, 10.0) == pytest.approx(0.97075, abs=1e-5)


def test_robust_z_ignores_outliers_and_keeps_a_unit_scale() -> None:
    assert robust_z(4, [0] * 28) == 4.0
    # Median 10, MAD 2 (the 100 does not move either); a tight history keeps a scale of 1.
    assert robust_z(16, [10, 14, 6, 10, 12, 8, 100]) == pytest.approx(6 / (1.4826 * 2))
    assert robust_z(12, [10, 10, 11, 9, 10, 100]) == 2.0


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("人民路与解放路交叉口", "人民路×解放路"),
        ("解放路和人民路十字路口附近", "人民路×解放路"),
        ("河东区 人民路／解放路", "人民路×解放路"),
        ("河东区东关街道新华小区3号楼", "河东区东关街道新华小区3号楼"),
        (" 新华小区 3号楼（东门）旁 ", "新华小区3号楼东门"),
        ("", None),
        (None, None),
    ],
)
def test_place_keys(address: str | None, key: str | None) -> None:
    assert place_key(address) == key


def test_settings_refuse_nonsense_at_start(tmp_path: Path) -> None:
    assert make_settings(tmp_path, surges={"min_count": 4, "robust_z": None}).surges.min_count == 4
    for bad in ({"p_value": 0}, {"min_count": 1}, {"history_days": 3}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            make_settings(tmp_path, surges=bad)
