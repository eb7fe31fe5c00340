"""The case loop's rules (接诉即办): the ticket lifecycle, working days, deadlines, the grab
pool, the catalogue and surge detection (突增预警, ``surge.detect``).

Call flow: every state change of a ticket is checked by ``lifecycle.check_move``. A ticket to
dispatch (已派单) is proposed a department by ``Catalogue.resolve`` (主办,
协办) or published to the grab pool, whose ``GrabWindow`` says until when departments may
claim it before ``forced_assignment`` (指定派发, 督办); ``CaseClock`` gives every deadline —
sign-for (签收), reply (办理时限), reopen (重办), extension (延期), the 督办 reminder, the
``SlaStatus`` and the dispute window (派单异议) — and asks the one ``WorkingCalendar``
(chinesecalendar plus an override file, office hours) which days and hours count.

This package does no I/O and reads no clock: the app reads the override and catalogue files
and hands their text in, and passes every "now". It imports only the standard library,
chinesecalendar, pydantic and core.
"""

from casework.calendar import (
    LIBRARY_YEARS,
    SHANGHAI,
    WorkingCalendar,
    YearDays,
    parse_overrides,
)
from casework.catalogue import (
    Assignment,
    Catalogue,
    CatalogueEntry,
    Department,
    DepartmentKind,
    parse_catalogue,
)
from casework.deadlines import CaseClock, Deadline, DeadlineKind, DeadlinePolicy, SlaStatus
from casework.errors import (
    CalendarFileError,
    CalendarGapError,
    CaseworkError,
    CatalogueError,
    DisputeRefused,
    ExtensionRefused,
)
from casework.grab import ForcedAssignment, GrabWindow, forced_assignment
from casework.lifecycle import ALLOWED, InvalidTransition, TicketState, check_move
from casework.surge import AreaKind, SurgeFinding, TicketPoint, WindowKind, detect, place_key
from core.casework import (
    UTILITIES,
    CaseworkSettings,
    CategoryRule,
    DeadlineRule,
    OfficeSpan,
    Urgency,
)

__all__ = [
    "ALLOWED",
    "LIBRARY_YEARS",
    "SHANGHAI",
    "UTILITIES",
    "AreaKind",
    "Assignment",
    "CalendarFileError",
    "CalendarGapError",
    "CaseClock",
    "CaseworkError",
    "CaseworkSettings",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "CategoryRule",
    "Deadline",
    "DeadlineKind",
    "DeadlinePolicy",
    "DeadlineRule",
    "Department",
    "DepartmentKind",
    "DisputeRefused",
    "ExtensionRefused",
    "ForcedAssignment",
    "GrabWindow",
    "InvalidTransition",
    "OfficeSpan",
    "SlaStatus",
    "SurgeFinding",
    "TicketPoint",
    "TicketState",
    "Urgency",
    "WindowKind",
    "WorkingCalendar",
    "YearDays",
    "check_move",
    "detect",
    "forced_assignment",
    "parse_catalogue",
    "parse_overrides",
    "place_key",
]
