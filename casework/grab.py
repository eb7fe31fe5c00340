"""The grab pool (抢单): how long a published ticket may be claimed, and who gets it after.

Call flow: the dispatcher publishes a ticket to the pool (已派单, no department yet); the app
stores ``GrabWindow.end(published_at)``. Departments claim with ``is_claimable`` (the first
claim wins: the app's ticket service decides that race in one transaction). When the window
ends unclaimed, the scheduler force-assigns the ticket (指定派发) to ``forced_assignment``'s
lead department, marked 督办 and counted against that department (seed 000, 济宁).

The window counts working hours by default: a ticket published at 16:30 on the last day
before 国庆 stays claimable for the rest of that afternoon and the first hours after the
holiday, so the window never ends while the offices are shut and nobody is punished for a
holiday. ``clock = "clock"`` counts plain hours, for pools staffed around the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from casework.calendar import WorkingCalendar
from casework.catalogue import Catalogue, Department
from core.casework import CaseworkSettings, HourClock


@dataclass(frozen=True, slots=True)
class ForcedAssignment:
    """指定派发: the ticket goes to ``lead`` as a supervised (督办) ticket that counts against
    the lead department in the assessment; ``assists`` are the catalogue's 协办."""

    lead: Department
    assists: tuple[Department, ...]
    supervised: bool = True
    counts_against: bool = True


class GrabWindow:
    """When the grab pool closes for a ticket."""

    def __init__(self, calendar: WorkingCalendar, hours: float = 3.0, clock: HourClock = "working"):
        if hours <= 0:
            raise ValueError(f"the grab window must be longer than 0 hours, not {hours}")
        self.calendar = calendar
        self.hours = hours
        self.clock = clock

    @classmethod
    def from_settings(cls, calendar: WorkingCalendar, cfg: CaseworkSettings) -> GrabWindow:
        return cls(calendar, cfg.grab_window_hours, cfg.grab_clock)

    def end(self, published_at: datetime) -> datetime:
        """The moment the window closes (claims at that very instant still count)."""
        if self.clock == "working":
            return self.calendar.add_working_hours(published_at, self.hours)
        return self.calendar.local(published_at) + timedelta(hours=self.hours)

    def is_claimable(self, published_at: datetime, now: datetime) -> bool:
        return now <= self.end(published_at)

    def must_force_assign(self, published_at: datetime, now: datetime) -> bool:
        """Has the window ended, so the scheduler must force-assign the unclaimed ticket?"""
        return not self.is_claimable(published_at, now)


def forced_assignment(
    catalogue: Catalogue, category: str, place: str | None = None
) -> ForcedAssignment | None:
    """The catalogue's lead department for the ticket; None when the catalogue does not know
    the category (a supervisor must pick the department)."""
    assignment = catalogue.resolve(category, place)
    if assignment is None:
        return None
    return ForcedAssignment(assignment.lead, assignment.assists)
