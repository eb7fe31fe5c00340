"""Users, roles and sign-in: who may call which route.

Sits at the HTTP edge of the app: ``app.edge`` resolves every request's bearer token to a
:class:`Principal` here, then checks its role. A person signs in with username and password
(argon2id hashes, argon2-cffi) and gets a random session token; only its SHA-256 is stored, so
a leaked database does not sign anyone in. The node's ``api.token`` stays valid as the service
credential (ops tooling, tests): it acts as an admin.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cases.service import as_utc
from app.models import Agent, Department, User, UserSession
from core.events import utcnow

MIN_PASSWORD_LENGTH = 10
SERVICE_USER = "service"


class Role(enum.StrEnum):
    AGENT = "agent"  # 话务员: own state, own calls, tickets it takes
    SUPERVISOR = "supervisor"  # 班长: wallboard, every agent, reports, 督办, extensions
    DISPATCHER = "dispatcher"  # 转办岗/派单员: dispatches registered tickets, reviews disputes
    DEPARTMENT = "department"  # 承办单位: its department's tickets and those below it
    ADMIN = "admin"  # users, everything


class AuthError(ValueError):
    """Sign-in refused, or a user cannot be created as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user, or the service credential (the API token)."""

    username: str
    role: Role
    agent_id: str | None = None
    user_id: int | None = None
    department: str | None = None  # a department user's department code

    @property
    def actor(self) -> str:
        """As audit rows name it: ``agent:1001``, ``supervisor:wang``."""
        if self.role is Role.AGENT and self.agent_id:
            return f"agent:{self.agent_id}"
        return f"{self.role.value}:{self.username}"

    def may_act_for(self, agent_id: str) -> bool:
        """An agent acts for itself; supervisors and admins for every agent."""
        if self.role in (Role.SUPERVISOR, Role.ADMIN):
            return True
        return self.role is Role.AGENT and self.agent_id == agent_id


SERVICE = Principal(username=SERVICE_USER, role=Role.ADMIN)

# Sized for a sign-in per shift, not per request: verifying costs ~50 ms of one core.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class UserService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        service_token: str,
        session_hours: float = 12.0,
    ) -> None:
        self._sessions = sessions
        self._service_token = service_token.encode()
        self._ttl = timedelta(hours=session_hours)
        # A username that does not exist still costs one verification: no timing oracle.
        self._dummy = _hasher.hash(secrets.token_urlsafe(16))

    async def create_user(
        self,
        username: str,
        password: str,
        role: Role,
        *,
        agent_id: str | None = None,
        display_name: str = "",
        department: str | None = None,
    ) -> User:
        if role is Role.AGENT and not agent_id:
            raise AuthError("an agent user needs its extension (agent_id)")
        if role is not Role.AGENT and agent_id:
            raise AuthError("only agent users have an extension")
        if role is Role.DEPARTMENT and not department:
            raise AuthError("a department user needs its department (department code)")
        if role is not Role.DEPARTMENT and department:
            raise AuthError("only department users are bound to a department")
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=hash_password(password),
            role=role.value,
            agent_id=agent_id,
            department_code=department,
            active=True,
        )
        try:
            async with self._sessions.begin() as session:
                if department and await session.get(Department, department) is None:
                    raise AuthError(
                        f"no department {department!r}: load the dispatch catalogue first "
                        "(hotline dispatch load FILE) or pick a code from GET /api/departments"
                    )
                if agent_id and await session.get(Agent, agent_id) is None:
                    session.add(Agent(id=agent_id, name=display_name or username))
                session.add(user)
        except IntegrityError as exc:
            raise AuthError(
                f"user {username!r} or extension {agent_id!r} is already taken"
            ) from exc
        return user

    async def list_users(self) -> list[User]:
        async with self._sessions() as session:
            return list((await session.scalars(select(User).order_by(User.id))).all())

    async def set_password(self, username: str, password: str) -> None:
        digest = hash_password(password)
        async with self._sessions.begin() as session:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                raise AuthError(f"no user {username!r}")
            user.password_hash = digest
            # A new password signs every open session out.
            await session.execute(delete(UserSession).where(UserSession.user_id == user.id))

    async def login(self, username: str, password: str) -> tuple[str, Principal, datetime]:
        """Check the password; return a new session token, who it is, and when it expires."""
        async with self._sessions.begin() as session:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                verify_password(self._dummy, password)
                raise AuthError("wrong username or password")
            if not verify_password(user.password_hash, password) or not user.active:
                raise AuthError("wrong username or password")
            token = secrets.token_urlsafe(32)
            expires = utcnow() + self._ttl
            session.add(UserSession(token_hash=_digest(token), user_id=user.id, expires_at=expires))
            return token, _principal(user), expires

    async def logout(self, token: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(UserSession).where(UserSession.token_hash == _digest(token))
            )

    async def resolve(self, token: str | None) -> Principal | None:
        """The principal a bearer token stands for, or None (unknown, expired, inactive)."""
        if not token:
            return None
        if hmac.compare_digest(token.encode(), self._service_token):
            return SERVICE
        async with self._sessions() as session:
            row = await session.execute(
                select(UserSession, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.token_hash == _digest(token))
            )
            found = row.first()
        if found is None:
            return None
        sess, user = found
        if as_utc(sess.expires_at) <= utcnow() or not user.active:
            return None
        return _principal(user)


def _principal(user: User) -> Principal:
    return Principal(
        username=user.username,
        role=Role(user.role),
        agent_id=user.agent_id,
        user_id=user.id,
        department=user.department_code,
    )
