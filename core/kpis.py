"""Settings of the KPIs (考核指标, ``[kpis]``): the choices where cities' formulas differ.

Read by ``app.kpis`` for every report; the formulas themselves are documented in ``kpis``
and the README. Pure data and validation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Survey answers (callbacks.policy.Rating): 1 满意, 2 基本满意, 3 不满意.
Answer = Literal[1, 2, 3]


def _satisfied_and_basic() -> list[Answer]:
    return [1, 2]


class KpiSettings(BaseModel):
    """The ``[kpis]`` section."""

    model_config = ConfigDict(extra="forbid")

    # 15秒接通率: answered within this many seconds (GB/T 33358-2016: 15 s).
    service_level_seconds: int = Field(default=15, ge=1, le=600)
    # Its denominator: "answered" (人工应答及时率, the local standard's form: answered within
    # 15 s ÷ answered) or "offered" (within 15 s ÷ offered, as the wallboard shows today).
    service_level_denominator: Literal["answered", "offered"] = "answered"
    # 满意率: which service ratings (一次一评) count as satisfied (满意 + 基本满意).
    satisfied_answers: list[Answer] = Field(default_factory=_satisfied_and_basic, min_length=1)
    # 解决率: which outcome ratings (一事一评) count as resolved.
    resolved_answers: list[Answer] = Field(default_factory=_satisfied_and_basic, min_length=1)
    # Repeat callers: the same number again on the same matter within this many days.
    repeat_window_days: int = Field(default=7, ge=1, le=90)
    # "The same matter": the same category, or any earlier ticket from the number.
    same_matter: Literal["category", "any"] = "category"
    # Targets shown beside the figures (GB/T 33358: 接通率 ≥ 95 %; a local 及时率 ≥ 80 %).
    answer_rate_target: float = Field(default=0.95, gt=0, le=1)
    service_level_target: float = Field(default=0.8, gt=0, le=1)

    @field_validator("satisfied_answers", "resolved_answers")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("list each answer once")
        if 3 in value:
            raise ValueError("不满意 (3) cannot count as satisfied or resolved")
        return sorted(value)
