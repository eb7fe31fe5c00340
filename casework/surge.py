"""Surge detection (突增预警): more tickets of one matter in one place than its own history
makes likely, per hour and per day (seed: 聊城, four rear-end collisions at one crossing in a
day → an alert).

Call flow: the node's scheduler (``app.surges``) reads the tickets of the last
``history_days`` plus two days and calls :func:`detect` with its clock's "now"; it stores
what comes back (one alert per :attr:`SurgeFinding.key`: a higher count later updates that
alert) and publishes ``core.events.SurgeAlert`` for new ones.

The test, per **cell** (category × area) and **window** (a local clock hour, a local day):

- areas: the ticket's district (``district``, a department code) and its **place** — an
  address cluster from :func:`place_key` (a crossing "A路与B路交叉口" is the same place as
  "B路和A路路口"; any other address is its text without spaces, punctuation and trailing
  附近/旁/处).
- baseline λ: the mean count of the same cell in the ``history_days`` windows before (for an
  hour, the same clock hour on each of those days, so the day's rhythm is not a surge), but
  at least ``floor_per_day`` / ``floor_per_hour``: a place with no history does not alert on
  one or two tickets.
  An hour's λ is also at least the history's daily mean ÷ 24 (one clock hour's own history is
  thin).
- the count n alerts when n ≥ ``min_count``, the Poisson upper tail P(X ≥ n | λ) <
  ``p_value`` (÷ 24 for an hour: a day holds 24 hour-tests, so hours add no more false alarms
  than the day test; computed exactly, :func:`poisson_sf`), and — unless ``robust_z`` is None — the
  robust z ``(n − median) / max(1.4826·MAD, 1)`` over those history windows reaches
  ``robust_z`` (busy cells vary more than Poisson says; this keeps their ordinary days quiet).
- one matter, one alert: finer alerts are decided first (an hour before its day, a place before
  its district); a coarser cell is tested again on the tickets the finer alerts do not already
  hold, and alerts only if those alone pass. Four collisions at one crossing are then one
  place alert, not also a district alert and an hour alert.

Every hour of today and yesterday and both days are evaluated on each pass, so the outcome for
a window does not depend on when the pass ran. Weekday/weekend rhythms are not modelled
(a quiet Sunday only makes Monday's baseline lower). Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import math
import re
import statistics
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.surges import SurgeSettings


class AreaKind(enum.StrEnum):
    DISTRICT = "district"  # 区县: a department code
    PLACE = "place"  # 地点: an address cluster (place_key)


class WindowKind(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


WINDOW_ZH = {WindowKind.HOUR: "1 小时", WindowKind.DAY: "当日"}


@dataclass(frozen=True, slots=True)
class TicketPoint:
    """What the detector needs of a ticket."""

    id: int
    category: str
    created_at: datetime  # aware
    district: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class SurgeFinding:
    category: str
    area_kind: AreaKind
    area: str
    window: WindowKind
    start: datetime  # local, aware
    end: datetime
    count: int
    expected: float  # the baseline λ (after the floor)
    p_value: float
    robust_z: float
    ticket_ids: tuple[int, ...]

    @property
    def key(self) -> tuple[str, str, str, str, datetime]:
        """One alert per key: the same window's later, higher count updates it."""
        return (self.category, self.area_kind.value, self.area, self.window.value, self.start)

    def message(self, area_name: str | None = None) -> str:
        """What the hall screen and the supervisor's list show, e.g.
        "人民路×解放路 交通事故 当日 4 件（平时约 0.2 件）"."""
        return (
            f"{area_name or self.area} {self.category} {WINDOW_ZH[self.window]} "
            f"{self.count} 件（平时约 {_num(self.expected)} 件）"
        )


def _num(x: float) -> str:
    """0.2 → "0.2", 0.05 → "0.05", 4.0 → "4": a baseline as a person writes it."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


# --- the test ------------------------------------------------------------------------------


def poisson_sf(n: int, lam: float) -> float:
    """P(X ≥ n) for X ~ Poisson(λ), exact: the upper tail summed term by term (terms shrink
    geometrically once i > λ) when n > λ, else one minus the lower sum (then the answer is
    large and needs no precision in its tail)."""
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0

    def term(i: int) -> float:
        return math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1))

    if n > lam:
        total, i = 0.0, n
        while True:
            t = term(i)
            total += t
            if t <= total * 1e-16 or t == 0.0:
                return min(total, 1.0)
            i += 1
    return max(0.0, 1.0 - math.fsum(term(i) for i in range(n)))


def robust_z(count: int, history: Sequence[int]) -> float:
    """(count − median) / max(1.4826·MAD, 1): how unusual the count is against the history's
    windows, insensitive to a few outliers in them."""
    median = statistics.median(history) if history else 0.0
    mad = statistics.median(abs(h - median) for h in history) if history else 0.0
    return (count - median) / max(1.4826 * mad, 1.0)


def _passes(
    count: int, history: Sequence[int], floor: float, threshold: float, cfg: SurgeSettings
) -> tuple[bool, float, float, float]:
    expected = max(statistics.fmean(history) if history else 0.0, floor)
    p = poisson_sf(count, expected)
    z = robust_z(count, history)
    ok = count >= cfg.min_count and p < threshold and (cfg.robust_z is None or z >= cfg.robust_z)
    return ok, expected, p, z


# --- places --------------------------------------------------------------------------------

_PUNCT = re.compile(r"[\s\-_,.;:!?()\[\]{}<>\"'`~·，。、；：！？（）【】《》“”‘’]+")
_TAIL = re.compile(r"(附近|旁边|旁|处|一带|周边)+$")
_JOIN = re.compile(r"与|和|跟|同|及|/|&|×|\+")
_CROSS_END = re.compile(r"(十字路口|丁字路口|交叉路口|交叉口|交汇处|交口|路口|口)$")
_ROAD = re.compile(
    r"(?:^|.*[省市区县镇乡])?(?P<road>[^省市区县镇乡]+?(?:大道|大街|路|街|道|巷|胡同|线))$"
)


def _road(part: str) -> str | None:
    m = _ROAD.match(part)
    return m.group("road") if m else None


def place_key(address: str | None) -> str | None:
    """The address cluster a ticket's address belongs to, or None (no address).

    A crossing ("人民路与解放路交叉口", "解放路和人民路路口", "河东区人民路/解放路") becomes
    its two roads in a fixed order ("人民路×解放路"); anything else its text in NFKC
    without spaces, punctuation or a trailing 附近/旁/处.
    """
    if not address:
        return None
    text = _TAIL.sub("", _PUNCT.sub("", unicodedata.normalize("NFKC", address)))
    parts = _JOIN.split(text)
    if len(parts) == 2:
        a, b = _road(parts[0]), _road(_CROSS_END.sub("", parts[1]))
        if a and b and a != b:
            return "×".join(sorted((a, b)))
    return text or None


# --- the pass ------------------------------------------------------------------------------


# Inside a pass the keys hold the enums' plain string values: a StrEnum member hashes in
# Python code (Enum.__hash__), a str in C, and the pass hashes these keys millions of times.
Cell = tuple[str, str, str]  # (category, AreaKind value, area)
# (WindowKind value, day, hour or -1 for the whole day)
Slot = tuple[str, date, int]
_PLACE, _DISTRICT = AreaKind.PLACE.value, AreaKind.DISTRICT.value
_HOUR, _DAY = WindowKind.HOUR.value, WindowKind.DAY.value


def _cells(p: TicketPoint, places: dict[str | None, str | None]) -> Iterable[Cell]:
    if p.address in places:
        place = places[p.address]
    else:
        place = places[p.address] = place_key(p.address)
    if place:
        yield (p.category, _PLACE, place)
    if p.district:
        yield (p.category, _DISTRICT, p.district)


def busy_categories(
    points: Iterable[TicketPoint], tz: zoneinfo.ZoneInfo, cfg: SurgeSettings
) -> set[str]:
    """The categories with at least ``min_count`` tickets in one cell on one day: only
    these can alert, so only their history needs reading."""
    seen: dict[tuple[Cell, date], int] = defaultdict(int)
    places: dict[str | None, str | None] = {}
    busy = set()
    for point in points:
        for cell in _cells(point, places):
            key = (cell, point.created_at.astimezone(tz).date())
            seen[key] += 1
            if seen[key] >= cfg.min_count:
                busy.add(point.category)
    return busy


def detect(
    points: Iterable[TicketPoint],
    now: datetime,
    tz: zoneinfo.ZoneInfo,
    cfg: SurgeSettings,
) -> list[SurgeFinding]:
    """The alerts standing at ``now`` for today and yesterday (local days), finest first.

    ``points`` should hold the tickets created since ``history_days + 1`` days before
    yesterday; later ones (after ``now``) are ignored.
    """
    today = now.astimezone(tz).date()
    days = (today - timedelta(days=1), today)
    places: dict[str | None, str | None] = {}
    # Pass 1, today and yesterday: which cells hold min_count tickets in some window.
    located = []
    members: dict[tuple[Cell, Slot], list[int]] = defaultdict(list)
    for point in points:
        if point.created_at > now:
            continue
        local = point.created_at.astimezone(tz)
        located.append((point, local))
        day = local.date()
        if day in days:
            for cell in _cells(point, places):
                members[(cell, (_DAY, day, -1))].append(point.id)
                members[(cell, (_HOUR, day, local.hour))].append(point.id)
    members = {k: ids for k, ids in members.items() if len(ids) >= cfg.min_count}
    # Pass 2: the history of those cells only (most cells of a busy city never qualify).
    wanted = {cell for cell, _ in members}
    counts: dict[Cell, dict[Slot, int]] = defaultdict(dict)
    for point, local in located:
        for cell in _cells(point, places):
            if cell in wanted:
                by_slot = counts[cell]
                for slot in ((_DAY, local.date(), -1), (_HOUR, local.date(), local.hour)):
                    by_slot[slot] = by_slot.get(slot, 0) + 1

    # Finest first: hours before days, places before districts (see the module's doc).
    order = {(_HOUR, _PLACE): 0, (_HOUR, _DISTRICT): 1, (_DAY, _PLACE): 2, (_DAY, _DISTRICT): 3}
    candidates = sorted(
        members,
        key=lambda k: (order[(k[1][0], k[0][1])], k[1][1], k[1][2], k[0]),
    )
    accepted: list[SurgeFinding] = []
    held: dict[str, set[int]] = defaultdict(set)  # category → tickets in accepted alerts
    for cell, slot in candidates:
        category = cell[0]
        kind, day, hour = slot
        remaining = [i for i in members[(cell, slot)] if i not in held[category]]
        history = [
            counts[cell].get((kind, day - timedelta(days=d), hour), 0)
            for d in range(1, cfg.history_days + 1)
        ]
        if kind == _HOUR:
            # A day holds 24 hours: a day's false alarms stay those of one day-test.
            threshold = cfg.p_value / 24
            # The same hour's history is thin: never below the day's mean spread evenly.
            daily = [counts[cell].get((_DAY, day - timedelta(days=d), -1), 0)
                     for d in range(1, cfg.history_days + 1)]  # fmt: skip
            floor = max(cfg.floor_per_hour, statistics.fmean(daily) / 24)
        else:
            threshold, floor = cfg.p_value, cfg.floor_per_day
        ok, expected, p, z = _passes(len(remaining), history, floor, threshold, cfg)
        if not ok:
            continue
        start = datetime.combine(day, time(max(hour, 0)), tz)
        accepted.append(
            SurgeFinding(
                category=category,
                area_kind=AreaKind(cell[1]),
                area=cell[2],
                window=WindowKind(kind),
                start=start,
                # Local wall-clock end: a day is a calendar day even across a DST change.
                end=datetime.combine(day + timedelta(days=1), time(0), tz)
                if kind == _DAY
                else start + timedelta(hours=1),
                count=len(remaining),
                expected=expected,
                p_value=p,
                robust_z=z,
                ticket_ids=tuple(sorted(remaining)),
            )
        )
        held[category].update(remaining)
    return accepted
