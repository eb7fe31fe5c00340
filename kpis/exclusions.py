"""Excluded periods (剔除时段): spans in which calls do not count against 人工接通率, because the
platform failed (系统故障) or traffic went beyond what the seats could take (话务量超出座席能力).

The figure is always reported twice, with and without these spans, so nothing is hidden.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


class ExclusionReason(enum.StrEnum):
    OUTAGE = "outage"  # 系统故障 (platform, carrier, power)
    SURGE = "surge"  # 话务量超出座席能力 (a sudden event, a storm)
    OTHER = "other"  # anything else a supervisor names in the note


@dataclass(frozen=True, slots=True)
class Span:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("excluded periods are timezone-aware instants")
        if self.end <= self.start:
            raise ValueError(f"an excluded period must end after it starts ({self.start})")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def merged(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined, in time order (a call counts once)."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if out and span.start <= out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def clipped(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of ``spans`` inside ``[start, end)``, merged."""
    out = []
    for span in merged(spans):
        lo, hi = max(span.start, start), min(span.end, end)
        if lo < hi:
            out.append(Span(lo, hi))
    return out


def is_excluded(moment: datetime, spans: Iterable[Span]) -> bool:
    return any(span.contains(moment) for span in spans)
