"""Shared by the casework tests: a moment on the Shanghai wall clock."""

from __future__ import annotations

from datetime import datetime

from casework import SHANGHAI


def sh(*fields: int) -> datetime:
    """(year, month, day[, hour[, minute]]) in Asia/Shanghai."""
    year, month, day, *clock = fields
    hour, minute = (*clock, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
