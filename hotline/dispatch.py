"""``hotline dispatch load FILE``: departments and the dispatch catalogue into the database.

``hotline install`` copies ``dispatch.example.toml`` to ``<data_dir>/dispatch.toml`` unless a
catalogue is configured or present; the app loads that file at start while the database has no
departments. Afterwards the database is the truth (edited through the API); this command
upserts a file again — idempotent, each change logged as the CLI's.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from app.departments.service import DepartmentService, LoadResult
from app.migrate import upgrade
from casework import CatalogueError
from core.db import create_engine, session_factory
from core.settings import Settings
from hotline.errors import SetupError

EXAMPLE = Path(__file__).resolve().parent.parent / "dispatch.example.toml"


def ensure_catalogue(settings: Settings) -> bool:
    """Copy the example catalogue into place unless one exists. True if it was created."""
    path = settings.catalogue_file
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE, path)
    return True


async def _load(settings: Settings, path: Path) -> LoadResult:
    engine = create_engine(settings.db_url)
    try:
        return await DepartmentService(session_factory(engine)).load_file(path, actor="cli")
    finally:
        await engine.dispose()


def load_catalogue(settings: Settings, path: Path) -> str:
    if not path.exists():
        raise SetupError(f"no dispatch catalogue at {path}")
    upgrade(settings.db_url)
    try:
        done = asyncio.run(_load(settings, path))
    except CatalogueError as exc:
        raise SetupError(str(exc)) from exc
    return f"{path}: {done.departments} departments and {done.entries} catalogue entries changed"
