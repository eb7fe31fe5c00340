"""The three time expressions the KPI queries need that SQL does not spell the same way on
SQLite and PostgreSQL: seconds between two instants, and the later or earlier of two.

Period bounds are never computed in SQL (they come in as UTC parameters); only durations
between stored instants are. SQLite keeps SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC
text, which ``julianday`` reads and which compares in time order as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[float]):
    """Seconds from the first instant to the second, to the millisecond."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


class later(FunctionElement[datetime]):
    type = DateTime(timezone=True)
    inherit_cache = True
    name = "later"


class earlier(FunctionElement[datetime]):
    type = DateTime(timezone=True)
    inherit_cache = True
    name = "earlier"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(c, **kw) for c in element.clauses]


@compiles(seconds_between)
def _seconds_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = _args(element, compiler, **kw)
    return f"ROUND(CAST(EXTRACT(EPOCH FROM ({b}) - ({a})) AS NUMERIC), 3)"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = _args(element, compiler, **kw)
    return f"ROUND((julianday({b}) - julianday({a})) * 86400.0, 3)"


@compiles(later)
def _later_pg(element: later, compiler: SQLCompiler, **kw: Any) -> str:
    return "GREATEST({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(later, "sqlite")
def _later_sqlite(element: later, compiler: SQLCompiler, **kw: Any) -> str:
    return "max({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(earlier)
def _earlier_pg(element: earlier, compiler: SQLCompiler, **kw: Any) -> str:
    return "LEAST({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(earlier, "sqlite")
def _earlier_sqlite(element: earlier, compiler: SQLCompiler, **kw: Any) -> str:
    return "min({})".format(", ".join(_args(element, compiler, **kw)))


def instant(moment: datetime) -> ColumnElement[datetime]:
    """A UTC instant as a typed parameter (stored form on SQLite, timestamptz on PostgreSQL)."""
    return literal(moment, DateTime(timezone=True))
