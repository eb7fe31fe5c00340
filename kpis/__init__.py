"""KPIs (考核指标) of the hotline: report periods, the formula registry, rates and excluded
periods.

Call flow: ``app.kpis`` turns a request into a :class:`Period` (and its previous one), asks the
database for the sums each formula in :data:`KPIS` needs, and returns them as :class:`Rate`
objects — numerator, denominator, and a value only when there is something to divide by.
人工接通率 is reported with and without the excluded periods (:mod:`kpis.exclusions`).

Pure: no I/O, no clock; imports only the standard library.
"""

from kpis.exclusions import ExclusionReason, Span, clipped, is_excluded, merged
from kpis.periods import (
    MAX_CUSTOM_DAYS,
    SHANGHAI,
    Period,
    PeriodError,
    PeriodKind,
    custom,
    local_today,
    period_of,
)
from kpis.rates import Rate
from kpis.registry import BY_CODE, KPIS, Dimension, Kpi, Unit, kpi

__all__ = [
    "BY_CODE",
    "KPIS",
    "MAX_CUSTOM_DAYS",
    "SHANGHAI",
    "Dimension",
    "ExclusionReason",
    "Kpi",
    "Period",
    "PeriodError",
    "PeriodKind",
    "Rate",
    "Span",
    "Unit",
    "clipped",
    "custom",
    "is_excluded",
    "kpi",
    "local_today",
    "merged",
    "period_of",
]
