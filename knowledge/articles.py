"""An article's validity window (有效期): it is offered from ``valid_from`` until just before
``valid_to`` (open-ended without one). Times are aware; the caller passes the clock's now."""

from __future__ import annotations

from datetime import datetime


class ArticleWindowError(ValueError):
    """A window that ends before it starts."""


def check_window(valid_from: datetime, valid_to: datetime | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise ArticleWindowError(
            f"valid_to ({valid_to.isoformat()}) must be after valid_from ({valid_from.isoformat()})"
        )


def is_current(valid_from: datetime, valid_to: datetime | None, at: datetime) -> bool:
    """Whether the article may be offered at ``at``."""
    return valid_from <= at and (valid_to is None or at < valid_to)
