"""Departments (承办单位) and the dispatch catalogue (派单目录), kept in the database.

Call flow: at start-up (and ``hotline dispatch load FILE``) the dispatch file is read, checked
by ``casework.parse_catalogue`` and upserted here — every change logged in
``catalogue_changes`` (who, when, before/after). Afterwards the database is the truth: admins
edit catalogue entries and the department tree (create, rename, move, deactivate) through the
API, every change logged the same way. The case loop asks :meth:`catalogue` (a
``casework.Catalogue`` built from the rows, cached until the next change) for suggestions,
forced assignment and a department's scope (itself and the departments below it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CatalogueChange, CatalogueEntry, Department, GrabOffer, Ticket
from casework import Catalogue, DepartmentKind, parse_catalogue
from casework import CatalogueEntry as RuleEntry
from casework import Department as RuleDepartment
from casework.lifecycle import TicketState
from core.events import utcnow

log = logging.getLogger(__name__)


class CatalogueProblem(ValueError):
    """A catalogue edit that names no or an unknown department (the message says which)."""


class EntryNotFound(LookupError):
    pass


class DepartmentNotFound(LookupError):
    pass


class DepartmentConflict(ValueError):
    """A department edit that clashes with what exists: a code in use, or a department to
    deactivate that still has open tickets, catalogue entries or active departments below."""


@dataclass(frozen=True, slots=True)
class DepartmentPatch:
    """Rename (``name``), move (``move`` with the new ``parent``, None: to the top) or
    (de)activate a department; unset fields stay as they are."""

    name: str | None = None
    move: bool = False
    parent: str | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class EntryIn:
    category: str
    district: str | None
    lead: str | None
    assisting: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class LoadResult:
    departments: int  # rows created or changed
    entries: int


def _dept_row(row: Department) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "kind": row.kind, "parent": row.parent}


def _dept_state(row: Department) -> dict[str, Any]:
    return {**_dept_row(row), "active": row.active}


def _json_member(column: Any, code: str) -> Any:
    """``code`` is an element of the JSON list ``column`` (text match, on every database)."""
    escaped = code.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return cast(column, String).like(f'%"{escaped}"%', escape="\\")


def entry_row(row: CatalogueEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "category": row.category,
        "district": row.district,
        "lead": row.lead,
        "assisting": list(row.assisting),
        "note": row.note,
    }


class DepartmentService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cached: Catalogue | None = None
        self._inactive: frozenset[str] = frozenset()

    # --- the catalogue the case loop reads ------------------------------------------------

    async def catalogue(self) -> Catalogue:
        """Departments and entries as a ``casework.Catalogue`` (cached until a change)."""
        if self._cached is None:
            async with self._sessions() as session:
                depts = (await session.scalars(select(Department))).all()
                entries = (await session.scalars(select(CatalogueEntry))).all()
            self._inactive = frozenset(d.code for d in depts if not d.active)
            self._cached = Catalogue(
                {
                    d.code: RuleDepartment(d.code, d.name, DepartmentKind(d.kind), d.parent)
                    for d in depts
                },
                tuple(
                    RuleEntry(e.category, e.lead, tuple(e.assisting), e.district, e.note)
                    for e in entries
                ),
            )
        return self._cached

    async def scope(self, code: str | None) -> frozenset[str]:
        """``code`` and every department below it; empty for an unknown or missing code."""
        tree = await self.catalogue()
        if code is None or code not in tree.departments:
            return frozenset()
        return frozenset({code, *(d.code for d in tree.descendants(code))})

    async def exists(self, code: str) -> bool:
        return code in (await self.catalogue()).departments

    async def check_district(self, code: str, what: str) -> None:
        """Refuse a code that is not a district (区县) of the department tree."""
        tree = await self.catalogue()
        found = tree.departments.get(code)
        if found is None or found.kind is not DepartmentKind.DISTRICT or code in self._inactive:
            known = sorted(
                d.code
                for d in tree.departments.values()
                if d.kind is DepartmentKind.DISTRICT and d.code not in self._inactive
            )
            raise CatalogueProblem(
                f"{what} names {code!r}, which is not a district of the department tree "
                f"(districts: {', '.join(known) or 'none'})"
            )

    async def check_codes(self, codes: Sequence[str], what: str) -> None:
        known = (await self.catalogue()).departments
        for code in codes:
            if code not in known:
                raise CatalogueProblem(f"{what} names an unknown department {code!r}")
            if code in self._inactive:
                raise CatalogueProblem(f"{what} names the deactivated department {code!r}")

    # --- loading the dispatch file ------------------------------------------------------------

    async def is_empty(self) -> bool:
        async with self._sessions() as session:
            return not await session.scalar(select(func.count()).select_from(Department))

    async def load_if_empty(self, path: Path) -> LoadResult | None:
        """At start: the dispatch file into an empty database; later the database rules."""
        if not await self.is_empty():
            return None
        text = await asyncio.to_thread(_read, path)
        if text is None:
            log.warning(
                "no dispatch catalogue at %s and none in the database: dispatch by hand "
                "until one is loaded (hotline dispatch load FILE)",
                path,
            )
            return None
        return await self.load_text(text, str(path), actor="system:install")

    async def load_file(self, path: Path, *, actor: str) -> LoadResult:
        text = await asyncio.to_thread(_read, path)
        if text is None:
            raise FileNotFoundError(f"no dispatch catalogue at {path}")
        return await self.load_text(text, str(path), actor=actor)

    async def load_text(self, text: str, source: str, *, actor: str) -> LoadResult:
        """Upsert the file's departments and entries (idempotent; each change logged).
        Nothing is deleted: rows only in the database stay. ``CatalogueError`` if invalid."""
        parsed = parse_catalogue(text, source)
        depts = entries = 0
        async with self._sessions.begin() as session:
            existing = {d.code: d for d in (await session.scalars(select(Department))).all()}
            # Parents first, so the foreign key holds at every insert.
            for dept in _parents_first(parsed):
                after = {
                    "code": dept.code,
                    "name": dept.name,
                    "kind": dept.kind.value,
                    "parent": dept.parent,
                }
                row = existing.get(dept.code)
                before = _dept_row(row) if row is not None else None
                if before == after:
                    continue
                if row is None:
                    session.add(Department(**after))
                else:
                    row.name, row.kind, row.parent = dept.name, dept.kind.value, dept.parent
                self._log(session, actor, "department.load", before, after)
                await session.flush()
                depts += 1
            rows = (await session.scalars(select(CatalogueEntry))).all()
            by_key = {(r.category, r.district): r for r in rows}
            for entry in parsed.entries:
                wanted = EntryIn(
                    entry.category, entry.district, entry.lead, entry.assists, entry.note
                )
                if await self._upsert(
                    session,
                    by_key.get((entry.category, entry.district)),
                    wanted,
                    actor,
                    "entry.load",
                ):
                    entries += 1
        self._cached = None
        log.info(
            "dispatch catalogue %s: %d departments, %d entries changed", source, depts, entries
        )
        return LoadResult(depts, entries)

    async def _upsert(
        self,
        session: AsyncSession,
        row: CatalogueEntry | None,
        entry: EntryIn,
        actor: str,
        action: str,
    ) -> CatalogueEntry | None:
        """Write ``entry`` over ``row`` (or a new row); None when nothing changed."""
        before = entry_row(row) if row is not None else None
        if row is None:
            row = CatalogueEntry(category=entry.category, district=entry.district)
            session.add(row)
        row.lead = entry.lead or ""
        row.assisting = list(entry.assisting)
        row.note = entry.note
        await session.flush()
        after = entry_row(row)
        if before == after:
            return None
        self._log(session, actor, action, before, after)
        return row

    def _log(
        self,
        session: AsyncSession,
        actor: str,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        session.add(
            CatalogueChange(
                actor=actor, at=self._clock(), action=action, before=before, after=after
            )
        )

    # --- reading -------------------------------------------------------------------------------

    async def departments(self) -> list[dict[str, Any]]:
        tree = await self.catalogue()
        children: dict[str, int] = {}
        for dept in tree.departments.values():
            if dept.parent is not None:
                children[dept.parent] = children.get(dept.parent, 0) + 1
        return [
            {
                "code": d.code,
                "name": d.name,
                "kind": d.kind.value,
                "parent": d.parent,
                "active": d.code not in self._inactive,
                "children_count": children.get(d.code, 0),
            }
            for d in sorted(tree.departments.values(), key=lambda d: d.code)
        ]

    async def entries(self) -> list[CatalogueEntry]:
        async with self._sessions() as session:
            stmt = select(CatalogueEntry).order_by(CatalogueEntry.category, CatalogueEntry.id)
            return list((await session.scalars(stmt)).all())

    async def categories(self) -> list[str]:
        return sorted((await self.catalogue()).categories)

    async def suggest(self, category: str | None, district: str | None) -> dict[str, Any]:
        """The catalogue's 主办/协办 for a category (in a district, or a place inside one)."""
        tree = await self.catalogue()
        place = district if district in tree.departments else None
        found = tree.resolve(category, place) if category else None
        if found is None:
            return {"lead": None, "assisting": []}
        return {"lead": found.lead.code, "assisting": [d.code for d in found.assists]}

    async def changes(self, limit: int = 200) -> list[CatalogueChange]:
        async with self._sessions() as session:
            stmt = select(CatalogueChange).order_by(CatalogueChange.id.desc()).limit(limit)
            return list((await session.scalars(stmt)).all())

    # --- editing (admin) ------------------------------------------------------------------------

    async def put_entry(self, entry: EntryIn, *, actor: str) -> CatalogueEntry:
        """Create or replace the entry for (category, district)."""
        if not entry.lead:
            raise CatalogueProblem(
                f"the catalogue entry for {entry.category!r} names no lead department (主办)"
            )
        await self.check_codes([entry.lead, *entry.assisting], "the catalogue entry")
        if entry.lead in entry.assisting:
            raise CatalogueProblem(f"{entry.lead!r} cannot be both lead and assisting")
        if entry.district is not None:
            await self.check_district(entry.district, "the catalogue entry")
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(CatalogueEntry).where(
                    CatalogueEntry.category == entry.category,
                    CatalogueEntry.district.is_(None)
                    if entry.district is None
                    else CatalogueEntry.district == entry.district,
                )
            )
            written = await self._upsert(session, row, entry, actor, "entry.put")
            result = written or row
        self._cached = None
        assert result is not None
        return result

    async def delete_entry(self, entry_id: int, *, actor: str) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(CatalogueEntry, entry_id)
            if row is None:
                raise EntryNotFound(f"catalogue entry {entry_id} does not exist")
            self._log(session, actor, "entry.delete", entry_row(row), None)
            await session.delete(row)
        self._cached = None

    # --- the department tree (admin) -------------------------------------------------------------

    async def create_department(
        self, code: str, name: str, kind: DepartmentKind, parent: str | None, *, actor: str
    ) -> None:
        async with self._sessions.begin() as session:
            tree = await _locked_tree(session)
            if code in tree:
                raise DepartmentConflict(
                    f"department {code!r} already exists ({tree[code].name}): rename or move "
                    "it with PATCH /api/departments/{code}"
                )
            _check_parent(tree, code, parent)
            row = Department(code=code, name=name, kind=kind.value, parent=parent, active=True)
            session.add(row)
            self._log(session, actor, "department.create", None, _dept_state(row))
        self._cached = None

    async def update_department(self, code: str, patch: DepartmentPatch, *, actor: str) -> None:
        async with self._sessions.begin() as session:
            tree = await _locked_tree(session)
            row = tree.get(code)
            if row is None:
                raise DepartmentNotFound(f"department {code!r} does not exist")
            before = _dept_state(row)
            if patch.move and patch.parent != row.parent:
                _check_parent(tree, code, patch.parent)
                row.parent = patch.parent
            if patch.name is not None:
                row.name = patch.name
            if patch.active is False and row.active:
                await _check_unused(session, tree, code)
            if patch.active and not row.active:
                _check_parent(tree, code, row.parent)  # not under a deactivated parent
            if patch.active is not None:
                row.active = patch.active
            after = _dept_state(row)
            if before != after:
                action = "department.update"
                if before["active"] != after["active"]:
                    action = "department.activate" if row.active else "department.deactivate"
                self._log(session, actor, action, before, after)
        self._cached = None


async def _locked_tree(session: AsyncSession) -> dict[str, Department]:
    """Every department, locked for the transaction (tree edits are rare and run one at a
    time, so a concurrent move cannot slip a cycle past the check)."""
    rows = (await session.scalars(select(Department).with_for_update())).all()
    return {row.code: row for row in rows}


def _check_parent(tree: dict[str, Department], code: str, parent: str | None) -> None:
    """Refuse an unknown or deactivated parent, and a parent at or below ``code`` (a cycle)."""
    if parent is None:
        return
    found = tree.get(parent)
    if found is None:
        raise CatalogueProblem(f"department {code!r}: unknown parent department {parent!r}")
    if not found.active:
        raise CatalogueProblem(f"department {code!r}: the parent {parent!r} is deactivated")
    chain = [code]
    above: str | None = parent
    while above is not None:
        chain.append(above)
        if above == code:
            raise CatalogueProblem(
                f"department {code!r} cannot move under {parent!r}: the departments would "
                "form a cycle: " + " → ".join(chain)
            )
        above = tree[above].parent


async def _check_unused(session: AsyncSession, tree: dict[str, Department], code: str) -> None:
    """Refuse to deactivate a department that still has work or a place in the catalogue."""
    problems: list[str] = []
    children = sorted(c.code for c in tree.values() if c.parent == code and c.active)
    if children:
        problems.append(
            f"active departments below it ({', '.join(children)}): move or deactivate them first"
        )
    entries = (
        await session.scalars(
            select(CatalogueEntry)
            .where(
                or_(
                    CatalogueEntry.lead == code,
                    CatalogueEntry.district == code,
                    _json_member(CatalogueEntry.assisting, code),
                )
            )
            .order_by(CatalogueEntry.category, CatalogueEntry.id)
        )
    ).all()
    if entries:
        names = ", ".join(
            f"{e.category} in {e.district}" if e.district else e.category for e in entries
        )
        problems.append(
            f"{len(entries)} catalogue entries name it ({names}): change or delete them first "
            "(PUT/DELETE /api/catalogue)"
        )
    open_states = Ticket.state.notin_((TicketState.CLOSED, TicketState.MERGED))
    offered = select(GrabOffer.ticket_id).where(GrabOffer.department == code)
    tickets = (
        await session.scalars(
            select(Ticket.id)
            .where(
                open_states,
                or_(
                    Ticket.department == code,
                    _json_member(Ticket.assisting, code),
                    Ticket.district == code,
                    and_(Ticket.department.is_(None), Ticket.id.in_(offered)),
                ),
            )
            .order_by(Ticket.id)
            .limit(6)
        )
    ).all()
    if tickets:
        shown = ", ".join(f"#{t}" for t in tickets[:5]) + (" …" if len(tickets) > 5 else "")
        problems.append(f"open tickets still with it ({shown}): re-dispatch or close them first")
    if problems:
        raise DepartmentConflict(
            f"department {code!r} cannot be deactivated: " + "; ".join(problems)
        )


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def _parents_first(catalogue: Catalogue) -> list[RuleDepartment]:
    done: set[str] = set()
    ordered: list[RuleDepartment] = []

    def visit(dept: RuleDepartment) -> None:
        if dept.code in done:
            return
        if dept.parent is not None:
            visit(catalogue.departments[dept.parent])
        done.add(dept.code)
        ordered.append(dept)

    for dept in catalogue.departments.values():
        visit(dept)
    return ordered
