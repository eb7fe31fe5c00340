"""The HTTP edge every feature's routes share: who is calling (bearer token → principal), the
role guards, the runtime, common path types, and the public health route.

Each feature folder (``app/calls``, ``app/cases`` …) keeps its routes in its ``http.py`` and
uses these; ``app.main`` includes every router (the one place that wires them).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field

from app.auth.service import Principal, Role
from app.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def authenticated(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who is calling: a desk session's token, or the node's API token (service, admin)."""
    found = await runtime(request).users.resolve(creds.credentials if creds else None)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


CurrentUser = Annotated[Principal, Depends(authenticated)]


def allow(*roles: Role) -> Any:
    """A route dependency: only these roles (admin always) may call it."""
    permitted = {*roles, Role.ADMIN}

    def check(who: CurrentUser) -> Principal:
        if who.role not in permitted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the {who.role.value} role may not do this"
            )
        return who

    return Depends(check)


STAFF = allow(Role.AGENT, Role.SUPERVISOR)
# Department users read only their own departments' tickets (app.cases.loop checks that).
READERS = allow(Role.AGENT, Role.SUPERVISOR, Role.DISPATCHER, Role.DEPARTMENT)
SUPERVISORS = allow(Role.SUPERVISOR)
DISPATCHERS = allow(Role.DISPATCHER, Role.SUPERVISOR)
DEPARTMENTS = allow(Role.DEPARTMENT, Role.SUPERVISOR)


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def route_of(request: Request) -> str:
    """The request as the 保密件 view log names it: ``GET /api/tickets/7``."""
    return f"{request.method} {request.url.path}"


RouteDep = Annotated[str, Depends(route_of)]
# Row ids are SQL INTEGER (32-bit on PostgreSQL): a larger number is a 422, not a 500.
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
ADMINS = allow()
AgentId = Annotated[str, Field(pattern=r"^[0-9]{3,6}$")]

public = APIRouter()


@public.get("/api/health")
async def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness for monitoring; says whether Asterisk's AMI and our FastAGI are up."""
    return await rt.health()


@public.get("/api/openapi.json", include_in_schema=False)
async def openapi_schema(request: Request, who: CurrentUser) -> dict[str, Any]:
    """The OpenAPI description, for clients and schemathesis (token required)."""
    return request.app.openapi()  # type: ignore[no-any-return]
