"""Routes of signing in and of desk users: login (public), logout, me, the user list (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from app.auth.service import AuthError, Principal, Role
from app.edge import (
    ADMINS,
    AgentId,
    CurrentUser,
    RuntimeDep,
    authenticated,
)

sign_in = APIRouter(prefix="/api")
router = APIRouter(prefix="/api", dependencies=[Depends(authenticated)])


_bearer = HTTPBearer(auto_error=False)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    username: str
    role: Role
    agent_id: str | None
    display_name: str = ""
    # A department user's department (its portal shows that one and those below it).
    department: str | None = Field(
        default=None, validation_alias=AliasChoices("department", "department_code")
    )


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserOut


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{2,64}$")
    password: str = Field(min_length=10, max_length=256)
    role: Role
    agent_id: AgentId | None = None
    display_name: str = Field(default="", max_length=64)
    department: str | None = Field(default=None, min_length=1, max_length=64)


@sign_in.post("/login", response_model=LoginOut)
async def login(body: LoginIn, rt: RuntimeDep) -> Any:
    """Sign in with username and password; the token goes in ``Authorization: Bearer``."""
    try:
        token, who, expires = await rt.users.login(body.username, body.password)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    return LoginOut(
        token=token,
        expires_at=expires,
        user=_user_out(who),
    )


@router.post("/logout", status_code=204)
async def logout(
    rt: RuntimeDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """End this session (the token stops working)."""
    if creds is not None:
        await rt.users.logout(creds.credentials)


@router.get("/me", response_model=UserOut)
async def me(who: CurrentUser) -> Any:
    return _user_out(who)


def _user_out(who: Principal) -> UserOut:
    return UserOut(
        username=who.username, role=who.role, agent_id=who.agent_id, department=who.department
    )


@router.get("/users", response_model=list[UserOut], dependencies=[ADMINS])
async def list_users(rt: RuntimeDep) -> Any:
    return await rt.users.list_users()


@router.post("/users", response_model=UserOut, status_code=201, dependencies=[ADMINS])
async def create_user(body: UserIn, rt: RuntimeDep) -> Any:
    if body.agent_id and body.agent_id not in rt.settings.agents:
        raise HTTPException(422, f"agent {body.agent_id} is not configured on this node")
    try:
        return await rt.users.create_user(
            body.username,
            body.password,
            body.role,
            agent_id=body.agent_id,
            display_name=body.display_name,
            department=body.department,
        )
    except AuthError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
