"""A KPI's figure: numerator and denominator kept side by side, the value only when there is
something to divide by (never a division by zero, never 100 % of nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator``: a share (calls answered of calls offered) or an average
    (seconds waited over calls answered). ``value`` is None when the denominator is 0."""

    numerator: float
    denominator: float  # a count, or seconds (occupancy)

    def __post_init__(self) -> None:
        if self.denominator < 0 or self.numerator < 0:
            raise ValueError(f"a rate of {self.numerator}/{self.denominator} is not a count")

    @property
    def value(self) -> float | None:
        if self.denominator == 0:
            return None
        return self.numerator / self.denominator

    @property
    def exact(self) -> Fraction | None:
        """The value as a fraction (tests compare these exactly)."""
        if self.denominator == 0:
            return None
        return Fraction(self.numerator).limit_denominator(1000) / Fraction(
            self.denominator
        ).limit_denominator(1000)

    def rounded(self, digits: int = 4) -> float | None:
        value = self.value
        return None if value is None else round(value, digits)

    def __add__(self, other: Rate) -> Rate:
        """Rates of the same KPI add up part by part (a department and its children)."""
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator)

    @classmethod
    def zero(cls) -> Rate:
        return cls(0, 0)

    def meets(self, target: float | None, *, higher_is_better: bool = True) -> bool | None:
        """Whether the value reaches ``target``; None when there is no value or target."""
        value = self.value
        if value is None or target is None:
            return None
        return value >= target if higher_is_better else value <= target
