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

    .venv/bin/python -m bench.duplicates
    .venv/bin/python -m bench.duplicates --sweep
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.duplicates_set import PAIRS, Pair, Said
from casework.duplicates import DuplicateRules, Request, normalise, phone_key
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


def _predictor(rules: DuplicateRules) -> Callable[[Request, Request], bool]:
    return lambda later, earlier: bool(rules.suggest(later, [earlier]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--sweep", action="store_true")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
