"""The errors of the case loop's rules: one root class, each message names the problem and the fix.

The app turns them into a refusal at start-up (a calendar or catalogue that cannot be used)
or into a 4xx answer in the API (a dispute after its window, an extension on an overdue ticket).
"""

from __future__ import annotations


class CaseworkError(Exception):
    """Root of every error raised by ``casework``."""


class CalendarGapError(CaseworkError):
    """A date falls in a year that neither chinesecalendar nor the override file covers."""

    def __init__(self, year: int, message: str) -> None:
        super().__init__(message)
        self.year = year


class CalendarFileError(CaseworkError):
    """The calendar override file is not valid TOML or breaks the documented format."""


class CatalogueError(CaseworkError):
    """The dispatch catalogue is invalid; ``problems`` lists every fault found, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"invalid dispatch catalogue {source}:\n- " + "\n- ".join(problems))
        self.problems = problems


class ExtensionRefused(CaseworkError):
    """An extension (延期申请) that may not be granted: overdue, too long, or not a reply."""


class DisputeRefused(CaseworkError):
    """A dispute (派单异议) that may not be filed: after its window, or without a reason."""
