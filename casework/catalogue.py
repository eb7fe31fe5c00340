"""Departments and the dispatch catalogue (派单目录): who handles which category where.

Call flow: at start-up the app reads the catalogue file (``[casework] catalogue``, default
``<data_dir>/dispatch.toml``, created from ``dispatch.example.toml``) and hands its text to
``parse_catalogue``, which refuses a file with any fault and names every one. The dispatcher's
form proposes ``Catalogue.resolve(category, district)`` (主办 and 协办); the grab pool's forced
assignment (指定派发) uses the same lead; ticket lists use ``ancestors``/``descendants`` so a
district sees the tickets of its streets and communities.

File format (TOML)::

    [[departments]]
    code = "hedong"            # unique; letters, digits, '.', '_' and '-'
    name = "河东区人民政府"
    kind = "district"          # bureau 委办局 | district 区县 | street 街道 | town 乡镇
                               # | community 社区/村 | platform 二级处办平台 (water, power …)
    parent = "qingchuan"       # optional: the department above (a tree, no cycles)

    [[catalogue]]
    category = "噪音"
    district = "hedong"        # optional: this entry only for tickets in that district
    lead = "hedong.cgj"        # 主办
    assist = ["hedong.gaj"]    # 协办, optional
    note = "社会生活噪音"       # optional

The most specific entry wins: category and district over category alone. An unknown category
resolves to None: the dispatcher decides.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casework.errors import CatalogueError
from core.tomlfile import validation_summary

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class DepartmentKind(enum.StrEnum):
    BUREAU = "bureau"  # 委办局 (city or district level)
    DISTRICT = "district"  # 区/县
    STREET = "street"  # 街道
    TOWN = "town"  # 乡/镇
    COMMUNITY = "community"  # 社区/村
    PLATFORM = "platform"  # 二级处办平台: water, power, gas, heating, property companies


@dataclass(frozen=True, slots=True)
class Department:
    code: str
    name: str
    kind: DepartmentKind
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    category: str
    lead: str
    assists: tuple[str, ...] = ()
    district: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a ticket goes: the lead (主办) and assisting (协办) departments, and the entry."""

    lead: Department
    assists: tuple[Department, ...]
    entry: CatalogueEntry


class _RawDepartment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=64)
    kind: DepartmentKind
    parent: str | None = None


class _RawEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64)
    district: str | None = None
    # Optional here so that an entry without one gets our message, not "Field required".
    lead: str | None = None
    assist: list[str] = Field(default_factory=list)
    note: str = ""


class _RawFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    departments: list[_RawDepartment] = Field(default_factory=list)
    catalogue: list[_RawEntry] = Field(default_factory=list)


class Catalogue:
    """The department tree and the dispatch catalogue, validated; build with ``parse_catalogue``."""

    def __init__(
        self, departments: Mapping[str, Department], entries: tuple[CatalogueEntry, ...]
    ) -> None:
        self.departments = dict(departments)
        self.entries = entries
        self._index = {(entry.category, entry.district): entry for entry in entries}
        self._children: dict[str, list[str]] = {}
        for dept in self.departments.values():
            if dept.parent is not None:
                self._children.setdefault(dept.parent, []).append(dept.code)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(entry.category for entry in self.entries)

    def department(self, code: str) -> Department:
        try:
            return self.departments[code]
        except KeyError:
            raise KeyError(f"no department {code!r} in the dispatch catalogue") from None

    def ancestors(self, code: str) -> tuple[Department, ...]:
        """The departments above ``code``, nearest first."""
        found: list[Department] = []
        parent = self.department(code).parent
        while parent is not None:
            found.append(self.departments[parent])
            parent = self.departments[parent].parent
        return tuple(found)

    def descendants(self, code: str) -> tuple[Department, ...]:
        """Every department below ``code``, breadth first."""
        self.department(code)
        found: list[Department] = []
        queue = list(self._children.get(code, ()))
        while queue:
            child = queue.pop(0)
            found.append(self.departments[child])
            queue.extend(self._children.get(child, ()))
        return tuple(found)

    def can_see(self, viewer: str, owner: str) -> bool:
        """May ``viewer`` see tickets held by ``owner``? Its own and those below it."""
        return viewer == owner or any(d.code == viewer for d in self.ancestors(owner))

    def district_of(self, code: str) -> str | None:
        """The district ``code`` lies in (itself if it is one), or None."""
        for dept in (self.department(code), *self.ancestors(code)):
            if dept.kind is DepartmentKind.DISTRICT:
                return dept.code
        return None

    def resolve(self, category: str, place: str | None = None) -> Assignment | None:
        """The catalogue's proposal for ``category`` in ``place`` (a district, or a street or
        community in one); None when the catalogue does not know the category."""
        district = self.district_of(place) if place is not None else None
        entry = self._index.get((category, district)) if district is not None else None
        entry = entry or self._index.get((category, None))
        if entry is None:
            return None
        return Assignment(
            self.departments[entry.lead],
            tuple(self.departments[code] for code in entry.assists),
            entry,
        )


def _cycles(departments: Mapping[str, _RawDepartment]) -> list[list[str]]:
    """Every cycle in the parent links, each once, in parent order."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for code in departments:
        path: list[str] = []
        current: str | None = code
        while current is not None and current in departments and current not in done:
            if current in path:
                cycles.append(path[path.index(current) :])
                break
            path.append(current)
            current = departments[current].parent
        done.update(path)
    return cycles


def _check(raw: _RawFile) -> list[str]:
    problems: list[str] = []
    departments: dict[str, _RawDepartment] = {}
    for dept in raw.departments:
        if dept.code in departments:
            problems.append(f"department code {dept.code!r} is used twice")
        departments[dept.code] = dept
    for dept in raw.departments:
        if dept.parent is not None and dept.parent not in departments:
            problems.append(f"department {dept.code!r} has an unknown parent {dept.parent!r}")
    for cycle in _cycles(departments):
        problems.append("departments form a cycle: " + " → ".join([*cycle, cycle[0]]))
    seen: set[tuple[str, str | None]] = set()
    for number, entry in enumerate(raw.catalogue, start=1):
        where = f"catalogue entry {number} ({entry.category}"
        where += f" in {entry.district})" if entry.district else ")"
        key = (entry.category, entry.district)
        if key in seen:
            problems.append(f"{where} repeats an earlier entry for the same category and place")
        seen.add(key)
        if not entry.lead:
            problems.append(f'{where} names no lead department (主办): give lead = "<code>"')
        for role, code in [("lead", entry.lead), *(("assist", c) for c in entry.assist)]:
            if code and code not in departments:
                problems.append(f"{where} names an unknown {role} department {code!r}")
        if entry.lead in entry.assist:
            problems.append(f"{where} names {entry.lead!r} as both lead and assist")
        if len(set(entry.assist)) != len(entry.assist):
            problems.append(f"{where} lists an assisting department twice")
        if entry.district is not None:
            district = departments.get(entry.district)
            if district is None:
                problems.append(f"{where} names an unknown district {entry.district!r}")
            elif district.kind is not DepartmentKind.DISTRICT:
                problems.append(
                    f"{where}: {entry.district!r} is a {district.kind.value}, not a district"
                )
    return problems


def parse_catalogue(text: str, source: str = "dispatch catalogue") -> Catalogue:
    """The catalogue in a file's ``text``; ``CatalogueError`` lists every fault of it."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        raw = _RawFile(**data)
    except ValidationError as exc:
        raise CatalogueError(source, validation_summary(exc).split("; ")) from exc
    problems = _check(raw)
    if problems:
        raise CatalogueError(source, problems)
    departments = {d.code: Department(d.code, d.name, d.kind, d.parent) for d in raw.departments}
    entries = tuple(
        CatalogueEntry(e.category, e.lead or "", tuple(e.assist), e.district, e.note)
        for e in raw.catalogue
    )
    return Catalogue(departments, entries)
