"""Routes of departments and the dispatch catalogue: read (any signed-in role), suggest,
edit (admin) with the change log (admin, supervisor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.service import Role
from app.departments.service import CatalogueProblem, EntryIn, EntryNotFound, entry_row
from app.edge import ADMINS, CurrentUser, RowId, RuntimeDep, allow, authenticated

router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])

Code = Field(min_length=1, max_length=64)


class DepartmentOut(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    children_count: int


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
    try:
        return entry_row(await rt.departments.put_entry(entry, actor=who.actor))
    except CatalogueProblem as exc:
        raise HTTPException(422, str(exc)) from exc


@router.delete("/catalogue/{entry_id}", status_code=204, dependencies=[ADMINS])
async def delete_entry(entry_id: RowId, rt: RuntimeDep, who: CurrentUser) -> None:
    try:
        await rt.departments.delete_entry(entry_id, actor=who.actor)
    except EntryNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
