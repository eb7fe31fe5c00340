"""Routes of departments and the dispatch catalogue: read (any signed-in role), suggest,
edit the catalogue and the department tree (admin) with the change log (admin, supervisor)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.service import Role
from app.departments.service import (
    CatalogueProblem,
    DepartmentConflict,
    DepartmentNotFound,
    DepartmentPatch,
    EntryIn,
    EntryNotFound,
    entry_row,
)
from app.edge import ADMINS, CurrentUser, RowId, RuntimeDep, allow, authenticated
from app.runtime import Runtime
from casework import DepartmentKind
from casework.catalogue import CODE_PATTERN

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])

Code = Field(min_length=1, max_length=64)


class DepartmentOut(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    active: bool = True
    children_count: int


DeptCode = Annotated[str, Field(pattern=CODE_PATTERN, max_length=64)]
DeptName = Annotated[str, Field(min_length=1, max_length=64)]


class DepartmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: DeptCode
    name: DeptName
    kind: DepartmentKind
    parent: DeptCode | None = None


class DepartmentPatchBody(BaseModel):
    """Only the fields sent change; ``"parent": null`` moves the department to the top."""

    model_config = ConfigDict(extra="forbid")
    name: DeptName | None = None
    parent: DeptCode | None = None
    active: bool | None = None


class EntryOut(BaseModel):
    id: int
    category: str
    district: str | None
    lead: str
    assisting: list[str]
    note: str = ""


class EntryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=64)
    district: str | None = Field(default=None, min_length=1, max_length=64)
    lead: str | None = Field(default=None, max_length=64)
    assisting: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=200)


class SuggestionOut(BaseModel):
    lead: str | None
    assisting: list[str]


class CategoryOut(BaseModel):
    category: str


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    actor: str
    at: datetime
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/departments", response_model=list[DepartmentOut])
async def departments(rt: RuntimeDep) -> Any:
    return await rt.departments.departments()


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except CatalogueProblem as exc:
        raise HTTPException(422, str(exc)) from exc
    except DepartmentConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (DepartmentNotFound, EntryNotFound) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


async def _department(rt: Runtime, code: str) -> dict[str, Any]:
    return next(d for d in await rt.departments.departments() if d["code"] == code)


@router.post("/departments", response_model=DepartmentOut, status_code=201, dependencies=[ADMINS])
async def create_department(body: DepartmentBody, rt: RuntimeDep, who: CurrentUser) -> Any:
    """A new department (409 when the code exists; 422 for an unknown or deactivated parent)."""
    with _refusals():
        await rt.departments.create_department(
            body.code, body.name, body.kind, body.parent, actor=who.actor
        )
    return await _department(rt, body.code)


@router.patch("/departments/{code}", response_model=DepartmentOut, dependencies=[ADMINS])
async def update_department(
    code: Annotated[str, Path(pattern=CODE_PATTERN, max_length=64)],
    body: DepartmentPatchBody,
    rt: RuntimeDep,
    who: CurrentUser,
) -> Any:
    """Rename, move (422 for a cycle or an unknown parent) or (de)activate; deactivating is
    refused (409) while the department has open tickets, catalogue entries or active
    departments below it, and the answer names them."""
    patch = DepartmentPatch(
        name=body.name,
        move="parent" in body.model_fields_set,
        parent=body.parent,
        active=body.active,
    )
    with _refusals():
        await rt.departments.update_department(code, patch, actor=who.actor)
    return await _department(rt, code)


@router.get("/catalogue", response_model=list[EntryOut])
async def catalogue(rt: RuntimeDep) -> Any:
    return [entry_row(e) for e in await rt.departments.entries()]


@router.get("/catalogue/categories", response_model=list[CategoryOut])
async def categories(rt: RuntimeDep) -> Any:
    return [{"category": c} for c in await rt.departments.categories()]


@router.get("/catalogue/suggest", response_model=SuggestionOut)
async def suggest(
    rt: RuntimeDep,
    category: str = Query(min_length=1, max_length=64),
    district: str | None = Query(default=None, max_length=64),
) -> Any:
    return await rt.departments.suggest(category, district)


@router.get(
    "/catalogue/changes", response_model=list[ChangeOut], dependencies=[allow(Role.SUPERVISOR)]
)
async def changes(rt: RuntimeDep, limit: int = Query(default=200, ge=1, le=1000)) -> Any:
    return await rt.departments.changes(limit)


@router.put("/catalogue", response_model=EntryOut, dependencies=[ADMINS])
async def put_entry(body: EntryBody, rt: RuntimeDep, who: CurrentUser) -> Any:
    entry = EntryIn(body.category, body.district, body.lead, tuple(body.assisting), body.note)
    with _refusals():
        return entry_row(await rt.departments.put_entry(entry, actor=who.actor))


@router.delete("/catalogue/{entry_id}", status_code=204, dependencies=[ADMINS])
async def delete_entry(entry_id: RowId, rt: RuntimeDep, who: CurrentUser) -> None:
    with _refusals():
        await rt.departments.delete_entry(entry_id, actor=who.actor)
