"""One surge-detector pass (``casework.surge.detect``) at a city's size, beside a baseline
measured in the same run: the plain grouping of the same tickets by category × place × day
(``collections.Counter`` over ``place_key``), the least any per-place detector must do.

Not a test: it prints figures. The default city takes ``--per-day`` 2,700 tickets over
``--days`` 365 (a year), in 40 categories with a Zipf skew, four districts and a few thousand
places (addresses and crossings), office-hours rhythm. Two passes are timed: over the
``history_days + 2`` days the service reads (``app.surges``), and over the whole year (what
the detector costs if handed everything). Each is ``--reps`` times, median printed.

    .venv/bin/python -m bench.surges
    .venv/bin/python -m bench.surges --per-day 300 --days 60 --reps 3   # a quick look
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from casework.surge import TicketPoint, detect, place_key
from core.surges import SurgeSettings

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
END = date(2026, 11, 30)


def city(per_day: int, days: int, seed: int = 12345) -> list[TicketPoint]:
    rng = random.Random(seed)
    categories = [f"类别{i:02d}" for i in range(40)]
    weights = [1 / (i + 1) for i in range(len(categories))]
    districts = ["hedong", "hexi", "nancheng", "beixian"]
    roads = [f"路{i}" for i in range(60)]
    hours = [h for h in range(24) for _ in range(4 if 8 <= h < 22 else 1)]
    points: list[TicketPoint] = []
    n = 0
    for back in range(days):
        day = END - timedelta(days=back)
        for _ in range(per_day):
            n += 1
            if rng.random() < 0.2:
                a, b = rng.sample(roads, 2)
                address = f"{a}与{b}交叉口"
            else:
                address = f"{rng.choice(districts)}小区{rng.randint(1, 800)}号楼"
            moment = datetime(day.year, day.month, day.day, rng.choice(hours), tzinfo=SH)
            points.append(
                TicketPoint(
                    n,
                    rng.choices(categories, weights)[0],
                    (moment + timedelta(seconds=rng.randint(0, 3599))).astimezone(UTC),
                    rng.choice(districts),
                    address,
                )
            )
    return points


def baseline(points: Sequence[TicketPoint]) -> int:
    counts: Counter[tuple[str, str | None, date]] = Counter(
        (p.category, place_key(p.address), p.created_at.astimezone(SH).date()) for p in points
    )
    return len(counts)


@dataclass
class Figure:
    name: str
    tickets: int
    detector_ms: float
    baseline_ms: float
    alerts: int

    @property
    def ratio(self) -> float:
        return self.detector_ms / self.baseline_ms if self.baseline_ms else float("nan")


def _median_ms(job: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        job()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(per_day: int, days: int, reps: int) -> list[Figure]:
    cfg = SurgeSettings()
    points = city(per_day, days)
    now = datetime(END.year, END.month, END.day, 20, tzinfo=SH)
    since = (now - timedelta(days=cfg.history_days + 2)).astimezone(UTC)
    window = [p for p in points if p.created_at >= since]
    figures = []
    for name, chosen in (
        ("the service's window", window),
        ("every ticket given (a year by default)", points),
    ):
        alerts = len(detect(chosen, now, SH, cfg))
        figures.append(
            Figure(
                name,
                len(chosen),
                _median_ms(lambda c=chosen: detect(c, now, SH, cfg), reps),  # type: ignore[misc]
                _median_ms(lambda c=chosen: baseline(c), reps),  # type: ignore[misc]
                alerts,
            )
        )
    return figures


def report(figures: Sequence[Figure]) -> str:
    lines = ["surge detector pass vs plain grouping (category × place × day), median ms"]
    for f in figures:
        lines.append(
            f"  {f.name}: {f.tickets} tickets — detect {f.detector_ms:.0f} ms, "
            f"grouping {f.baseline_ms:.0f} ms, ratio {f.ratio:.2f}; alerts {f.alerts}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--per-day", type=int, default=2700)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(report(run(args.per_day, args.days, args.reps)))


if __name__ == "__main__":
    main()
