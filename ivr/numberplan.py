"""The number plan: which service numbers the hotline answers and what each one does.

Read by the FastAGI inbound route per call (route_for: notice, stop, queue, sub-centre), by
``hotline`` to render Asterisk's dialplan, endpoints and prompts, and by the app's
per-number statistics. The file is TOML; ``numberplan.example.toml`` in the repo is complete.

Kinds (DESIGN §1, 国办发〔2020〕53号):
- main: 12345.
- retired: cancelled departmental numbers; for a window (3 months by default) the caller hears
  a dated notice and reaches the 12345 queue with the old line's category; after it, a stop
  notice and hang-up; before it, the old line still works as before (queue, its category).
- specialised: keeps its number, own greeting, own skill queue served by the shared agents
  (skilled agents first, everyone after ``overflow_seconds``).
- subcentre: 12366 with its own seats, reached directly and by transfer from 12345 agents.
- emergency: 110/119/120/122, SIP peers we transfer to; some hand calls over to us (110).
"""

from __future__ import annotations

import calendar
import enum
import logging
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.tomlfile import read_toml, validation_summary

log = logging.getLogger(__name__)

Number = Annotated[str, Field(pattern=r"^[0-9]{3,11}$")]
# Queue names: the dialplan matches them with _[a-z]. (two characters at least).
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")]

DIGITS = "零一二三四五六七八九"


def spoken_digits(number: str) -> str:
    """'12369' → '一二三六九': phone numbers are read digit by digit."""
    return "".join(DIGITS[int(d)] for d in number)


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (Nov 30 + 3 → Feb 28/29)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class PlanError(ValueError):
    """The number plan file is missing or invalid; the message names the entry and field."""


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    number: Number
    name: str = Field(min_length=1, max_length=40)
    category: str | None = Field(default=None, max_length=64)


class MainLine(_Line):
    number: Number = "12345"
    name: str = "政务服务便民热线"


class RetiredLine(_Line):
    category: str = Field(min_length=1, max_length=64)
    window_start: date
    window_end: date | None = None  # default: window_start + 3 months
    notice: str | None = None  # default text below, with the cancellation date
    stopped_notice: str | None = None

    @model_validator(mode="after")
    def _window(self) -> RetiredLine:
        if self.window_end is not None and self.window_end < self.window_start:
            raise ValueError(f"{self.number}: window_end is before window_start")
        return self

    @property
    def last_day(self) -> date:
        """The last day of the window (inclusive): by default three calendar months."""
        return self.window_end or add_months(self.window_start, 3) - timedelta(days=1)

    @property
    def notice_text(self) -> str:
        end = self.last_day
        return self.notice or (
            f"{spoken_digits(self.number)}{self.name}已并入一二三四五热线，"
            f"本号码{end.year}年{end.month}月{end.day}日后停用，正在为您转接。"
        )

    @property
    def stopped_text(self) -> str:
        return self.stopped_notice or (
            f"您拨打的{self.name}号码已停用，请拨打一二三四五政务服务便民热线，谢谢。"
        )


class SpecialisedLine(_Line):
    queue: Name
    greeting: str | None = None
    skilled_agents: tuple[str, ...] = Field(min_length=1)
    overflow_seconds: int = Field(default=30, ge=0, le=600)

    @property
    def greeting_text(self) -> str:
        return self.greeting or (
            f"您好，欢迎致电{spoken_digits(self.number)}{self.name}，正在为您转接，请稍候。"
        )


class Peer(_Line):
    """A SIP peer on another system: the 12366 sub-centre or an emergency centre."""

    host: str
    port: int = Field(default=5060, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        import ipaddress

        ipaddress.ip_address(value)  # identified by source address: a literal IP
        return value

    @property
    def endpoint(self) -> str:
        return f"peer-{self.number}"


class Subcentre(Peer):
    greeting: str | None = None


class EmergencyCentre(Peer):
    # 110 hands non-police matters to 12345: such calls queue ahead of ordinary callers.
    hands_over: bool = False
    handover_priority: int = Field(default=10, ge=1, le=100)


class NumberPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    main: MainLine = Field(default_factory=MainLine)
    retired: tuple[RetiredLine, ...] = ()
    specialised: tuple[SpecialisedLine, ...] = ()
    subcentre: Subcentre | None = None
    emergency: tuple[EmergencyCentre, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> NumberPlan:
        numbers = [line.number for line in self.all_lines()]
        dupes = sorted({n for n in numbers if numbers.count(n) > 1})
        if dupes:
            raise ValueError(f"numbers appear more than once: {', '.join(dupes)}")
        queues = [s.queue for s in self.specialised]
        if len(set(queues)) != len(queues):
            raise ValueError("each specialised line needs its own queue name")
        hosts = [p.host for p in self.peers()]
        if len(set(hosts)) != len(hosts):
            raise ValueError("each sub-centre / emergency peer needs its own address")
        return self

    def all_lines(self) -> Iterator[_Line]:
        yield self.main
        yield from self.retired
        yield from self.specialised
        if self.subcentre:
            yield self.subcentre
        yield from self.emergency

    def peers(self) -> Iterator[Peer]:
        if self.subcentre:
            yield self.subcentre
        yield from self.emergency

    def inbound_numbers(self) -> list[str]:
        """Numbers the carrier delivers to us (emergency numbers are not ours)."""
        nums = [self.main.number, *(r.number for r in self.retired)]
        nums += [s.number for s in self.specialised]
        if self.subcentre:
            nums.append(self.subcentre.number)
        return nums

    def transfer_targets(self) -> list[Peer]:
        return list(self.peers())

    def find(self, number: str) -> _Line | None:
        return next((line for line in self.all_lines() if line.number == number), None)

    def prompts(self) -> dict[str, str]:
        """Prompt name → Mandarin text, for every prompt this plan plays."""
        out: dict[str, str] = {}
        for r in self.retired:
            out[f"notice-{r.number}"] = r.notice_text
            out[f"stopped-{r.number}"] = r.stopped_text
        for s in self.specialised:
            out[f"greeting-{s.number}"] = s.greeting_text
        return out


def load_number_plan(path: Path) -> NumberPlan:
    data = read_toml(path, "number plan", PlanError)
    try:
        return NumberPlan(**data)
    except ValidationError as exc:
        raise PlanError(f"invalid number plan {path}: {validation_summary(exc)}") from exc


# --- per-call routing ---------------------------------------------------------------------


class Phase(enum.StrEnum):
    BEFORE = "before"  # the old line still runs as before
    INSIDE = "inside"  # transition notice, then 12345
    AFTER = "after"  # cancelled: stop notice and hang up


def retired_phase(line: RetiredLine, now: datetime, tz: zoneinfo.ZoneInfo) -> Phase:
    """Where ``now`` falls in the line's window, by the calendar date in the hotline's zone.

    The window is whole days: from 00:00 of window_start to 24:00 of the last day, local time.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(tz).date()
    if today < line.window_start:
        return Phase.BEFORE
    if today > line.last_day:
        return Phase.AFTER
    return Phase.INSIDE


RouteKind = Literal["main", "notice", "stopped", "legacy", "specialised", "subcentre", "unknown"]


@dataclass(frozen=True, slots=True)
class Route:
    """What the dialplan does with this call after FastAGI (channel variables)."""

    kind: RouteKind
    queue: str | None  # None: the main queue
    prompt: str | None  # prompt file name in the prompts folder; None: the 12345 greeting
    category: str | None
    line_name: str


def route_for(plan: NumberPlan, dialled: str, now: datetime, tz: zoneinfo.ZoneInfo) -> Route:
    line = plan.find(dialled)
    if isinstance(line, RetiredLine):
        phase = retired_phase(line, now, tz)
        if phase is Phase.AFTER:
            return Route("stopped", None, f"stopped-{line.number}", line.category, line.name)
        if phase is Phase.INSIDE:
            return Route("notice", None, f"notice-{line.number}", line.category, line.name)
        return Route("legacy", None, None, line.category, line.name)
    if isinstance(line, SpecialisedLine):
        return Route("specialised", line.queue, f"greeting-{line.number}", line.category, line.name)
    if isinstance(line, Subcentre):
        return Route("subcentre", None, None, line.category, line.name)
    if line is plan.main:
        return Route("main", None, None, line.category, line.name)
    return Route("unknown", None, None, None, dialled)


class PlanFile:
    """The plan as the running app sees it: re-read when the file changes (``hotline reload``
    edits need no restart); a broken edit keeps the last good plan and is logged."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._plan = load_number_plan(path)  # start-up fails fast on a bad plan
        self._stamp = self._current_stamp()

    def _current_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def __call__(self) -> NumberPlan:
        stamp = self._current_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._plan = load_number_plan(self._path)
                log.info("number plan %s reloaded", self._path)
            except PlanError as exc:
                log.error("keeping the previous number plan: %s", exc)
        return self._plan
