"""The duplicate suggester (并单) on a hand-written labelled set: precision, recall and F1 at
the configured threshold, beside two baselines measured in the same run on the same pairs:

- ``exact phone``: a pair is a duplicate when the caller numbers are the same (digits only)
  within the window — what the screen pop's "earlier tickets" amounts to;
- ``phone or address``: the same number, or the same category and the same address after
  normalising, within the window.

The set (bench/duplicates_set.py) was written by hand; bench/README.md says how. Each pair
is scored as the service does it: the later request against the earlier one as a candidate,
through ``DuplicateRules.suggest`` (window, threshold). ``--threshold`` overrides the
setting; ``--sweep`` prints the figures for thresholds 0.3–0.8 as well.

``--tickets N`` also times the service as the desk calls it: N tickets seeded into a
migrated SQLite file (a year, 20 categories, callers that call again, the set's texts), then
``DuplicateService.suggestions`` for ``--runs`` recent tickets, p50/p99, with jieba's word
cache cleared before each (every candidate segmented again: the worst case), beside its two
indexed candidate queries alone (the baseline: what scoring in Python adds).

    .venv/bin/python -m bench.duplicates
    .venv/bin/python -m bench.duplicates --sweep
    .venv/bin/python -m bench.duplicates --tickets 200000 --runs 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.duplicates.service import DuplicateService
from app.migrate import upgrade
from app.models import Ticket
from bench.duplicates_set import PAIRS, Pair, Said
from casework.duplicates import DuplicateRules, Request, normalise, phone_key, words
from core.db import create_engine, session_factory
from core.duplicates import DuplicateSettings

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Figures:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def requests(pair: Pair) -> tuple[Request, Request]:
    def one(ticket_id: int, said: Said, at: datetime) -> Request:
        return Request(
            id=ticket_id,
            created_at=at,
            caller=said.caller,
            category=said.category,
            district=said.district,
            address=said.address,
            text=said.text,
        )

    return one(1, pair.a, T0), one(2, pair.b, T0 + timedelta(days=pair.days_apart))


def measure(pairs: Sequence[Pair], predict: Callable[[Request, Request], bool]) -> Figures:
    tp = fp = fn = tn = 0
    for pair in pairs:
        earlier, later = requests(pair)
        said = predict(later, earlier)
        if said and pair.duplicate:
            tp += 1
        elif said:
            fp += 1
        elif pair.duplicate:
            fn += 1
        else:
            tn += 1
    return Figures(tp, fp, fn, tn)


def line(label: str, f: Figures) -> str:
    return (
        f"{label:<22} precision {f.precision:.3f}  recall {f.recall:.3f}  F1 {f.f1:.3f}  "
        f"(tp {f.tp} fp {f.fp} fn {f.fn} tn {f.tn})"
    )


# --- the service's latency on a seeded database ---------------------------------------------

STATES = ("registered", "dispatched", "accepted", "replied", "closed", "closed", "closed")


def seed(path: Path, tickets: int, now: datetime) -> list[int]:
    """``tickets`` rows over the year before ``now``; returns the recent registered ones."""
    rng = random.Random(12345)
    texts = [s.text for p in PAIRS for s in (p.a, p.b)]
    addresses = [s.address for p in PAIRS for s in (p.a, p.b) if s.address]
    categories = [f"类别{n:02d}" for n in range(20)]
    rows = []
    for n in range(1, tickets + 1):
        created = now - timedelta(days=365 * (1 - n / tickets), minutes=rng.randrange(60))
        rows.append(
            (
                n,
                STATES[rng.randrange(len(STATES))] if n < tickets * 0.97 else "registered",
                "web:web" if n % 3 else "phone:12345",
                f"138{rng.randrange(tickets // 3 + 1):08d}",
                categories[rng.randrange(len(categories))],
                # Two of the set's texts: mostly distinct, so the word cache rarely helps.
                f"{rng.choice(texts)}，{rng.choice(texts)}",
                rng.choice(addresses),
                created.isoformat(sep=" "),
                created.isoformat(sep=" "),
            )
        )
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=OFF")
        db.executemany(
            "INSERT INTO tickets (id, state, source, caller, category, description, address, "
            "created_at, updated_at, assisting, forced, supervised, extended_days, "
            "confidential, duplicates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', 0, 0, 0, 0, "
            "'[]')",
            rows,
        )
        db.execute("ANALYZE")
    return [r[0] for r in rows if r[1] == "registered" and r[0] > tickets * 0.97]


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms  p99 {p99 * 1000:.2f} ms"


async def latency(path: Path, ids: list[int], runs: int, settings: DuplicateSettings) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        sessions = session_factory(engine)
        service = DuplicateService(sessions, settings)
        chosen = ids[-runs:]
        await service.suggestions(chosen[0])  # jieba's dictionary, outside the timing
        whole, queries, found = [], [], 0
        for ticket_id in chosen:
            words.cache_clear()  # cold: every candidate's text segmented again
            started = time.perf_counter()
            found += len(await service.suggestions(ticket_id))
            whole.append(time.perf_counter() - started)
            started = time.perf_counter()
            async with sessions() as session:
                ticket = await session.get(Ticket, ticket_id)
                assert ticket is not None
                candidates = await service._candidates(session, ticket)
            queries.append(time.perf_counter() - started)
        print(f"suggestions, cold word cache      {timed(whole)}  ({found} suggested)")
        print(f"baseline: candidate queries alone {timed(queries)} ({len(candidates)} last)")
        ratio = statistics.median(whole) / statistics.median(queries)
        print(f"p50 ratio suggestions / queries: {ratio:.2f}")
    finally:
        await engine.dispose()


def _predictor(rules: DuplicateRules) -> Callable[[Request, Request], bool]:
    return lambda later, earlier: bool(rules.suggest(later, [earlier]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--tickets", type=int, default=0, help="seed this many and time")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = DuplicateSettings()
    if args.threshold is not None:
        settings = settings.model_copy(update={"threshold": args.threshold})
    rules = DuplicateRules(settings)

    ours = _predictor(rules)

    def phone(later: Request, earlier: Request) -> bool:
        key = phone_key(later.caller)
        return (
            key is not None
            and key == phone_key(earlier.caller)
            and rules.within_window(later, earlier)
        )

    def phone_or_address(later: Request, earlier: Request) -> bool:
        same_place = (
            later.category == earlier.category
            and bool(later.address)
            and normalise(later.address or "") == normalise(earlier.address or "")
        )
        return phone(later, earlier) or (same_place and rules.within_window(later, earlier))

    positives = sum(p.duplicate for p in PAIRS)
    print(
        f"labelled pairs: {len(PAIRS)} ({positives} duplicates, {len(PAIRS) - positives} not); "
        f"threshold {settings.threshold}, window {settings.window_days} days"
    )
    ours(*reversed(requests(PAIRS[0])))  # jieba's dictionary loads once, outside the timing
    started = time.perf_counter()
    mine = measure(PAIRS, ours)
    elapsed = time.perf_counter() - started
    base = measure(PAIRS, phone)
    second = measure(PAIRS, phone_or_address)
    print(line("suggester", mine))
    print(line("baseline exact phone", base))
    print(line("baseline phone|address", second))
    ratio = mine.f1 / base.f1 if base.f1 else float("inf")
    print(f"F1 ratio suggester / exact phone: {ratio:.2f}")
    print(f"scoring: {elapsed / len(PAIRS) * 1e6:.0f} µs per pair")
    if args.sweep:
        for step in range(30, 85, 5):
            swept = DuplicateRules(settings.model_copy(update={"threshold": step / 100}))
            figures = measure(PAIRS, _predictor(swept))
            print(line(f"threshold {step / 100:.2f}", figures))
    if args.tickets:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dups-"))
        path = workdir / "duplicates.db"
        path.unlink(missing_ok=True)
        upgrade(f"sqlite:///{path}")
        started = time.perf_counter()
        ids = seed(path, args.tickets, datetime.now(UTC))
        print(f"seeded {args.tickets} tickets in {time.perf_counter() - started:.1f} s (SQLite)")
        asyncio.run(latency(path, ids, args.runs, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
