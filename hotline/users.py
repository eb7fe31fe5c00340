"""``hotline user add|passwd|list``: desk users, made by the operator (no default account).

A password is generated and printed once unless one is given on stdin; only its argon2 hash
is stored (app.auth.service). The database is migrated first, so this works right after install.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.auth.service import AuthError, Role, UserService, generate_password
from app.departments.service import DepartmentService
from app.migrate import upgrade
from core.db import create_engine, session_factory
from core.settings import Settings
from hotline.errors import SetupError


def _password(from_stdin: bool) -> tuple[str, bool]:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return generate_password(), True


async def _run(settings: Settings, args: argparse.Namespace) -> str:
    engine = create_engine(settings.db_url)
    users = UserService(session_factory(engine), settings.api.token.get_secret_value())
    try:
        if args.action == "list":
            return "\n".join(
                f"{u.username}\t{u.role}\t{u.agent_id or u.department_code or '-'}"
                f"\t{u.display_name}"
                for u in await users.list_users()
            )
        password, generated = _password(args.password_stdin)
        if args.action == "add":
            if args.agent and args.agent not in settings.agents:
                raise SetupError(f"agent {args.agent} is not in this node's agents list")
            department = getattr(args, "department", None)
            if department:
                # Right after install the app has not loaded the catalogue yet: do it here.
                departments = DepartmentService(session_factory(engine))
                await departments.load_if_empty(settings.catalogue_file)
            await users.create_user(
                args.username,
                password,
                Role(args.role),
                agent_id=args.agent,
                display_name=args.name,
                department=department,
            )
            done = f"user {args.username} ({args.role}) created"
        else:
            await users.set_password(args.username, password)
            done = f"password of {args.username} changed; its sessions are signed out"
        return f"{done}\npassword: {password}" if generated else done
    except AuthError as exc:
        raise SetupError(str(exc)) from exc
    finally:
        await engine.dispose()


def run_user_command(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.db_url)
    print(asyncio.run(_run(settings, args)))
    return 0
