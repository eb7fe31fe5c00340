"""Settings of satisfaction callbacks (满意度回访, ``[callbacks]``): who is called, when, how often.

Call flow: when a ticket is marked replied (已答复), the app picks the first campaign whose
``categories`` match the ticket (``CallbackSettings.campaign_for``) and plans the first attempt
``delay_after_reply`` seconds later, moved into the next calling window by
``callbacks.calendar``. The dialer paces originates with ``max_channels`` / ``max_rate``
(``callbacks.pacing``) over ``trunk`` with ``caller_id``; each outcome plans the next attempt
after its ``retry`` spacing until ``max_attempts`` (``callbacks.policy``).

Calling windows are local wall-clock times in the node's time zone (passed in by the caller):
``start`` is inclusive and ``end`` exclusive. A window whose end is before its start runs across
midnight and belongs to the day it starts, so 20:00–01:00 on a Friday still dials at 00:30 on
Saturday even if Saturday is not a dialling day. Dialling days are the ISO weekdays in ``days``,
minus ``holidays`` (法定节假日), plus ``workdays`` (调休 make-up working days).

Pure data and validation: nothing here touches the clock, the network or the database.
"""

from __future__ import annotations

import re
from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DAY = 24 * 3600
# What we accept as a number before normalising (digits and the usual separators).
_NUMBER_CHARS = re.compile(r"^[0-9+()\-\s]+$")


def _seconds(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def normalise_number(number: str) -> str:
    """A phone number in the form we dial and compare: digits only, domestic (China) form.

    Spaces, dashes, parentheses and other non-digits go; a leading ``+86`` or ``0086`` goes too,
    and a landline left without its trunk prefix gets its ``0`` back (``+86 10 6552 9988`` →
    ``01065529988``, as dialled at home) so both spellings of one number compare equal. Mobile
    numbers (``1`` + 10 digits) stay as they are. Other international numbers keep ``00``.
    """
    text = number.strip()
    international = text.startswith("+")
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    if international:
        digits = "00" + digits
    if digits.startswith("0086"):
        national = digits[4:]
        if not national or re.fullmatch(r"1\d{10}", national) or national.startswith("0"):
            return national
        return "0" + national
    return digits


class Window(BaseModel):
    """A daily calling window in local time; ``end < start`` runs across midnight."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        # The zone comes from the node's settings; a per-window offset would fight DST.
        if value.tzinfo is not None:
            raise ValueError("window times are local wall-clock times: give no time zone")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError(
                f"window {self.start:%H:%M}–{self.end:%H:%M} is empty: start and end are equal"
            )
        return self

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def span(self) -> tuple[float, float]:
        """Seconds after the start of the window's own day: [start, end), end may pass 86400."""
        start, end = _seconds(self.start), _seconds(self.end)
        return (start, end + _DAY if end < start else end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class RetrySpacing(BaseModel):
    """Seconds to wait after an unsuccessful attempt, per outcome, before the next one."""

    model_config = ConfigDict(extra="forbid")

    busy: int = Field(default=600, ge=0)
    no_answer: int = Field(default=3600, ge=0)
    congestion: int = Field(default=300, ge=0)
    failed: int = Field(default=1800, ge=0)
    # The call was cut during the survey (citizen hung up, node restarted mid-call).
    interrupted: int = Field(default=1800, ge=0)


def _default_windows() -> list[Window]:
    return [
        Window(start=time(8, 30), end=time(12, 0)),
        Window(start=time(14, 0), end=time(20, 0)),
    ]


class CampaignConfig(BaseModel):
    """One callback campaign: which tickets, when to dial, how hard to try, over which trunk."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    # Ticket categories this campaign serves; empty serves every ticket.
    categories: list[str] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=_default_windows, min_length=1)
    # ISO weekdays, Monday = 1 … Sunday = 7.
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)
    delay_after_reply: int = Field(default=7200, ge=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry: RetrySpacing = Field(default_factory=RetrySpacing)
    max_channels: int = Field(default=4, ge=1)
    max_rate: float = Field(default=1.0, gt=0)
    do_not_call: list[str] = Field(default_factory=list)
    # A PJSIP endpoint name; it lands in a dial string, so no separators or dialplan syntax.
    trunk: str = Field(default="carrier", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    caller_id: str = Field(default="12345", pattern=r"^\+?[0-9]{1,32}$")
    ring_seconds: int = Field(default=30, ge=5, le=120)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        return named_categories(value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        wrong = [day for day in value if not 1 <= day <= 7]
        if wrong:
            raise ValueError(f"days are ISO weekdays 1 (Monday) to 7 (Sunday), got {wrong}")
        if len(set(value)) != len(value):
            raise ValueError(f"days has duplicates: {value}")
        return sorted(value)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[Window]) -> list[Window]:
        spans = [(window, *window.span()) for window in value]
        for i, (first, a_start, a_end) in enumerate(spans):
            for second, b_start, b_end in spans[i + 1 :]:
                # Shift by a day both ways: a window past midnight can reach the next morning's.
                for shift in (-_DAY, 0, _DAY):
                    if a_start < b_end + shift and b_start + shift < a_end:
                        raise ValueError(f"windows {first} and {second} overlap")
        return sorted(value, key=lambda window: window.span())

    @field_validator("do_not_call")
    @classmethod
    def _do_not_call(cls, value: list[str]) -> list[str]:
        for number in value:
            if not _NUMBER_CHARS.match(number) or not normalise_number(number):
                raise ValueError(f"do_not_call entry {number!r} is not a phone number")
        return value

    @model_validator(mode="after")
    def _calendar(self) -> CampaignConfig:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            raise ValueError(f"dates cannot be both holidays and workdays: {listed}")
        if not self.days and not self.workdays:
            raise ValueError("the campaign never dials: give days or workdays")
        return self

    def matches(self, category: str | None) -> bool:
        """Does this campaign serve a ticket of ``category`` (None = uncategorised)?"""
        if not self.categories:
            return True
        return category is not None and category in self.categories


class CallbackSettings(BaseModel):
    """The callback feature as a whole: on/off, scheduler tick, campaigns in priority order."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # How often the dialer looks for due attempts.
    tick_seconds: float = Field(default=1.0, gt=0)
    campaigns: list[CampaignConfig] = Field(
        default_factory=lambda: [CampaignConfig()], min_length=1
    )

    @field_validator("campaigns")
    @classmethod
    def _unique(cls, value: list[CampaignConfig]) -> list[CampaignConfig]:
        names = [campaign.name for campaign in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"campaign names must be unique, repeated: {', '.join(duplicates)}")
        return value

    def campaign_for(self, category: str | None) -> CampaignConfig | None:
        """The first campaign that serves ``category``, or None when none does."""
        return next((c for c in self.campaigns if c.matches(category)), None)


def named_categories(value: list[str]) -> list[str]:
    """A settings list of ticket categories: no blank names (shared by every section)."""
    if any(not item.strip() for item in value):
        raise ValueError("categories must not contain empty names")
    return value
